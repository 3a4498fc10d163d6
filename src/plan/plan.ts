// The planner: pure data in, data out. (desired state, live state) -> ordered, small steps.
// Rollback uses the same function with the checkpoint as the desired state.
import { createHash } from 'node:crypto';
import type { Comparison, KindContext } from '../model/kind.js';
import type { RuleChange } from '../model/nft.js';
import type { Operation } from '../model/operations.js';
import { canonicalJson, comparable, describe, differingFields, sameObject, type LinkObj, type Obj, type State } from '../model/objects.js';
import { kindOf } from '../model/registry.js';

export type StepOp = 'create' | 'modify' | 'delete';

export interface Step {
  op: StepOp;
  /** Ids of the objects the step acts on. */
  objects: string[];
  /** Human description of the (first) object. */
  title: string;
  reason: string;
  commands: Operation[];
  /** For an nft table: the rules the step adds and removes. */
  rules?: RuleChange[];
}

export interface Plan {
  steps: Step[];
  /** Objects that would be taken from someone else; a plan with conflicts must not run. */
  conflicts: string[];
  /**
   * Digest of the live state the plan was computed from. Computed when first read: it digests
   * every live object, which a large lab notices, and only `plan -o` and `apply --plan` read it.
   */
  readonly fingerprint: string;
}

export interface PlanOptions {
  /** Sysctl values recorded before the lab first set them, by object id. */
  sysctlOriginals?: Record<string, string>;
  /** Link ids in shared namespaces that exist but are not the lab's. */
  foreignLinks?: Set<string>;
  /** Namespaces with the name of a lab namespace that netlab did not create. */
  foreignNetns?: Set<string>;
  /** Ids of unmarked objects (rules, nft tables) in shared namespaces that are not the lab's (ownership.ts). */
  foreignObjects?: Set<string>;
  /** Planning back to a checkpoint (rollback): an `exec` is recorded as done, never run again. */
  restore?: boolean;
}

export function fingerprint(live: State): string {
  const h = createHash('sha256');
  for (const id of [...live.keys()].sort()) h.update(canonicalJson(comparable(live.get(id)!))).update('\n');
  return h.digest('hex').slice(0, 16);
}

/** Objects that live on a link and vanish with it. */
function dependsOnLink(o: Obj, link: LinkObj): boolean {
  return kindOf(o).diesWith?.(o, link) ?? false;
}

/** The link an object is when others can die with it (see Kind.carriesDependents). */
function carrier(o: Obj): LinkObj | null {
  return kindOf(o).carriesDependents ? (o as LinkObj) : null;
}

/**
 * Objects of a checkpoint no plan can create again: a veth end whose peer is not in it (observed
 * while the kernel was tearing the pair down, e.g. a namespace deleted by hand mid-run), and what
 * lives on such a link. Rollback leaves them out of both sides, so it restores everything else
 * instead of failing on them, and never deletes them either.
 */
export function unrestorable(checkpoint: State): Set<string> {
  const out = new Set<string>();
  const gone: LinkObj[] = [];
  for (const o of checkpoint.values())
    if (kindOf(o).unrestorable?.(o, checkpoint)) {
      out.add(o.id);
      const link = carrier(o);
      if (link) gone.push(link);
    }
  while (gone.length) {
    const link = gone.pop()!;
    for (const o of checkpoint.values())
      if (!out.has(o.id) && dependsOnLink(o, link)) {
        out.add(o.id);
        const next = carrier(o);
        if (next) gone.push(next);
      }
  }
  return out;
}

