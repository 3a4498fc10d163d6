// Rules about addresses: an interface address is a host's (not /0, not a network address), no
// address twice and no mismatched prefixes on one L2 segment, no subnet on two segments of one
// host, route destinations are networks, gateways reachable, and no IPv6 where the host turned it off.
import {
  blockOf,
  cidrText,
  contains,
  familyBits,
  familyOf,
  firstHostOf,
  ipNumber,
  ipText,
  isLinkLocal,
  isNetworkAddress,
  networkOf,
  networkText,
  parseCidr,
  parseIp,
  type Cidr,
} from './addr.js';
import type { HostEntry, IfaceEntry, LabContext } from './context.js';
import type { Path } from './locate.js';

/**
 * L2 segments: a veth pair, a bridge with everything attached to it through its ports and their
 * veth peers, and MACVLAN/IPVLAN/MACVTAP devices with their parent (they share its wire). Each
 * segment's interfaces in the order they are first met (pool.ts takes them so).
 */
export function segments(ctx: LabContext): IfaceEntry[][] {
  return segmentGroups(ctx).byMeeting;
}

/**
 * The segments in the order of `segments`, each also with its interfaces in file order (hosts,
 * then their interfaces), which the address rules report in. A union-find over interface
 * numbers: a lab may have 200k interfaces, all on one bridge.
 */
