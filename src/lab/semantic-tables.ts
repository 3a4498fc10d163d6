// Rules about a host's kernel tables beyond addresses and plain routes (policy routing, ECMP
// next hops, neighbour and fdb entries) and about pools: references defined, families
// consistent, gateways reachable.
import { contains, familyOf, isLinkLocal, parseCidr, parseIp, type Cidr } from './addr.js';
import type { HostEntry, IfaceEntry, LabContext } from './context.js';
import type { Path } from './locate.js';
import { rulePrefix } from './normalise-tables.js';
import { poolSpec } from './pool.js';

export function checkTables(ctx: LabContext): void {
  for (const host of ctx.hosts.values()) {
    checkRules(ctx, host);
    checkNexthops(ctx, host);
    for (const e of host.ifaces.values()) {
      if (!e.declared) continue;
      checkNeighbours(ctx, host, e);
      checkProxyNeighbours(ctx, e);
      checkFdb(ctx, host, e);
      checkPool(ctx, e);
    }
  }
}

function checkRules(ctx: LabContext, host: HostEntry): void {
  const seen = new Map<string, number>();
  for (const [i, r] of (host.raw.routing_policy ?? []).entries()) {
    const path: Path = [...host.path, 'routing_policy', i];
    if (r.iif !== undefined) ctx.iface(host, r.iif, [...path, 'iif']);
    if (r.oif !== undefined) ctx.iface(host, r.oif, [...path, 'oif']);
    if (r.table === 255) ctx.report([...path, 'table'], "table 255 is the kernel's local table: route into another table");
    const from = rulePrefix(r.from);
    const to = rulePrefix(r.to);
    if (from && to && from.family !== to.family)
      ctx.report([...path, 'to'], `from ${r.from} is IPv${from.family} but to ${r.to} is IPv${to.family}: a rule has one family`);
    const family = from?.family ?? to?.family ?? 4;
    if (family === 6 && host.raw.ipv6 === false) ctx.report(path, `IPv6 rule on host "${host.name}", which has ipv6: false`, 'key');
    if (family === 6 && !(from && from.prefix > 0) && !(to && to.prefix > 0))
      ctx.report(path, 'an IPv6 rule needs a from or to prefix longer than /0 (a rule without addresses is IPv4)', 'key');
    const key = JSON.stringify([r.priority, family, r.from, r.to, r.iif, r.oif, r.fwmark, r.table]);
    const first = seen.get(key);
    if (first !== undefined) ctx.report(path, `the same rule as routing_policy[${first}]`, 'key');
    else seen.set(key, i);
  }
}

function subnetsOf(host: HostEntry, dev: IfaceEntry | null | undefined): Cidr[] {
  const candidates = dev ? [dev] : [...host.ifaces.values()];
  return candidates.flatMap((e) => (e.raw.addresses ?? []).map((a) => parseCidr(a)).filter((c): c is Cidr => c !== null));
}

function checkNexthops(ctx: LabContext, host: HostEntry): void {
  for (const [i, route] of (host.raw.routes ?? []).entries()) {
    if (!route.nexthops) continue;
    const path: Path = [...host.path, 'routes', i];
    if (route.via !== undefined || route.dev !== undefined || route.onlink !== undefined)
      ctx.report([...path, 'nexthops'], 'nexthops replace via, dev and onlink: give each next hop its own', 'key');
    const to = route.to === 'default' ? null : parseCidr(route.to);
    const seen = new Set<string>();
    for (const [j, n] of route.nexthops.entries()) {
      const at: Path = [...path, 'nexthops', j];
      const via = parseIp(n.via);
      if (!via) continue;
      const dev = n.dev === undefined ? null : ctx.iface(host, n.dev, [...at, 'dev']);
      const family = to?.family ?? familyOf(route.nexthops[0] ? (parseIp(route.nexthops[0].via) ?? via) : via);
      if (familyOf(via) !== family) {
        ctx.report([...at, 'via'], `next hop ${n.via} is IPv${familyOf(via)} but the route is IPv${family}`);
        continue;
      }
      const key = `${via.toString()}%${n.dev ?? ''}`;
      if (seen.has(key)) ctx.report([...at, 'via'], `next hop ${n.via} is listed twice`);
      seen.add(key);
      if (n.onlink || (n.dev !== undefined && !dev)) continue;
      if (isLinkLocal(via)) {
        if (n.dev === undefined) ctx.report([...at, 'via'], `link-local gateway ${n.via} needs dev: it is reachable on every link`);
        continue;
      }
      if (!subnetsOf(host, dev).some((s) => contains(s, via)))
        ctx.report(
          [...at, 'via'],
          `gateway ${n.via} is not on a connected subnet of ${dev ? `interface "${dev.name}" of ` : ''}host "${host.name}"; set onlink: true if that is intended`,
        );
    }
  }
}

/** `HOST:IF` in a `mac` must name an interface of the lab. */
function checkMacRef(ctx: LabContext, text: string, path: Path): void {
  if (/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text)) return;
  const colon = text.indexOf(':');
  const other = ctx.host(text.slice(0, colon), path);
  if (other) ctx.iface(other, text.slice(colon + 1), path);
}

