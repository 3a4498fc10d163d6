// Kernel objects as plain data: the currency of observe, plan, apply, rollback and verify.
// Desired state (from a lab) and live state (from the kernel) use the same shapes, so one
// comparator decides "same state" for every kind, and rollback is planning back to a checkpoint.

import { kindOf } from './registry.js';

export type ObjKind =
  'netns' | 'link' | 'addr' | 'route' | 'sysctl' | 'nft' | 'fdb' | 'portvlan' | 'qdisc' | 'neigh' | 'proxyneigh' | 'rule' | 'process';

interface Base {
  kind: ObjKind;
  /** Unique across a state: kind + namespace + identity. */
  id: string;
  /** Namespace key ('' = the machine's own). For netns objects, the namespace itself. */
  ns: string;
}

export interface NetnsObj extends Base {
  kind: 'netns';
  /** Created by the lab (owned, deleted by destroy) vs. a handle mounted for an attached namespace. */
  origin: 'created' | 'handle';
  /** For handles: what the handle points at. */
  target: { pid: number } | { path: string } | null;
}

export type LinkType = 'loopback' | 'veth' | 'bridge' | 'vlan' | 'macvlan' | 'ipvlan' | 'macvtap' | 'tap' | 'vxlan';

export interface LinkObj extends Base {
  kind: 'link';
  ifname: string;
  type: LinkType;
  mtu: number;
  mac: string;
  up: boolean;
  /** Bridge this link is a port of (same namespace), or null. */
  master: string | null;
  /** Bridge-port hairpin mode (only meaningful with a master). */
  hairpin: boolean;
  /** Ownership mark in shared namespaces. */
  altname: string | null;
  /** ifalias; used on `lo` of created namespaces as their mark. */
  alias: string | null;
  /** Veth peer, or the parent of vlan/macvlan/ipvlan/macvtap. */
  peer: { ns: string; ifname: string } | null;
  /** Type-specific attributes that can only be set at creation (change = recreate). */
  attrs: Record<string, string | number | boolean | null>;
}

export interface AddrObj extends Base {
  kind: 'addr';
  dev: string;
  /** `10.0.0.1/24`, `fd00::1/64`. */
  cidr: string;
}

export interface RouteObj extends Base {
  kind: 'route';
  family: 4 | 6;
  dst: string;
  via: string | null;
  dev: string | null;
  /** Effective metric (kernel default filled in: 0 for IPv4, 1024 for IPv6). */
  metric: number;
  onlink: boolean;
  table: number;
  /** ECMP next hops, sorted (absent for a single-path route; then via/dev above). */
  nexthops?: { via: string; dev: string | null; weight: number; onlink: boolean }[];
}

export interface SysctlObj extends Base {
  kind: 'sysctl';
  key: string;
  value: string;
}

export interface NftObj extends Base {
  kind: 'nft';
  family: string;
  table: string;
  /** "chain/digest" of every rule: equal lists mean equal rule sets. */
  rules: string[];
  /** The table in nft syntax, loadable by `nft -f` (desired: rendered; live: `nft list table`). */
  body: string;
}

export interface FdbObj extends Base {
  kind: 'fdb';
  dev: string;
  mac: string;
  /** Remote VTEP of a VXLAN entry; '' for a static entry on a bridge port. */
  dst: string;
  /** VLAN of a bridge port entry (absent = none). */
  vlan?: number;
}

/** A static neighbour entry (`ip neigh ... nud permanent`). */
export interface NeighObj extends Base {
  kind: 'neigh';
  dev: string;
  address: string;
  mac: string;
}

/** A proxy neighbour entry (`ip neigh add proxy ADDRESS dev DEV`): the kernel answers ARP/NDP for ADDRESS on DEV. */
export interface ProxyNeighObj extends Base {
  kind: 'proxyneigh';
  dev: string;
  address: string;
}

/** A policy routing rule (`ip rule`). */
export interface RuleObj extends Base {
  kind: 'rule';
  family: 4 | 6;
  priority: number;
  /** Prefixes in network form, or null = all. */
  from: string | null;
  to: string | null;
  iif: string | null;
  oif: string | null;
  /** `0x10` or `0x10/0xff`, or null. */
  fwmark: string | null;
  table: number;
}