export function plan(desired: State, live: State, opts: PlanOptions = {}): Plan {
  const conflicts: string[] = [];
  for (const d of desired.values()) {
    const why = kindOf(d).conflict?.(d, opts);
    if (why) conflicts.push(`${describe(d)}: ${why}`);
    if (opts.foreignObjects?.has(d.id)) conflicts.push(`${describe(d)}: it exists already and was not made by this lab`);
  }
  const ctx = (state: State, partner?: Obj): KindContext => ({
    state,
    ...(partner ? { partner } : {}),
    ...(opts.sysctlOriginals ? { sysctlOriginals: opts.sysctlOriginals } : {}),
    ...(opts.restore ? { restore: true } : {}),
  });
  const detail = (l: Obj | undefined, d: Obj | undefined) => {
    const k = kindOf((d ?? l)!);
    return k.stepDetail ? k.stepDetail(l, d) : {};
  };

  const steps: Step[] = [];
  // What the kernel will look like as the plan's deletions happen: objects removed with a
  // namespace or a link are gone, so they are created again rather than assumed present.
  const projected: State = new Map(live);
  // Ids of live objects by namespace, and of objects by the other namespace they hang on (a
  // veth's peer's): what can depend on a link in namespace X is in X or points into X (objects
  // only leave `projected` here).
  const inNs = new Map<string, string[]>();
  const peersIn = new Map<string, string[]>();
  const index = (m: Map<string, string[]>, ns: string, id: string) => {
    const list = m.get(ns);
    if (list) list.push(id);
    else m.set(ns, [id]);
  };
  for (const o of live.values()) {
    index(inNs, o.ns, o.id);
    const away = kindOf(o).anchor?.(o);
    if (away && away.ns !== o.ns) index(peersIn, away.ns, o.id);
  }
  /** Objects still projected that live in `ns` or point into it, in live order. */
  const near = (ns: string): Obj[] => {
    const ids = [...(inNs.get(ns) ?? []), ...(peersIn.get(ns) ?? [])];
    const out: Obj[] = [];
    for (const id of ids) {
      const o = projected.get(id);
      if (o) out.push(o);
    }
    return out;
  };
  const removeWith = (link: LinkObj) => {
    const queue = [link];
    while (queue.length) {
      const l = queue.pop()!;
      projected.delete(l.id);
      for (const o of near(l.ns)) {
        if (dependsOnLink(o, l)) {
          projected.delete(o.id);
          const next = carrier(o);
          if (next) queue.push(next);
        }
        // A bridge's ports stay but lose their master.
        const detached = kindOf(o).detach?.(o, l);
        if (detached) projected.set(o.id, detached);
      }
    }
  };

  // 1. Namespaces that go away take everything inside with them.
  const deletedNs = new Set<string>();
  for (const l of live.values()) {
    const space = kindOf(l).namespace;
    if (!space) continue;
    const d = desired.get(l.id);
    if (d && sameObject(l, d)) continue;
    steps.push({
      op: 'delete',
      objects: [l.id],
      title: describe(l),
      reason: d ? 'changed origin' : 'not in the lab',
      commands: kindOf(l).remove(l, ctx(live)),
    });
    if (space.owns(l)) deletedNs.add(l.ns);
    projected.delete(l.id);
  }
  // The kernel tears a namespace down asynchronously: links elsewhere that would die with it
  // (veth peers, devices stacked on its links) are deleted explicitly, so their names are free
  // and the result is deterministic by the time the run ends.
  const orphans: { o: Obj; ns: string; what: string }[] = [];
  if (deletedNs.size)
    for (const o of projected.values()) {
      const away = deletedNs.has(o.ns) ? null : kindOf(o).anchor?.(o);
      if (away && deletedNs.has(away.ns)) orphans.push({ o, ...away });
    }
  for (const { o, ns, what } of orphans.sort((a, b) => byId(a.o, b.o))) {
    if (!projected.has(o.id)) continue;
    steps.push({
      op: 'delete',
      objects: [o.id],
      title: describe(o),
      reason: `its ${what} goes with netns ${ns}`,
      commands: kindOf(o).remove(o, ctx(live)),
    });
    const link = carrier(o);
    if (link) removeWith(link);
    else projected.delete(o.id);
  }
  // Processes do not die with their namespace (they keep it alive): they are stopped first.
  const stopped = [...projected.values()].filter((o) => kindOf(o).outlivesNamespace && deletedNs.has(o.ns));
  for (const o of stopped.sort(byId)) {
    steps.push({
      op: 'delete',
      objects: [o.id],
      title: describe(o),
      reason: `netns ${o.ns} goes`,
      commands: kindOf(o).remove(o, ctx(live)),
    });
  }
  for (const o of [...projected.values()]) if (deletedNs.has(o.ns)) projected.delete(o.id);

  // 2. Other objects that are not desired, or must be recreated because they cannot change in place.
  const replaced = new Set<string>();
  const flushed = new Set<string>();
  const handledPairs = new Set<string>();
  const liveOrder = inIdOrder(live).filter((o) => !kindOf(o).namespace && !deletedNs.has(o.ns));
  for (const l of liveOrder) {
    if (!projected.has(l.id) || handledPairs.has(l.id)) continue;
    const kind = kindOf(l);
    if (kind.fixed?.(l)) continue;
    const d = desired.get(l.id);
    if (d && compare(l, d) !== 'replace') continue;
    const partner = kind.partner?.(l, projected);
    if (partner) handledPairs.add(partner.id);
    const commands = kind.remove(l, ctx(live, partner));
    if (commands.length)
      steps.push({
        op: 'delete',
        objects: [l.id, ...(partner ? [partner.id] : [])],
        title: describe(l),
        reason: d ? `cannot change in place: ${differingFields(l, d).join(', ')}` : 'not in the lab',
        commands,
        ...detail(l, undefined),
      });
    if (d) replaced.add(l.id);
    const link = carrier(l);
    if (link) removeWith(link);
    else projected.delete(l.id);
    if (kind.flushesOthers) {
      for (const o of near(l.ns)) {
        if (kindOf(o).flushedBy?.(o, l)) {
          projected.delete(o.id);
          flushed.add(o.id);
        }
      }
    }
  }

  // 3. Desired objects: create what is missing, change what differs.
  for (const d of desired.values()) {
    const space = kindOf(d).namespace;
    if (!space || projected.has(d.id)) continue;
    steps.push({ op: 'create', objects: [d.id], title: describe(d), reason: 'missing', commands: kindOf(d).create(d, ctx(desired)) });
    for (const o of space.comesWith(d)) projected.set(o.id, o);
  }
  const created = new Set<string>();
  const configure = (current: Obj, d: Obj) => {
    if (sameObject(current, d)) return;
    const kind = kindOf(d);
    const commands = kind.modify ? kind.modify(current, d, ctx(desired)) : kind.create(d, ctx(desired));
    if (!commands.length) return;
    steps.push({
      op: 'modify',
      objects: [d.id],
      title: describe(d),
      reason: differingFields(current, d).join(', '),
      commands,
      ...detail(current, d),
    });
  };
  for (const d of inIdOrder(desired)) {
    const kind = kindOf(d);
    if (kind.namespace || created.has(d.id)) continue;
    const l = projected.get(d.id);
    if (l) {
      configure(l, d);
      continue;
    }
    if (kind.fixed?.(d)) continue;
    const partner = kind.partner?.(d, desired);
    const objects = [d.id, ...(partner ? [partner.id] : [])];
    objects.forEach((id) => created.add(id));
    // A flushed route may also have survived (another address kept the subnet): replace is exact either way.
    const commands = flushed.has(d.id) && kind.modify ? kind.modify(d, d, ctx(desired)) : kind.create(d, ctx(desired, partner));
    steps.push({
      op: 'create',
      objects,
      title: describe(d),
      reason: replaced.has(d.id) ? 'recreated' : 'missing',
      commands,
      ...detail(undefined, d),
    });
    if (kind.afterCreate) {
      if (partner) configure(kindOf(partner).afterCreate!(partner), partner);
      configure(kind.afterCreate(d), d);
    }
  }

  // Links are configured parents first: a VLAN cannot be set up before its parent is.
  const rank = (s: Step) => {
    const o = desired.get(s.objects[0]!);
    return s.op !== 'delete' && o ? (kindOf(o).rank?.(o, desired) ?? 0) : 0;
  };
  let digest: string | undefined;
  return {
    steps: order(steps, rank),
    conflicts,
    // On demand (see Plan): callers never change a live state once observed. An own enumerable
    // property all the same, so the plan serialises as before.
    get fingerprint() {
      return (digest ??= fingerprint(live));
    },
  };
}

