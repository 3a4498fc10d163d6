// Address pools: an interface with `pool: 10.10.0.0/16` hands addresses out to the other
// interfaces of its L2 segment (the far ends of its bridge's ports, the peer of a veth) that do
// not write `addresses` themselves (`addresses: []` opts out). Each gets one address with the
// pool's prefix length, written into the lab as if the user had, so every later rule (duplicates,
// gateways, NAT targets, firewall host matches) sees it.
//
// Which address: the pool's free addresses are the subnet minus its network address (and
// broadcast, for IPv4 up to /30), minus the pool interface's own addresses, minus `exclude`.
// They are numbered 0, 1, 2, ... in address order, and
//
// - an instance of a host template (`h{i}`) takes free address number i - start (h1 the first,
//   h2 the second, ...): it depends on nothing but its index, so adding or removing any other
//   host never moves it. (A second template on the same pool probes past the first's addresses.)
// - any other host takes the free address numbered by a hash of its host and interface name in
//   the upper half of the pool, probing upwards past taken ones. Adding or removing a host moves
//   no other unless the two hash to the same address (then the one that sorts later probes on).
//
// Addresses written elsewhere on the segment are not skipped (that would shift every instance
// after them): one that the pool hands out is an error that says to `exclude` it.
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { cidrText, contains, networkOf, parseCidr, parseIp, type Cidr } from './addr.js';
import type { IfaceEntry, LabContext } from './context.js';
import type { RawPool } from './raw.js';
import { segments } from './semantic-addresses.js';

interface Range {
  lo: bigint;
  hi: bigint;
}

function toBig(ip: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  return ip.toByteArray().reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

function fromBig(n: bigint, family: 4 | 6): ipaddr.IPv4 | ipaddr.IPv6 {
  const bytes: number[] = [];
  for (let i = 0; i < (family === 4 ? 4 : 16); i++) {
    bytes.unshift(Number(n & 255n));
    n >>= 8n;
  }
  return ipaddr.fromByteArray(bytes);
}

/** The pool's subnet and exclusions as written (either form). */
export function poolSpec(p: string | RawPool): RawPool {
  return typeof p === 'string' ? { subnet: p } : p;
}

/** A pool's free addresses, numbered in address order, without listing them. */
export class Pool {
  readonly net: Cidr;
  private readonly base: bigint;
  /** Reserved offsets, merged and sorted. */
  private readonly reserved: Range[];
  readonly free: bigint;

  constructor(net: Cidr, reserved: Range[]) {
    this.net = networkOf(net);
    this.base = toBig(this.net.ip);
    const size = 1n << BigInt((net.family === 4 ? 32 : 128) - net.prefix);
    const sorted = reserved
      .map((r) => ({ lo: r.lo < 0n ? 0n : r.lo, hi: r.hi >= size ? size - 1n : r.hi }))
      .filter((r) => r.lo <= r.hi)
      .sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
    const merged: Range[] = [];
    for (const r of sorted) {
      const last = merged[merged.length - 1];
      if (last && r.lo <= last.hi + 1n) last.hi = r.hi > last.hi ? r.hi : last.hi;
      else merged.push({ ...r });
    }
    this.reserved = merged;
    this.free = size - merged.reduce((n, r) => n + (r.hi - r.lo + 1n), 0n);
  }

  /** The k-th free address (0-based) as `ADDRESS/PREFIX`. */
  address(k: bigint): string {
    let offset = k;
    for (const r of this.reserved) {
      if (r.lo <= offset) offset += r.hi - r.lo + 1n;
      else break;
    }
    return cidrText({ ip: fromBig(this.base + offset, this.net.family), prefix: this.net.prefix, family: this.net.family });
  }

  /** Offset of an address in the subnet, or null when outside it. */
  offsetOf(c: Cidr): bigint | null {
    return contains(this.net, c.ip) ? toBig(c.ip) - this.base : null;
  }
}

/** Builds the pool of `head`, or null when its text is invalid (the schema reports that). */
function buildPool(head: IfaceEntry): Pool | null {
  const spec = poolSpec(head.raw.pool!);
  const net = parseCidr(spec.subnet);
  if (!net) return null;
  const n = networkOf(net);
  const base = toBig(n.ip);
  const bits = (net.family === 4 ? 32 : 128) - net.prefix;
  const size = 1n << BigInt(bits);
  const reserved: Range[] = [{ lo: 0n, hi: 0n }];
  if (net.family === 4 && bits >= 2) reserved.push({ lo: size - 1n, hi: size - 1n });
  const probe = new Pool(net, []);
  for (const text of head.raw.addresses ?? []) {
    const c = parseCidr(text);
    const off = c ? probe.offsetOf(c) : null;
    if (off !== null) reserved.push({ lo: off, hi: off });
  }
  for (const text of spec.exclude ?? []) {
    const c = parseCidr(text) ?? (parseIp(text) ? { ip: parseIp(text)!, prefix: net.family === 4 ? 32 : 128, family: net.family } : null);
    if (!c || c.family !== net.family) continue;
    const lo = toBig(networkOf(c).ip) - base;
    const hi = lo + (1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix)) - 1n;
    reserved.push({ lo, hi });
  }
  return new Pool(net, reserved);
}