/**
 * A process netlab runs in a namespace, from the lab's process record (src/driver/processes.ts):
 * `run` ones are `running` while the process netlab started (same pid and start time, in this
 * namespace) lives, else `stopped`; an `exec` one is `done` once it exited 0 in this namespace.
 */
export interface ProcessObj extends Base {
  kind: 'process';
  lab: string;
  host: string;
  name: string;
  mode: 'run' | 'exec';
  command: string;
  state: 'running' | 'stopped' | 'done';
  /** Order among the host's exec (or run) entries; not compared. */
  seq: number;
  /** exec: seconds before it is killed; not compared. */
  timeout: number | null;
  /** The directory it runs in (the lab file's); not compared: moving a lab restarts nothing. */
  dir?: string;
}

export interface PortVlanObj extends Base {
  kind: 'portvlan';
  dev: string;
  vid: number;
  pvid: boolean;
  untagged: boolean;
}

/**
 * Link conditions of one interface's egress: the qdisc tree netlab puts at its root (netem, a
 * token bucket under or instead of it, or a packet queue). Values are canonical text in tc's own
 * syntax (`10mbit`, `32kb`, `50ms`, `20%`), quantised to what the kernel reports back, so equal
 * text means equal conditions; null = not set. See src/model/qdisc.ts.
 */
export interface QdiscObj extends Base {
  kind: 'qdisc';
  dev: string;
  /** The root qdisc's handle (`1:` when netlab made it); not compared. */
  handle: string;
  /** The qdisc kinds, root first (`netem`, `tbf`): the shape of the tree. */
  kinds: string[];
  rate: string | null;
  burst: string | null;
  delay: string | null;
  jitter: string | null;
  loss: string | null;
  duplicate: string | null;
  reorder: string | null;
  corrupt: string | null;
  /** Queue length in packets. */
  limit: number | null;
}

export type Obj =
  | NetnsObj
  | LinkObj
  | AddrObj
  | RouteObj
  | SysctlObj
  | NftObj
  | FdbObj
  | PortVlanObj
  | QdiscObj
  | NeighObj
  | ProxyNeighObj
  | RuleObj
  | ProcessObj;

/** A whole state: objects by id. */
export type State = Map<string, Obj>;

export function stateOf(objs: Iterable<Obj>): State {
  const s: State = new Map();
  for (const o of objs) s.set(o.id, o);
  return s;
}

/** Human name of a namespace key. */
export function nsLabel(ns: string): string {
  return ns === '' ? '(root)' : ns;
}

/** Human name of an object, as shown in plans and errors. */
export function describe(o: Obj): string {
  return kindOf(o).describe(o);
}

/** The comparable content of an object: everything that must match for live to equal desired (see Kind.comparable). */
export function comparable(o: Obj): unknown {
  const k = kindOf(o);
  return k.comparable ? k.comparable(o) : o;
}

/** Stable JSON with sorted keys, so equal objects give equal text (what JSON.stringify gives, keys sorted). */
export function canonicalJson(v: unknown): string {
  return canon(v) ?? 'null';
}

function canon(v: unknown): string | undefined {
  if (v === undefined || typeof v === 'function') return undefined;
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => canon(x) ?? 'null').join(',')}]`;
  const o = v as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(o).sort()) {
    const s = canon(o[k]);
    if (s !== undefined) parts.push(`${JSON.stringify(k)}:${s}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * Equal as canonicalJson sees it (absent and undefined members alike), without building the text.
 * Plain loops: planning compares every desired object with its live twin (thousands of calls in a
 * large lab, mostly in a cold process), so no closures or filtered key copies per call.
 */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same(a[i] ?? null, b[i] ?? null)) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  // Every defined member of x equals y's (an undefined one of y never equals it), and y has
  // as many defined members.
  let defined = 0;
  const kx = Object.keys(x);
  for (let i = 0; i < kx.length; i++) {
    const v = x[kx[i]!];
    if (v === undefined) continue;
    const w = y[kx[i]!];
    if (v !== w && !same(v, w)) return false;
    defined++;
  }
  const ky = Object.keys(y);
  if (ky.length === defined) return true;
  for (let i = 0; i < ky.length; i++) if (y[ky[i]!] !== undefined) defined--;
  return defined === 0;
}