function checkNeighbours(ctx: LabContext, host: HostEntry, e: IfaceEntry): void {
  const seen = new Set<string>();
  for (const [i, n] of (e.raw.neighbours ?? []).entries()) {
    const path: Path = [...e.path, 'neighbours', i];
    checkMacRef(ctx, n.mac, [...path, 'mac']);
    const ip = parseIp(n.address);
    if (!ip) continue;
    if (seen.has(ip.toString())) ctx.report([...path, 'address'], `neighbour ${n.address} is listed twice on "${e.name}"`);
    seen.add(ip.toString());
    if (familyOf(ip) === 6 && host.raw.ipv6 === false)
      ctx.report([...path, 'address'], `IPv6 neighbour ${n.address} on host "${host.name}", which has ipv6: false`);
  }
}

/** A proxy entry answers in its own family: the interface must have an address of it (IPv6 is off on one without). */
function checkProxyNeighbours(ctx: LabContext, e: IfaceEntry): void {
  if (!e.raw.proxy_neigh?.length) return;
  const seen = new Set<string>();
  const families = new Set((e.raw.addresses ?? []).flatMap((a) => (parseCidr(a) ? [familyOf(parseCidr(a)!.ip)] : [])));
  for (const [i, text] of (e.raw.proxy_neigh ?? []).entries()) {
    const path: Path = [...e.path, 'proxy_neigh', i];
    const ip = parseIp(text);
    if (!ip) continue;
    if (seen.has(ip.toString())) ctx.report(path, `proxy neighbour ${text} is listed twice on "${e.name}"`);
    seen.add(ip.toString());
    const family = familyOf(ip);
    if (!families.has(family))
      ctx.report(path, `proxy neighbour ${text} is IPv${family}, but "${e.name}" has no IPv${family} address: give it one in addresses`);
  }
}

function checkFdb(ctx: LabContext, host: HostEntry, e: IfaceEntry): void {
  const entries = e.raw.fdb ?? [];
  if (!entries.length) return;
  const isPort = e.raw.bridge !== undefined;
  if (e.kind !== 'vxlan' && !isPort) {
    ctx.report(
      [...e.path, 'fdb'],
      `fdb entries belong on a VXLAN (with dst) or on a bridge port (an interface with bridge: BRIDGE); "${e.name}" is neither`,
      'key',
    );
    return;
  }
  const local = e.raw.local === undefined ? null : parseIp(e.raw.local);
  const seen = new Set<string>();
  for (const [i, f] of entries.entries()) {
    const path: Path = [...e.path, 'fdb', i];
    checkMacRef(ctx, f.mac, [...path, 'mac']);
    if (e.kind === 'vxlan') {
      if (f.dst === undefined) ctx.report(path, 'an fdb entry of a VXLAN needs dst: the remote VTEP for this MAC', 'key');
      if (f.vlan !== undefined)
        ctx.report([...path, 'vlan'], 'vlan belongs to entries on a port of a VLAN-filtering bridge, not on a VXLAN', 'key');
      const dst = f.dst === undefined ? null : parseIp(f.dst);
      if (dst && local && familyOf(dst) !== familyOf(local))
        ctx.report([...path, 'dst'], `dst ${f.dst} is IPv${familyOf(dst)} but local ${e.raw.local} is IPv${familyOf(local)}`);
    } else {
      if (f.dst !== undefined) ctx.report([...path, 'dst'], 'dst is for VXLAN entries; a bridge port entry has only mac (and vlan)', 'key');
      const bridge = host.ifaces.get(e.raw.bridge!.slice(e.raw.bridge!.indexOf(':') + 1));
      if (f.vlan !== undefined && bridge?.kind === 'bridge' && bridge.raw.vlan_filtering !== true)
        ctx.report([...path, 'vlan'], `vlan needs vlan_filtering: true on bridge "${bridge.name}"`, 'key');
    }
    const key = `${f.mac.toLowerCase()}/${f.dst ?? ''}/${f.vlan ?? ''}`;
    if (seen.has(key)) ctx.report(path, `the same fdb entry is listed twice on "${e.name}"`, 'key');
    seen.add(key);
  }
}

function checkPool(ctx: LabContext, e: IfaceEntry): void {
  if (e.raw.pool === undefined) return;
  const spec = poolSpec(e.raw.pool);
  const net = parseCidr(spec.subnet);
  if (!net) return;
  const at: Path = [...e.path, 'pool', ...(typeof e.raw.pool === 'string' ? [] : ['subnet'])];
  if (net.prefix === (net.family === 4 ? 32 : 128)) ctx.report(at, `pool ${spec.subnet} holds one address: give it a subnet`);
  for (const [i, x] of (spec.exclude ?? []).entries()) {
    const c = rulePrefix(x);
    if (c && c.family !== net.family)
      ctx.report([...e.path, 'pool', 'exclude', i], `exclude ${x} is IPv${c.family} but the pool ${spec.subnet} is IPv${net.family}`);
  }
}
