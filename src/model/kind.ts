// The one interface every object kind implements. The planner, the fake kernel and observation
// ask a kind these questions instead of testing `o.kind`, so a new kind is one module that
// answers them plus its line in src/model/registry.ts.
import type { Lab } from '../lab/types.js';
import type { LinkObj, Obj, State } from './objects.js';
import type { NsQuery } from './query.js';
import type { Operation } from './operations.js';
import type { RuleChange } from './nft.js';

/** What a kind's operations may need beyond the object itself. */
export interface KindContext {
  /** The state the object belongs to (desired when creating, live when removing): ranks and phases come from it. */
  state: State;
  /** Objects made or removed by the same operations (a veth's other end). */
  partner?: Obj;
  /** Sysctl values recorded before the lab first set them, by object id. */
  sysctlOriginals?: Record<string, string>;
  /** Planning back to a checkpoint (rollback): an `exec` is recorded as done, never run again. */
  restore?: boolean;
}

/** What the planner knows of the objects that are not the lab's (see PlanOptions in src/plan/plan.ts). */
export interface ForeignNames {
  foreignLinks?: Set<string>;
  foreignNetns?: Set<string>;
}

export type Comparison = 'equal' | 'changes' | 'replace';

export interface Kind<O extends Obj = Obj> {
  kind: O['kind'];
  /** Human name of an object, as shown in plans and errors. */
  describe(o: O): string;
  /** The objects of this kind a lab asks for. */
  desired(lab: Lab): O[];
  /** The content that must match for live to equal desired (default: the whole object). */
  comparable?(o: O): unknown;
  /** `replace` when the difference cannot be changed in place (default: `changes` when modify exists). */
  compare?(live: O, desired: O): Comparison;
  /** Adds to the query of its namespace what reading the object back needs. */
  query?(o: O, q: NsQuery): void;
  create(o: O, ctx: KindContext): Operation[];
  /** Changes in place; a kind without it is replaced on any difference. */
  modify?(live: O, desired: O, ctx: KindContext): Operation[];
  remove(o: O, ctx: KindContext): Operation[];
  /** What the object is right after `create` when it still needs a modify (links: down, no master). */
  afterCreate?(o: O): O;
  /** For the namespace itself: whether removing it removes what is inside, and what comes with creating it. */
  namespace?: { owns(o: O): boolean; comesWith(o: O): Obj[] };
  /** Exists with its namespace: never created or removed on its own (a namespace's lo). */
  fixed?(o: O): boolean;
  /** An object created and removed by the same operation (a veth's other end), looked up in `state`. */
  partner?(o: O, state: State): Obj | undefined;
  /** Order among steps of the same phase: lower first (a link's parents before it). */
  rank?(o: O, state: State): number;
  /** A namespace other than its own whose removal takes the object along, and what it is there. */
  anchor?(o: O): { ns: string; what: string } | null;
  /** The object as compared when its anchor's namespace is not read: the anchor known by namespace alone. */
  anchorUnread?(o: O): O;
  /** A network device: its name is taken in its namespace (what a crashed run may have made there). */
  device?: boolean;
  /**
   * A kernel value the lab sets rather than an object it makes: it is the lab's only while the lab
   * asks for it, and gets back the value from before the lab (or another lab sharing it) set it.
   */
  setting?: boolean;
  /** Whether the object vanishes with the link (what lives on it, its stacked children, its peer). */
  diesWith?(o: O, link: LinkObj): boolean;
  /** Others may die with it (diesWith): removing it is followed through them. */
  carriesDependents?: boolean;
  /** The object after the link it was attached to is gone, or null when unaffected (a bridge port loses its master). */
  detach?(o: O, removed: LinkObj): O | null;
  /** Not removed by its namespace's removal (processes keep a namespace alive): stopped first. */
  outlivesNamespace?: boolean;
  /** Removing it makes the kernel flush other objects (an address takes routes via its subnet). */
  flushesOthers?: boolean;
  /** Whether the kernel flushes the object when `removed` goes (see flushesOthers). */
  flushedBy?(o: O, removed: Obj): boolean;
  /** Why the lab cannot create the object (its name is someone else's), or null. */
  conflict?(o: O, foreign: ForeignNames): string | null;
  /** Extra detail a step on the object carries (the rules an nft table step adds and removes). */
  stepDetail?(live: O | undefined, desired: O | undefined): { rules?: RuleChange[] };
  /** A checkpoint object no plan can create again (a veth end whose peer is not in it). */
  unrestorable?(o: O, checkpoint: State): boolean;
  /** The devices it lives on: in a namespace the lab shares it is the lab's when one of them is. */
  devices?(o: O): string[];
  /** For an unmarked object read whole (rules): whether the query names it, as its lab's in a shared namespace. */
  named?(o: O, q: NsQuery): boolean;
  /** Whether a query reads it (what the kernel reader returns; the fake kernel answers by it). */
  asked?(o: O, q: NsQuery): boolean;
  /** Carries no ownership mark: in a shared namespace it is the lab's only if the lab's record lists it. */
  unmarked?(o: O): boolean;
}

/** What an object that lives on one device of its namespace (an address, a neighbour, a qdisc) shares. */
export function onOneDevice<O extends Obj & { dev: string }>(): Pick<Kind<O>, 'diesWith' | 'devices'> {
  return {
    diesWith: (o, link) => o.ns === link.ns && o.dev === link.ifname,
    devices: (o) => [o.dev],
  };
}