function segmentGroups(ctx: LabContext): { byMeeting: IfaceEntry[][]; inFileOrder: IfaceEntry[][] } {
  const all = ctx.interfaces;
  // parent[i] is -1 until interface i is met; met lists them in that order.
  const parent = new Int32Array(all.length).fill(-1);
  const met: number[] = [];
  const find = (i: number): number => {
    if (parent[i] === -1) {
      parent[i] = i;
      met.push(i);
    }
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  const union = (i: number, other: IfaceEntry | undefined) => {
    if (other !== undefined) parent[find(i)] = find(other.seq);
  };
  for (const host of ctx.hosts.values()) {
    for (const e of host.ifaces.values()) {
      const i = e.seq;
      find(i);
      union(i, ctx.peer(e));
      const bridge = e.portOf ?? e.raw.bridge;
      if (bridge !== undefined) union(i, localOrRemote(ctx, host, bridge));
      if (e.raw.parent !== undefined && (e.kind === 'macvlan' || e.kind === 'macvtap' || e.kind === 'ipvlan')) {
        union(i, localOrRemote(ctx, host, e.raw.parent));
      }
    }
  }
  // Segments are numbered in the order their first interface was met.
  const groupOf = new Int32Array(all.length).fill(-1);
  const byMeeting: IfaceEntry[][] = [];
  const inFileOrder: IfaceEntry[][] = [];
  for (const i of met) {
    const root = find(i);
    if (groupOf[root] === -1) {
      groupOf[root] = byMeeting.length;
      byMeeting.push([]);
      inFileOrder.push([]);
    }
    byMeeting[groupOf[root]!]!.push(all[i]!);
  }
  for (const [i, e] of all.entries()) inFileOrder[groupOf[find(i)]!]!.push(e);
  return { byMeeting, inFileOrder };
}

function localOrRemote(ctx: LabContext, host: HostEntry, ref: string): IfaceEntry | undefined {
  const colon = ref.indexOf(':');
  if (colon < 0) return host.ifaces.get(ref);
  return ctx.hosts.get(ref.slice(0, colon))?.ifaces.get(ref.slice(colon + 1));
}

/** An address on a segment; its path and where it is written are made only for a message. */
interface Placed {
  cidr: Cidr;
  text: string;
  entry: IfaceEntry;
  index: number;
  order: number;
}

function placedPath(p: Placed): Path {
  return [...p.entry.path, 'addresses', p.index];
}

function bigintOf(c: Cidr): bigint {
  return c.ip.toByteArray().reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

/**
 * An interface address names the interface's own address and its subnet: `/0` is every address,
 * and a network address (host bits zero) is no host's; both are what apply would refuse or
 * misroute, so they are caught here with the address that was probably meant.
 */
export function checkHostAddresses(ctx: LabContext): void {
  for (const host of ctx.hosts.values()) {
    for (const { entry, index, text } of ctx.addressesOf(host)) {
      const cidr = parseCidr(text);
      if (!cidr || (cidr.prefix > 0 && !isNetworkAddress(cidr))) continue;
      const path: Path = [...entry.path, 'addresses', index];
      if (cidr.prefix === 0) {
        const example = cidr.family === 4 ? '10.0.0.1/24' : 'fd00::1/64';
        ctx.report(
          path,
          `${text} is not a host address: /0 is every address; write the interface's own address and its subnet's prefix, e.g. ${example}`,
        );
      } else if (isNetworkAddress(cidr)) {
        ctx.report(path, `${text} is the network address of its subnet, not a host address (did you mean ${cidrText(firstHostOf(cidr))}?)`);
      }
    }
  }
}

/** Interface addresses the segment rules look at: /0 is reported by checkHostAddresses, not as an overlap with everything. */
function subnetAddress(text: string): Cidr | null {
  const cidr = parseCidr(text);
  return cidr && cidr.prefix > 0 ? cidr : null;
}

/** Duplicate addresses and overlapping-but-different subnets within each segment, and subnets shared by two segments of a host. */
export function checkSegments(ctx: LabContext): void {
  // Interfaces in file order, so the second occurrence is the one reported.
  const all = segmentGroups(ctx).inFileOrder;
  for (const segment of all) {
    const placed: Placed[] = [];
    for (const e of segment) {
      for (const [i, text] of (e.raw.addresses ?? []).entries()) {
        const cidr = subnetAddress(text);
        if (cidr) placed.push({ cidr, text, entry: e, index: i, order: placed.length });
      }
    }
    const kept: Placed[] = [];
    // By the address as a number: a segment may hold 100k addresses.
    const byIp = new Map<number | bigint, Placed>();
    for (const p of placed) {
      const key = ipNumber(p.cidr.ip);
      const first = byIp.get(key);
      if (first)
        ctx.report(placedPath(p), `address ${ipText(p.cidr.ip)} is already used by ${ctx.where(first.entry)} on the same L2 segment`);
      else {
        byIp.set(key, p);
        kept.push(p);
      }
    }
    checkOverlaps(ctx, kept);
  }
  checkHostSubnets(ctx, all);
}

/**
 * A host routes each connected subnet out of one interface: the same or nested subnets on two of
 * its L2 segments (docker0 172.17.0.1/16 and an uplink 172.17.5.1/24) make one of them
 * unreachable. Single addresses (/32, /128) are not subnets and may sit anywhere. Blocks nest or
 * are disjoint, so a sweep in address order with a stack of the enclosing blocks finds each
 * overlap in linear time after the sort.
 */
function checkHostSubnets(ctx: LabContext, all: IfaceEntry[][]): void {
  // Built on first use: in a big lab most hosts have one address, and none may need it.
  let segments: Map<IfaceEntry, number> | undefined;
  const segmentOf = () => {
    if (segments) return segments;
    segments = new Map();
    for (const [i, seg] of all.entries()) for (const e of seg) segments.set(e, i);
    return segments;
  };
  for (const host of ctx.hosts.values()) {
    // Most hosts of a big lab have one address: nothing to compare.
    let count = 0;
    for (const e of host.ifaces.values()) count += e.raw.addresses?.length ?? 0;
    if (count < 2) continue;
    const nets: { p: Placed; net: Cidr; start: bigint; end: bigint; segment: number }[] = [];
    for (const { entry, index, text } of ctx.addressesOf(host)) {
      const cidr = subnetAddress(text);
      if (!cidr || cidr.prefix === familyBits(cidr.family)) continue;
      const net = networkOf(cidr);
      const start = bigintOf(net);
      const p: Placed = { cidr, text, entry, index, order: nets.length };
      const size = 1n << BigInt(familyBits(cidr.family) - cidr.prefix);
      // Families apart: an IPv4 block never encloses an IPv6 one.
      const base = cidr.family === 6 ? 1n << 128n : 0n;
      nets.push({ p, net, start: base + start, end: base + start + size - 1n, segment: segmentOf().get(entry) ?? -1 });
    }
    if (nets.length < 2) continue;
    nets.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.net.prefix - b.net.prefix || a.p.order - b.p.order));
    const stack: typeof nets = [];
    for (const n of nets) {
      while (stack.length && stack[stack.length - 1]!.end < n.start) stack.pop();
      const other = stack.find((s) => s.segment !== n.segment);
      if (other) {
        const [early, late] = other.p.order < n.p.order ? [other.p, n.p] : [n.p, other.p];
        ctx.report(
          placedPath(late),
          `subnet ${networkText(late.cidr)} of ${late.text} (${ctx.where(late.entry)}) overlaps ${networkText(early.cidr)} of ${early.text} (${ctx.where(early.entry)}), which is on another L2 segment of host "${host.name}": the host could route only one of them; use disjoint subnets`,
        );
      } else stack.push(n);
    }
  }
}

