// What a plan step asks the driver to do, as data: typed operations on kernel objects. The real
// driver renders them (src/driver/render.ts: `ip`/`bridge`/`tc` batch lines, the reference path
// and what `plan -v` shows) or encodes them as rtnetlink requests (src/driver/netlink-write.ts);
// the fake driver applies effectOf(op) to its in-memory kernel. So both see exactly one plan.
import { loopback } from './link.js';
import {
  ids,
  type AddrObj,
  type FdbObj,
  type LinkObj,
  type NeighObj,
  type NetnsObj,
  type Obj,
  type PortVlanObj,
  type ProcessObj,
  type ProxyNeighObj,
  type QdiscObj,
  type RouteObj,
  type RuleObj,
} from './objects.js';
import type { QdiscParams } from './qdisc.js';

/** One end of a link being made: its name there (maybe temporary), the namespace it goes to, MAC (null = the kernel's) and MTU. */
export interface LinkEnd {
  name: string;
  /** The namespace the device is put in, when not the issuing one. */
  netns: string | null;
  mac: string | null;
  mtu: number;
}

/**
 * Settings of an existing link, applied in the order the keys were given (that is the order of
 * the words on the `ip link set` line).
 */
export interface LinkChanges {
  mtu?: number;
  mac?: string;
  /** A bridge to enslave to, or null to release. */
  master?: string | null;
  up?: boolean;
  /** ifalias; null removes it. */
  alias?: string | null;
  /** A new name (a device made under a temporary one). */
  name?: string;
  /** Bridge settings that change in place. */
  bridge?: { stp: boolean; ageing: number };
  /** Bridge-port hairpin mode. */
  hairpin?: boolean;
}

export type ProcAction = 'start' | 'stop' | 'exec' | 'record' | 'forget';

interface At {
  /** The namespace the operation is issued in ('' = the machine's own). */
  ns: string;
  phase: number;
}

export type Operation = At &
  (
    | { op: 'netns.add'; netns: NetnsObj }
    | { op: 'netns.del'; netns: NetnsObj }
    /** Mount (or unmount) a /run/netns handle for an attached namespace. */
    | { op: 'handle.mount'; netns: NetnsObj; source: string }
    | { op: 'handle.unmount'; netns: NetnsObj }
    /** A device (and a veth's peer); `parent` names the device a stacked one sits on. */
    | { op: 'link.add'; link: LinkObj; end: LinkEnd; parent: string | null; peer?: { link: LinkObj; end: LinkEnd } }
    | { op: 'tap.add'; link: LinkObj }
    | { op: 'link.set'; dev: string; changes: LinkChanges }
    | { op: 'altname.add' | 'altname.del'; dev: string; altname: string }
    /** Deleting a link; `alsoRemoves` are objects that go with it (a veth peer). */
    | { op: 'link.del'; link: LinkObj; alsoRemoves: string[] }
    | { op: 'addr.add' | 'addr.del'; addr: AddrObj }
    | { op: 'route.add' | 'route.replace' | 'route.del'; route: RouteObj }
    | { op: 'neigh.replace' | 'neigh.del'; neigh: NeighObj }
    | { op: 'proxyneigh.add' | 'proxyneigh.del'; entry: ProxyNeighObj }
    | { op: 'rule.add' | 'rule.del'; rule: RuleObj }
    | { op: 'fdb.add' | 'fdb.del'; fdb: FdbObj }
    | { op: 'vlan.add' | 'vlan.del'; vlan: PortVlanObj }
    /**
     * One qdisc of a link's tree, given `params`: the root (`parent` null) or the child under
     * class `parent`; `handle` when it is numbered. `qdisc` is the tree it is part of, whole once
     * an operation `completes` it. `qdisc.del` removes the whole tree.
     */
    | {
        op: 'qdisc.replace' | 'qdisc.change';
        qdisc: QdiscObj;
        parent: string | null;
        handle: string | null;
        params: QdiscParams;
        completes: boolean;
      }
    | { op: 'qdisc.del'; qdisc: QdiscObj }
    /** Writes a sysctl; `restores` when it puts back the value from before the lab (the object goes). */
    | { op: 'sysctl.set'; key: string; value: string; restores: boolean }
    /** One `nft -f` transaction: the table replaced whole, or deleted. */
    | { op: 'nft.replace'; table: Extract<Obj, { kind: 'nft' }>; script: string }
    | { op: 'nft.delete'; family: string; table: string; script: string }
    /**
     * A process of the lab in a namespace (src/driver/processes.ts): `start` (detached, recorded),
     * `stop` (SIGTERM, then SIGKILL; only what the record says netlab started), `exec` (run once,
     * wait, exit 0 or fail), `record` (mark an exec done without running it: rollback) or `forget`.
     */
    | { op: 'proc'; action: ProcAction; proc: ProcessObj }
  );

export type OpName = Operation['op'];
/** The operations named K (a member may carry several names, e.g. route.add|replace|del). */
export type OpOf<K extends OpName> = Operation & { op: K };

/** What an operation does to the object model, applied by the fake driver. */
export interface Effect {
  set?: Obj[];
  remove?: string[];
  /** Remove every object in this namespace (deleting a namespace takes its contents with it). */
  removeNamespace?: string;
  /** Changes to an existing link (link.set, altnames); `attrs` given are merged into the link's. */
  patch?: { id: string; ns: string; ifname: string; fields: Partial<LinkObj> };
}