export function sameObject(a: Obj, b: Obj): boolean {
  return same(comparable(a), comparable(b));
}

/** Fields that differ between two objects of the same id (for plan reasons and verify reports). */
export function differingFields(live: Obj, desired: Obj): string[] {
  const l = comparable(live) as Record<string, unknown>;
  const d = comparable(desired) as Record<string, unknown>;
  const keys = new Set([...Object.keys(l), ...Object.keys(d)]);
  const out: string[] = [];
  for (const k of [...keys].sort()) {
    if (canonicalJson(l[k]) === canonicalJson(d[k])) continue;
    const [a, b] = [l[k], d[k]];
    if (Array.isArray(a) && Array.isArray(b)) out.push(`${k}: ${listChange(a.map(fmt), b.map(fmt))}`);
    else out.push(`${k}: ${fmt(a)} -> ${fmt(b)}`);
  }
  return out;
}

/** `+2 -1` for long lists (nft rule digests), the items themselves for short ones. */
function listChange(before: string[], after: string[]): string {
  const added = after.filter((x) => !before.includes(x));
  const removed = before.filter((x) => !after.includes(x));
  if (added.length + removed.length > 3) return `${added.length} added, ${removed.length} removed`;
  return [...added.map((x) => `+${x}`), ...removed.map((x) => `-${x}`)].join(' ') || 'reordered';
}

function fmt(v: unknown): string {
  if (v === undefined) return '(none)';
  return typeof v === 'string' ? v : canonicalJson(v);
}

/** Compares two whole states; returns human differences (empty = same state). */
export function diffStates(expected: State, actual: State): string[] {
  const out: string[] = [];
  for (const [id, e] of expected) {
    const a = actual.get(id);
    if (!a) out.push(`missing: ${describe(e)}`);
    else if (!sameObject(a, e)) out.push(`differs: ${describe(e)}: ${differingFields(a, e).join(', ')}`);
  }
  for (const [id, a] of actual) if (!expected.has(id)) out.push(`unexpected: ${describe(a)}`);
  return out.sort();
}

// Ids: one function per kind so every layer builds them the same way.
export const ids = {
  netns: (name: string) => `netns:${name}`,
  link: (ns: string, ifname: string) => `link:${ns}/${ifname}`,
  addr: (ns: string, dev: string, cidr: string) => `addr:${ns}/${dev}/${cidr}`,
  route: (ns: string, table: number, dst: string, metric: number) => `route:${ns}/${table}/${dst}/${metric}`,
  sysctl: (ns: string, key: string) => `sysctl:${ns}/${key}`,
  nft: (ns: string, family: string, table: string) => `nft:${ns}/${family}/${table}`,
  fdb: (ns: string, dev: string, mac: string, dst: string) => `fdb:${ns}/${dev}/${mac}/${dst}`,
  portvlan: (ns: string, dev: string, vid: number) => `portvlan:${ns}/${dev}/${vid}`,
  qdisc: (ns: string, dev: string) => `qdisc:${ns}/${dev}`,
  neigh: (ns: string, dev: string, address: string) => `neigh:${ns}/${dev}/${address}`,
  proxyneigh: (ns: string, dev: string, address: string) => `proxyneigh:${ns}/${dev}/${address}`,
  /** Everything a rule matches on and where it sends: two rules differ when any of it does. */
  rule: (ns: string, r: Omit<RuleObj, 'kind' | 'id' | 'ns'>) =>
    `rule:${ns}/${r.family}/${r.priority}/${r.from ?? 'all'}/${r.to ?? 'all'}/${r.iif ?? ''}/${r.oif ?? ''}/${r.fwmark ?? ''}/${r.table}`,
  process: (ns: string, name: string) => `process:${ns}/${name}`,
};