function hashOf(host: string, name: string): bigint {
  return BigInt(`0x${createHash('sha256').update(`pool\0${host}\0${name}`).digest('hex').slice(0, 24)}`);
}

/** Whether an interface takes pool addresses: on the segment, not a bridge or port, and no `addresses` written. */
function takesFromPool(e: IfaceEntry): boolean {
  return (
    e.kind !== 'bridge' && e.portOf === null && e.raw.bridge === undefined && e.raw.addresses === undefined && e.raw.pool === undefined
  );
}

/**
 * Hands out the addresses of every pool in the lab (see the top of this file) by writing them into
 * the interfaces' `addresses`. Reports exhaustion and clashes with written addresses.
 */
export function assignPools(ctx: LabContext): void {
  const heads = [...ctx.hosts.values()].flatMap((h) => [...h.ifaces.values()].filter((e) => e.raw.pool !== undefined));
  if (!heads.length) return;
  const segmentOf = new Map<IfaceEntry, IfaceEntry[]>();
  for (const seg of segments(ctx)) for (const e of seg) segmentOf.set(e, seg);
  const assigned = new Map<IfaceEntry, string[]>();
  for (const head of heads) {
    const pool = buildPool(head);
    if (!pool) continue;
    const label = `${head.host}:${head.name}`;
    const segment = segmentOf.get(head) ?? [head];
    const members = segment.filter((e) => e !== head && takesFromPool(e));
    const taken = new Map<bigint, IfaceEntry>();
    const give = (e: IfaceEntry, k: bigint) => {
      taken.set(k, e);
      assigned.set(e, [...(assigned.get(e) ?? []), pool.address(k)]);
    };
    const exhausted = (e: IfaceEntry, why: string) =>
      ctx.report(
        e.path,
        `the pool ${cidrText(pool.net)} of ${label} has no address left for ${e.host}:${e.name} (${pool.free} to hand out${why}): use a larger subnet or fewer hosts`,
        e.declared ? 'key' : 'value',
      );
    // 1. Template instances: by index.
    const templated = members
      .map((e) => ({ e, t: ctx.locator.templateOf(e.host) }))
      .filter((x): x is { e: IfaceEntry; t: { template: string; index: number; start: number } } => x.t !== undefined)
      .sort((a, b) =>
        a.t.template < b.t.template ? -1 : a.t.template > b.t.template ? 1 : a.t.index - b.t.index || cmp(a.e.name, b.e.name),
      );
    for (const { e, t } of templated) {
      let k = BigInt(t.index - t.start);
      while (taken.has(k) && k < pool.free) k++;
      if (k >= pool.free) {
        exhausted(e, `; ${e.host} is number ${t.index - t.start + 1} of template ${t.template}`);
        continue;
      }
      give(e, k);
    }
    // 2. Other hosts: by a hash of their names, in the upper half, probing upwards.
    const half = pool.free / 2n;
    const span = pool.free - half;
    const others = members
      .filter((e) => ctx.locator.templateOf(e.host) === undefined)
      .map((e) => ({ e, k: span > 0n ? half + (hashOf(e.host, e.name) % span) : 0n }))
      .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : cmp(`${a.e.host}:${a.e.name}`, `${b.e.host}:${b.e.name}`)));
    for (const { e, k: start } of others) {
      if (BigInt(taken.size) >= pool.free) {
        exhausted(e, '');
        continue;
      }
      let k = start;
      while (taken.has(k)) k = (k + 1n) % pool.free;
      give(e, k);
    }
    // 3. An address written elsewhere on the segment must not be one the pool hands out.
    const byAddress = new Map([...taken].map(([k, e]) => [pool.address(k).replace(/\/\d+$/, ''), e]));
    for (const e of segment) {
      if (e === head) continue;
      for (const [i, text] of (e.raw.addresses ?? []).entries()) {
        const c = parseCidr(text);
        const owner = c ? byAddress.get(c.ip.toString()) : undefined;
        if (!owner) continue;
        ctx.report(
          [...e.path, 'addresses', i],
          `address ${c!.ip.toString()} is handed out by the pool ${cidrText(pool.net)} of ${label} to ${owner.host}:${owner.name}: exclude it from the pool (pool: { subnet: ${cidrText(pool.net)}, exclude: [${c!.ip.toString()}] }) or write another`,
        );
        // Reported once here: the clash is not also a duplicate on the segment.
        assigned.delete(owner);
      }
    }
  }
  for (const [e, addresses] of assigned) e.raw = { ...e.raw, addresses };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
