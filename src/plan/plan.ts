// The planner: pure data in, data out. (desired state, live state) -> ordered, small steps.
// Rollback uses the same function with the checkpoint as the desired state.
import { createHash } from 'node:crypto';
import { createAddr, deleteAddr } from '../model/addr.js';
import { PHASE, type Operation } from '../model/operations.js';
import { createFdb, deleteFdb } from '../model/fdb.js';
import { createLink, deleteLink, justCreated, loopback, modifyLink } from '../model/link.js';
import { createNetns, deleteNetns } from '../model/netns.js';
import { deleteNft, nftRuleChanges, writeNft, type RuleChange } from '../model/nft.js';
import {
  canonicalJson,
  comparable,
  describe,
  differingFields,
  ids,
  sameObject,
  type LinkObj,
  type Obj,
  type ProcessObj,
  type State,
} from '../model/objects.js';
import { createPortVlan, deletePortVlan } from '../model/portvlan.js';
import { createQdisc, deleteQdisc, modifyQdisc } from '../model/qdisc.js';
import { createProcess, deleteProcess, modifyProcess } from '../model/process.js';
import { deleteNeigh, setNeigh } from '../model/neigh.js';
import { createRoute, deleteRoute, modifyRoute, routeDevs, routeGateways } from '../model/route.js';
import { createRule, deleteRule } from '../model/rule.js';
import { releaseSysctl, setSysctl, sysctlInterface } from '../model/sysctl.js';
import { contains, parseCidr, parseIp } from '../lab/addr.js';
import { InternalError } from '../errors.js';

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

function inSubnet(ip: string, cidr: string): boolean {
  const addr = parseIp(ip);
  const net = parseCidr(cidr);
  return addr !== null && net !== null && contains(net, addr);
}

const STACKED = new Set(['vlan', 'macvlan', 'ipvlan', 'macvtap']);

/** How many devices a link stacks on (a VLAN on a veth is 1, QinQ is 2). */
function depth(o: LinkObj, state: State, seen = 0): number {
  if (seen > 8) return seen;
  let parentId: string | null = null;
  if (STACKED.has(o.type) && o.peer) parentId = `link:${o.peer.ns}/${o.peer.ifname}`;
  if (o.type === 'vxlan' && o.attrs.dev) parentId = `link:${o.ns}/${String(o.attrs.dev)}`;
  const parent = parentId ? state.get(parentId) : undefined;
  if (!parentId) return 0;
  return parent && parent.kind === 'link' ? 1 + depth(parent, state, seen + 1) : 1;
}

/** Objects that live on a link and vanish with it. */
function dependsOnLink(o: Obj, link: LinkObj): boolean {
  if (o.ns !== link.ns && !(o.kind === 'link' && o.peer?.ns === link.ns)) return false;
  switch (o.kind) {
    case 'addr':
    case 'fdb':
    case 'portvlan':
    case 'qdisc':
      return o.dev === link.ifname;
    case 'route':
      return routeDevs(o).includes(link.ifname);
    case 'neigh':
      return o.dev === link.ifname;
    case 'link':
      // Stacked children die with their parent; a veth end dies with its peer.
      return o.peer !== null && o.peer.ns === link.ns && o.peer.ifname === link.ifname;
    case 'sysctl':
      // net.ipv4.conf.IF.* goes with IF (a recreated link starts from the defaults).
      return sysctlInterface(o.key) === link.ifname;
    default:
      return false;
  }
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
    if (o.kind === 'link' && o.type === 'veth' && (!o.peer || !checkpoint.has(ids.link(o.peer.ns, o.peer.ifname)))) {
      out.add(o.id);
      gone.push(o);
    }
  while (gone.length) {
    const link = gone.pop()!;
    for (const o of checkpoint.values())
      if (!out.has(o.id) && dependsOnLink(o, link)) {
        out.add(o.id);
        if (o.kind === 'link') gone.push(o);
      }
  }
  return out;
}