/** Phases: creation runs low to high; deletion runs high to low, before any creation. */
export const PHASE = {
  netns: 0,
  sysctl: 1,
  /** Links are created at linkBase + depth (a VLAN on a VLAN is one deeper than its parent). */
  linkBase: 2,
  linkSet: 10,
  portvlan: 11,
  addr: 12,
  route: 13,
  fdb: 14,
  nft: 15,
  /** Link conditions (tc qdiscs): after the links they sit on exist. */
  qdisc: 16,
  /** One-shot `exec` commands: after addresses, routes and nft, everywhere (a barrier, see schedule.ts). */
  exec: 17,
  /** `run` processes: last, once the whole network is up; stopped first on the way down. */
  process: 18,
} as const;

/** The state of a link right after `ip link add`: down and not yet enslaved, with the MTU it was made with. */
function created(o: LinkObj, end: LinkEnd | null): LinkObj {
  return { ...o, up: false, master: null, hairpin: false, alias: null, altname: o.altname, mtu: end ? end.mtu : o.mtu };
}

function linkPatch(ns: string, ifname: string, fields: Partial<LinkObj>): Effect {
  return { patch: { id: ids.link(ns, ifname), ns, ifname, fields } };
}

function changedFields(c: LinkChanges): Partial<LinkObj> {
  const f: Partial<LinkObj> = {};
  if (c.mtu !== undefined) f.mtu = c.mtu;
  if (c.mac !== undefined) f.mac = c.mac;
  // Joining or leaving a bridge starts a port with hairpin off.
  if (c.master !== undefined) Object.assign(f, { master: c.master, hairpin: false });
  if (c.hairpin !== undefined) f.hairpin = c.hairpin;
  if (c.up !== undefined) f.up = c.up;
  if (c.alias !== undefined) f.alias = c.alias;
  // Merged into the link's attributes (see Effect.patch).
  if (c.bridge) f.attrs = { stp: c.bridge.stp, ageing: c.bridge.ageing };
  return f;
}

/** What an operation does to the objects, as the kernel does it. */
export function effectOf(o: Operation): Effect {
  switch (o.op) {
    case 'netns.add':
      // A new namespace comes with `lo` down and unmarked; the lo link step marks it.
      return { set: [o.netns, loopback(o.netns.ns, null)] };
    case 'netns.del':
      return { remove: [o.netns.id], removeNamespace: o.netns.ns };
    case 'handle.mount':
      return { set: [o.netns] };
    case 'handle.unmount':
      // Unmounting a handle leaves the attached namespace and its contents alone.
      return { remove: [o.netns.id] };
    case 'link.add':
      return { set: [created(o.link, o.end), ...(o.peer ? [created(o.peer.link, o.peer.end)] : [])] };
    case 'tap.add':
      return { set: [created(o.link, null)] };
    case 'link.set':
      // A device made under a temporary name is known to the model by its final name from the start.
      if (o.changes.name !== undefined) return {};
      return linkPatch(o.ns, o.dev, changedFields(o.changes));
    case 'altname.add':
      return linkPatch(o.ns, o.dev, { altname: o.altname });
    case 'altname.del':
      return linkPatch(o.ns, o.dev, { altname: null });
    case 'link.del':
      return { remove: [o.link.id, ...o.alsoRemoves] };
    case 'addr.add':
      return { set: [o.addr] };
    case 'addr.del':
      return { remove: [o.addr.id] };
    case 'route.add':
    case 'route.replace':
      return { set: [o.route] };
    case 'route.del':
      return { remove: [o.route.id] };
    case 'neigh.replace':
      return { set: [o.neigh] };
    case 'neigh.del':
      return { remove: [o.neigh.id] };
    case 'proxyneigh.add':
      return { set: [o.entry] };
    case 'proxyneigh.del':
      return { remove: [o.entry.id] };
    case 'rule.add':
      return { set: [o.rule] };
    case 'rule.del':
      return { remove: [o.rule.id] };
    case 'fdb.add':
      return { set: [o.fdb] };
    case 'fdb.del':
      return { remove: [o.fdb.id] };
    case 'vlan.add':
      return { set: [o.vlan] };
    case 'vlan.del':
      return { remove: [o.vlan.id] };
    case 'qdisc.replace':
    case 'qdisc.change':
      // A tree being built is not yet the conditions asked for: it counts once it is whole.
      return o.completes ? { set: [o.qdisc] } : {};
    case 'qdisc.del':
      return { remove: [o.qdisc.id] };
    case 'sysctl.set': {
      const id = ids.sysctl(o.ns, o.key);
      return o.restores ? { remove: [id] } : { set: [{ kind: 'sysctl', id, ns: o.ns, key: o.key, value: o.value }] };
    }
    case 'nft.replace':
      return { set: [o.table] };
    case 'nft.delete':
      return { remove: [ids.nft(o.ns, o.family, o.table)] };
    case 'proc':
      return o.action === 'stop' || o.action === 'forget' ? { remove: [o.proc.id] } : { set: [o.proc] };
  }
}
