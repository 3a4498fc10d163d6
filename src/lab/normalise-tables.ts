// Normalisation of a host's kernel tables beyond addresses and plain routes: policy routing
// rules, ECMP next hops, neighbour and fdb entries, and per-interface sysctls (the rules in
// semantic-tables.ts already checked them).
import { familyOf, networkText, parseCidr, parseIp, type Cidr } from './addr.js';
import type { HostEntry, IfaceEntry, LabContext } from './context.js';
import { deterministicMac } from './names.js';
import type { FdbEntry, Neighbour, Nexthop, RoutingRule } from './types.js';

/** An address or CIDR as a prefix (`10.0.0.5` -> 10.0.0.5/32), or null when it is the whole family. */
export function rulePrefix(text: string | undefined): Cidr | null {
  if (text === undefined) return null;
  const c = parseCidr(text);
  if (c) return c;
  const ip = parseIp(text);
  return ip ? { ip, prefix: familyOf(ip) === 4 ? 32 : 128, family: familyOf(ip) } : null;
}

/** `0x10` or `0x10/0xff` (hex, as ip prints them; a full mask is left out). */
export function fwmarkText(v: number | string | undefined): string | null {
  if (v === undefined) return null;
  const [mark, mask] = String(v).split('/');
  const hex = (t: string) => `0x${Number(t).toString(16)}`;
  const m = hex(mark!);
  return mask === undefined || Number(mask) === 0xffffffff ? m : `${m}/${hex(mask)}`;
}

export function normaliseRules(ctx: LabContext, host: HostEntry): RoutingRule[] | undefined {
  const rules = host.raw.routing_policy ?? [];
  if (!rules.length) return undefined;
  return rules.map((r, i) => {
    const from = rulePrefix(r.from);
    const to = rulePrefix(r.to);
    return {
      priority: r.priority,
      family: from?.family ?? to?.family ?? 4,
      from: from && from.prefix > 0 ? networkText(from) : null,
      to: to && to.prefix > 0 ? networkText(to) : null,
      iif: r.iif === undefined ? null : ctx.kernelNameOf(host, r.iif),
      oif: r.oif === undefined ? null : ctx.kernelNameOf(host, r.oif),
      fwmark: fwmarkText(r.fwmark),
      table: r.table,
      pos: ctx.locator.source([...host.path, 'routing_policy', i]),
    };
  });
}

export function normaliseNexthops(ctx: LabContext, host: HostEntry, index: number): Nexthop[] | undefined {
  const raw = host.raw.routes![index]!;
  if (!raw.nexthops) return undefined;
  return raw.nexthops.map((n) => ({
    via: parseIp(n.via)!.toString(),
    dev: n.dev === undefined ? null : ctx.kernelNameOf(host, n.dev),
    weight: n.weight ?? 1,
    onlink: n.onlink ?? false,
  }));
}

/** The MAC a `mac` value means: itself, or the MAC of the lab interface `HOST:IF` names. */
export function resolveMac(ctx: LabContext, text: string): string {
  if (/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text)) return text.toLowerCase();
  const colon = text.indexOf(':');
  const host = text.slice(0, colon);
  const name = text.slice(colon + 1);
  const e = ctx.hosts.get(host)?.ifaces.get(name);
  return e?.raw.mac?.toLowerCase() ?? deterministicMac(ctx.name, host, name);
}

/** `ipv4.rp_filter` on eth0.10 -> net.ipv4.conf.eth0/10.rp_filter (sysctl(8)'s way of writing dots in names). */
export function interfaceSysctlKey(key: string, ifname: string): string {
  const [family, ...rest] = key.split('.');
  const dev = ifname.replace(/\./g, '/');
  return rest[0] === 'neigh' ? `net.${family}.neigh.${dev}.${rest.slice(1).join('.')}` : `net.${family}.conf.${dev}.${rest.join('.')}`;
}

type IfaceTables = { neighbours?: Neighbour[]; proxyNeigh?: string[]; fdb?: FdbEntry[]; sysctls?: Record<string, string> };

export function normaliseIfaceTables(ctx: LabContext, e: IfaceEntry, ifname: string): IfaceTables {
  const raw = e.raw;
  const out: IfaceTables = {};
  if (raw.neighbours?.length)
    out.neighbours = raw.neighbours.map((n) => ({ address: parseIp(n.address)!.toString(), mac: resolveMac(ctx, n.mac) }));
  if (raw.proxy_neigh?.length) out.proxyNeigh = raw.proxy_neigh.map((a) => parseIp(a)!.toString());
  if (raw.fdb?.length)
    out.fdb = raw.fdb.map((f) => ({
      mac: resolveMac(ctx, f.mac),
      dst: f.dst === undefined ? null : parseIp(f.dst)!.toString(),
      vlan: f.vlan ?? null,
    }));
  if (raw.sysctls && Object.keys(raw.sysctls).length)
    out.sysctls = Object.fromEntries(Object.entries(raw.sysctls).map(([k, v]) => [interfaceSysctlKey(k, ifname), String(v)]));
  return out;
}