export function plan(desired: State, live: State, opts: PlanOptions = {}): Plan {
  const conflicts: string[] = [];
  for (const d of desired.values()) {
    if (d.kind === 'link' && opts.foreignLinks?.has(d.id))
      conflicts.push(`${describe(d)}: the name is taken by an interface netlab does not own`);
    if (d.kind === 'netns' && opts.foreignNetns?.has(d.ns))
      conflicts.push(`${describe(d)}: a namespace of that name exists and was not created by this lab`);
    if (opts.foreignObjects?.has(d.id)) conflicts.push(`${describe(d)}: it exists already and was not made by this lab`);
  }

  const steps: Step[] = [];
  // What the kernel will look like as the plan's deletions happen: objects removed with a
  // namespace or a link are gone, so they are created again rather than assumed present.
  const projected: State = new Map(live);
  // Ids of live objects by namespace, and of links by their peer's namespace: what can depend on
  // a link in namespace X is in X or points into X (objects only leave `projected` here).
  const inNs = new Map<string, string[]>();
  const peersIn = new Map<string, string[]>();
  const index = (m: Map<string, string[]>, ns: string, id: string) => {
    const list = m.get(ns);
    if (list) list.push(id);
    else m.set(ns, [id]);
  };
  for (const o of live.values()) {
    index(inNs, o.ns, o.id);
    if (o.kind === 'link' && o.peer && o.peer.ns !== o.ns) index(peersIn, o.peer.ns, o.id);
  }
  /** Objects still projected that live in `ns` or are links pointing into it, in live order. */
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
          if (o.kind === 'link') queue.push(o);
        }
        // A bridge's ports stay but lose their master.
        if (o.kind === 'link' && o.ns === l.ns && o.master === l.ifname) projected.set(o.id, { ...o, master: null, hairpin: false });
      }
    }
  };

  // 1. Namespaces that go away take everything inside with them.
  const deletedNs = new Set<string>();
  for (const l of live.values()) {
    if (l.kind !== 'netns') continue;
    const d = desired.get(l.id);
    if (d && sameObject(l, d)) continue;
    steps.push({
      op: 'delete',
      objects: [l.id],
      title: describe(l),
      reason: d ? 'changed origin' : 'not in the lab',
      commands: deleteNetns(l),
    });
    if (l.origin === 'created') deletedNs.add(l.ns);
    projected.delete(l.id);
  }
  // The kernel tears a namespace down asynchronously: links elsewhere that would die with it
  // (veth peers, devices stacked on its links) are deleted explicitly, so their names are free
  // and the result is deterministic by the time the run ends.
  const orphans = [...projected.values()].filter(
    (o): o is LinkObj & { peer: NonNullable<LinkObj['peer']> } =>
      o.kind === 'link' && !deletedNs.has(o.ns) && o.peer !== null && deletedNs.has(o.peer.ns),
  );
  for (const o of orphans.sort(byId)) {
    if (!projected.has(o.id)) continue;
    steps.push({
      op: 'delete',
      objects: [o.id],
      title: describe(o),
      reason: `its ${o.type === 'veth' ? 'peer' : 'parent'} goes with netns ${o.peer.ns}`,
      commands: deleteLink(o, PHASE.linkBase + depth(o, live)),
    });
    removeWith(o);
  }
  // Processes do not die with their namespace (they keep it alive): they are stopped first.
  const stopped = [...projected.values()].filter((o): o is ProcessObj => o.kind === 'process' && deletedNs.has(o.ns));
  for (const o of stopped.sort(byId)) {
    steps.push({ op: 'delete', objects: [o.id], title: describe(o), reason: `netns ${o.ns} goes`, commands: deleteProcess(o) });
  }
  for (const o of [...projected.values()]) if (deletedNs.has(o.ns)) projected.delete(o.id);

  // 2. Other objects that are not desired, or must be recreated because they cannot change in place.
  const replaced = new Set<string>();
  const flushed = new Set<string>();
  const handledPairs = new Set<string>();
  const liveOrder = inIdOrder(live).filter((o) => o.kind !== 'netns' && !deletedNs.has(o.ns));
  for (const l of liveOrder) {
    if (!projected.has(l.id) || handledPairs.has(l.id)) continue;
    const d = desired.get(l.id);
    if (l.kind === 'link') {
      if (l.type === 'loopback') continue;
      if (d && d.kind === 'link' && (sameObject(l, d) || modifyLink(l, d) !== null)) continue;
      const peer = l.type === 'veth' && l.peer ? projected.get(`link:${l.peer.ns}/${l.peer.ifname}`) : undefined;
      const alsoGone = peer ? [peer.id] : [];
      for (const id of alsoGone) handledPairs.add(id);
      steps.push({
        op: 'delete',
        objects: [l.id, ...alsoGone],
        title: describe(l),
        reason: d ? `cannot change in place: ${differingFields(l, d).join(', ')}` : 'not in the lab',
        commands: deleteLink(l, PHASE.linkBase + depth(l, live), alsoGone),
      });
      if (d) replaced.add(l.id);
      removeWith(l);
      continue;
    }
    if (d) continue;
    const commands = deleteCommands(l, opts);
    if (commands.length)
      steps.push({
        op: 'delete',
        objects: [l.id],
        title: describe(l),
        reason: 'not in the lab',
        commands,
        ...(l.kind === 'nft' ? { rules: nftRuleChanges(l, undefined) } : {}),
      });
    projected.delete(l.id);
    if (l.kind === 'addr') {
      // The kernel flushes routes whose gateway was on the removed subnet.
      for (const o of near(l.ns)) {
        if (o.kind === 'route' && o.ns === l.ns && routeGateways(o).some((via) => inSubnet(via, l.cidr))) {
          projected.delete(o.id);
          flushed.add(o.id);
        }
      }
    }
  }

  // 3. Desired objects: create what is missing, change what differs.
  for (const d of desired.values()) {
    if (d.kind !== 'netns') continue;
    if (projected.has(d.id)) continue;
    steps.push({ op: 'create', objects: [d.id], title: describe(d), reason: 'missing', commands: createNetns(d) });
    if (d.origin === 'created') projected.set(`link:${d.ns}/lo`, loopback(d.ns, null));
  }
  const created = new Set<string>();
  for (const d of inIdOrder(desired)) {
    if (d.kind === 'netns' || created.has(d.id)) continue;
    const l = projected.get(d.id);
    if (d.kind === 'link') {
      let current: LinkObj | undefined = l && l.kind === 'link' ? l : undefined;
      if (!current && d.type !== 'loopback') {
        const peer = d.type === 'veth' && d.peer ? desired.get(`link:${d.peer.ns}/${d.peer.ifname}`) : undefined;
        const peerLink = peer && peer.kind === 'link' ? peer : undefined;
        const objects = [d.id, ...(peerLink ? [peerLink.id] : [])];
        objects.forEach((id) => created.add(id));
        const reason = replaced.has(d.id) ? 'recreated' : 'missing';
        steps.push({
          op: 'create',
          objects,
          title: describe(d),
          reason,
          commands: createLink(d, peerLink, PHASE.linkBase + depth(d, desired)),
        });
        current = justCreated(d);
        if (peerLink) configure(steps, justCreated(peerLink), peerLink);
      }
      if (current) configure(steps, current, d);
      continue;
    }
    if (l && sameObject(l, d)) continue;
    // A flushed route may also have survived (another address kept the subnet): replace is exact either way.
    const commands = l ? modifyCommands(l, d, opts) : d.kind === 'route' && flushed.has(d.id) ? modifyRoute(d, d) : createCommands(d, opts);
    steps.push({
      op: l ? 'modify' : 'create',
      objects: [d.id],
      title: describe(d),
      reason: l ? differingFields(l, d).join(', ') : 'missing',
      commands,
      ...(d.kind === 'nft' ? { rules: nftRuleChanges(l?.kind === 'nft' ? l : undefined, d) } : {}),
    });
  }

  // Links are configured parents first: a VLAN cannot be set up before its parent is.
  const rank = (s: Step) => {
    const o = desired.get(s.objects[0]!);
    return s.op !== 'delete' && o?.kind === 'link' ? depth(o, desired) : 0;
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

function configure(steps: Step[], current: LinkObj, d: LinkObj): void {
  if (sameObject(current, d)) return;
  const commands = modifyLink(current, d);
  if (!commands) throw new InternalError(`${d.id} cannot be configured in place after creation`);
  if (commands.length)
    steps.push({ op: 'modify', objects: [d.id], title: describe(d), reason: differingFields(current, d).join(', '), commands });
}

function createCommands(d: Obj, opts: PlanOptions = {}): Operation[] {
  switch (d.kind) {
    case 'neigh':
      return setNeigh(d);
    case 'rule':
      return createRule(d);
    case 'process':
      return createProcess(d, opts.restore);
    case 'addr':
      return createAddr(d);
    case 'route':
      return createRoute(d);
    case 'sysctl':
      return setSysctl(d);
    case 'nft':
      return writeNft(d);
    case 'fdb':
      return createFdb(d);
    case 'portvlan':
      return createPortVlan(d);
    case 'qdisc':
      return createQdisc(d);
    default:
      throw new InternalError(`no create for ${d.kind}`);
  }
}

function modifyCommands(l: Obj, d: Obj, opts: PlanOptions = {}): Operation[] {
  if (d.kind === 'process' && l.kind === 'process') return modifyProcess(l, d, opts.restore);
  if (d.kind === 'route' && l.kind === 'route') return modifyRoute(l, d);
  if (d.kind === 'portvlan' && l.kind === 'portvlan') return [...deletePortVlan(l), ...createPortVlan(d)];
  if (d.kind === 'qdisc' && l.kind === 'qdisc') return modifyQdisc(l, d);
  return createCommands(d, opts);
}

function deleteCommands(l: Obj, opts: PlanOptions): Operation[] {
  switch (l.kind) {
    case 'addr':
      return deleteAddr(l);
    case 'route':
      return deleteRoute(l);
    case 'sysctl':
      return releaseSysctl(l, opts.sysctlOriginals?.[l.id]);
    case 'nft':
      return deleteNft(l);
    case 'fdb':
      return deleteFdb(l);
    case 'portvlan':
      return deletePortVlan(l);
    case 'qdisc':
      return deleteQdisc(l);
    case 'neigh':
      return deleteNeigh(l);
    case 'rule':
      return deleteRule(l);
    case 'process':
      return deleteProcess(l);
    default:
      throw new InternalError(`no delete for ${l.kind}`);
  }
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