/** A route's destination is a network: host bits in it are a typo the kernel would silently clear. */
export function checkRouteDestinations(ctx: LabContext): void {
  for (const host of ctx.hosts.values()) {
    for (const [i, route] of (host.raw.routes ?? []).entries()) {
      const to = route.to === 'default' ? null : parseCidr(route.to);
      if (!to || networkText(to) === cidrText(to)) continue;
      ctx.report(
        [...host.path, 'routes', i, 'to'],
        `destination ${route.to} has host bits set: a route's destination is a network (did you mean ${networkText(to)}?)`,
      );
    }
  }
}

/**
 * CIDR blocks either nest or are disjoint, so after sorting by start address (shorter prefix
 * first) a block overlaps an earlier one exactly when it lies inside the last block that was
 * not itself inside another. Linear after the sort: labs may be large.
 */
function checkOverlaps(ctx: LabContext, placed: Placed[]): void {
  for (const family of [4, 6] as const) {
    const nets = placed
      .filter((p) => p.cidr.family === family)
      .map((p) => {
        const { start, end } = blockOf(p.cidr);
        return { p, start, end };
      })
      .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.p.cidr.prefix - b.p.cidr.prefix || a.p.order - b.p.order));
    let outer: (typeof nets)[number] | null = null;
    for (const n of nets) {
      // Sorted by start: n lies in outer's block when it starts before outer's end.
      const inside = outer !== null && n.start <= outer.end;
      if (outer && inside && n.p.cidr.prefix !== outer.p.cidr.prefix) {
        const [early, late] = outer.p.order < n.p.order ? [outer.p, n.p] : [n.p, outer.p];
        ctx.report(
          placedPath(late),
          `address ${late.text} overlaps ${early.text} (${ctx.where(early.entry)}) on the same L2 segment with a different prefix length`,
        );
      } else if (!inside) outer = n;
    }
  }
}

/** A gateway must be on a subnet of the host (of `dev` when given), unless the route is onlink. */
export function checkGateways(ctx: LabContext): void {
  for (const host of ctx.hosts.values()) {
    for (const [i, route] of (host.raw.routes ?? []).entries()) {
      const via = route.via === undefined ? null : parseIp(route.via);
      if (!via) continue;
      // Made for a message only: a big lab has a route per host.
      const at = (): Path => [...host.path, 'routes', i, 'via'];
      const to = route.to === 'default' ? null : parseCidr(route.to);
      if (to && to.family !== familyOf(via)) {
        ctx.report(at(), `gateway ${route.via} is IPv${familyOf(via)} but the destination ${route.to} is IPv${to.family}`);
        continue;
      }
      if (route.onlink) continue;
      if (isLinkLocal(via)) {
        if (route.dev === undefined) ctx.report(at(), `link-local gateway ${route.via} needs dev: it is reachable on every link`);
        continue;
      }
      const dev = route.dev === undefined ? null : host.ifaces.get(route.dev);
      if (route.dev !== undefined && !dev) continue; // reported as an unknown interface
      const candidates = dev ? [dev] : [...host.ifaces.values()];
      // Most gateways are on the first subnet looked at: the list below is for the message.
      if (
        candidates.some((e) =>
          e.raw.addresses?.some((a) => {
            const c = parseCidr(a);
            return c !== null && contains(c, via);
          }),
        )
      )
        continue;
      const subnets = candidates.flatMap((e) => (e.raw.addresses ?? []).map((a) => parseCidr(a)).filter((c): c is Cidr => c !== null));
      if (subnets.some((s) => contains(s, via))) continue;
      const connected = subnets.filter((s) => s.family === familyOf(via)).map((s) => `${networkOf(s).ip.toString()}/${s.prefix}`);
      const on = dev ? `interface "${dev.name}" of host "${host.name}"` : `host "${host.name}"`;
      ctx.report(
        at(),
        `gateway ${route.via} is not on a connected subnet of ${on} (${connected.length > 0 ? `connected: ${[...new Set(connected)].join(', ')}` : 'no connected subnet'}); set onlink: true if that is intended`,
      );
    }
  }
}

/** A host that says `ipv6: false` may not carry IPv6 addresses or routes. */
export function checkIpv6(ctx: LabContext): void {
  for (const host of ctx.hosts.values()) {
    if (host.raw.ipv6 !== false) continue;
    for (const { entry, index, text } of ctx.addressesOf(host)) {
      if (parseCidr(text)?.family === 6) {
        ctx.report([...entry.path, 'addresses', index], `IPv6 address ${text} on host "${host.name}", which has ipv6: false`);
      }
    }
    for (const [i, route] of (host.raw.routes ?? []).entries()) {
      const v6 = parseCidr(route.to)?.family === 6 || (route.via !== undefined && parseIp(route.via)?.kind() === 'ipv6');
      if (v6) ctx.report([...host.path, 'routes', i], `IPv6 route on host "${host.name}", which has ipv6: false`, 'key');
    }
  }
}