/** How a live object stands to its desired twin (see Kind.compare). */
function compare(live: Obj, desired: Obj): Comparison {
  const k = kindOf(live);
  if (k.compare) return k.compare(live, desired);
  return sameObject(live, desired) ? 'equal' : k.modify ? 'changes' : 'replace';
}

/** A state's objects by id: its keys sorted natively (no comparator call per pair, of which a large lab has many). */
function inIdOrder(state: State): Obj[] {
  return [...state.keys()].sort().map((id) => state.get(id)!);
}

function byId(a: Obj, b: Obj): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Deletions first (deepest phase first), then creations and changes (lowest phase first); ties by object id. */
function order(steps: Step[], rank: (s: Step) => number = () => 0): Step[] {
  const key = (s: Step) => {
    const phase = s.commands.reduce((min, c) => Math.min(min, c.phase), Infinity);
    return s.op === 'delete' ? -1000 + (100 - phase) : phase;
  };
  return steps
    .map((s, i) => ({ s, i, k: key(s), r: rank(s) }))
    .sort((a, b) => a.k - b.k || a.r - b.r || (a.s.objects[0]! < b.s.objects[0]! ? -1 : a.s.objects[0]! > b.s.objects[0]! ? 1 : a.i - b.i))
    .map((x) => x.s);
}
