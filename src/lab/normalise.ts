// Builds the normalised Lab from a context that passed every rule: defaults filled in,
// references turned into kernel names, addresses canonical. Lookups here cannot fail because
// the rules already checked them; a failure would be a bug, so it throws.
import { cidrText, familyOf, networkText, parseCidr, parseIp } from './addr.js';
import { normaliseConditions } from './conditions.js';
import type { HostEntry, IfaceEntry, LabContext } from './context.js';
import { normaliseExpect } from './expect.js';
import { normaliseMatrices } from './expect-matrix.js';
import { normaliseMachines, placeHosts } from './machines.js';
import { normaliseNetworkPolicies } from './netpol.js';
import { deterministicMac, labNetnsName, ROOT_NS } from './names.js';
import { normaliseProcesses } from './normalise-processes.js';
import { normaliseIfaceTables, normaliseNexthops, normaliseRules } from './normalise-tables.js';
import { normalisePolicy } from './normalise-policy.js';
import type { RawNetns } from './raw.js';
import type { Host, Interface, Lab, NetnsRef, Route } from './types.js';
import { InternalError } from '../errors.js';

const DEFAULT_MTU = 1500;
const MAIN_TABLE = 254;

export function normalise(ctx: LabContext): Lab {
  const placed = placeHosts(ctx.raw);
  const hosts = [...ctx.hosts.values()]
    .sort((a, b) => cmp(a.name, b.name))
    .map((h) => {
      const host = normaliseHost(ctx, h);
      const machine = placed.get(h.name);
      return machine === undefined ? host : { ...host, machine };
    });
  // Pod policies need every host's services: a host that DNATs them checks pods' egress after it.
  const { pods, serviceEgress } = normaliseNetworkPolicies(ctx, hosts);
  for (const h of hosts) {
    const p = pods.get(h.name);
    if (p) h.podPolicy = p;
    if (serviceEgress.length && h.policy?.services.length) h.serviceEgress = serviceEgress;
  }
  const matrices = normaliseMatrices(ctx);
  const machines = normaliseMachines(ctx);
  return {
    name: ctx.name,
    file: ctx.locator.file,
    owner: ctx.raw.owner ?? null,
    allowRoot: ctx.raw.root ?? false,
    hosts,
    expect: normaliseExpect(ctx),
    ...(matrices.length ? { matrices } : {}),
    ...(ctx.inputs.length ? { inputs: ctx.inputs } : {}),
    pos: ctx.locator.source(['name']),
    ...(machines ? { machines } : {}),
    ...(machines && ctx.policies.length
      ? { networkPolicies: ctx.policies.map((p) => ({ name: p.name, namespace: p.namespace, ...structuredClone(p.spec) })) }
      : {}),
  };
}

/** Plain code-unit order: stable across locales, unlike localeCompare. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function netnsRef(lab: string, host: string, raw: RawNetns | undefined): NetnsRef {
  if (raw === undefined) return { kind: 'lab', name: labNetnsName(lab, host) };
  if (raw === 'root') return { kind: 'root' };
  if ('name' in raw) return { kind: 'named', name: raw.name };
  if ('path' in raw) return { kind: 'path', path: raw.path, handle: labNetnsName(lab, host) };
  return { kind: 'pid', pid: raw.pid, handle: labNetnsName(lab, host) };
}

/** The key the engine uses for a namespace: its /run/netns name, or '' for the machine's own. */
export function nsKey(netns: NetnsRef): string {
  switch (netns.kind) {
    case 'lab':
    case 'named':
      return netns.name;
    case 'path':
    case 'pid':
      return netns.handle;
    case 'root':
      return ROOT_NS;
  }
}

function normaliseHost(ctx: LabContext, host: HostEntry): Host {
  const raw = host.raw;
  const netns = netnsRef(ctx.name, host.name, raw.netns);
  const interfaces = [...host.ifaces.values()].sort((a, b) => cmp(a.name, b.name)).map((e) => normaliseInterface(ctx, host, e));
  const routes = (raw.routes ?? []).map((r, i) => normaliseRoute(ctx, host, i));
  const rules = normaliseRules(ctx, host);
  const anyV6 =
    interfaces.some((i) => i.addresses.some((a) => a.includes(':')) || (i.neighbours ?? []).some((n) => n.address.includes(':'))) ||
    routes.some((r) => r.family === 6) ||
    (rules ?? []).some((r) => r.family === 6);
  const processes = normaliseProcesses(ctx, host);
  const name = host.name;
  const ns = nsKey(netns);
  const ipv6 = raw.ipv6 ?? anyV6;
  const sysctls = raw.sysctls === undefined ? {} : Object.fromEntries(Object.entries(raw.sysctls).map(([k, v]) => [k, String(v)]));
  const policy = normalisePolicy(ctx, host);
  const pos = ctx.locator.source(host.path);
  // Written out whole when nothing is optional: a spread inside a literal keeps the members out of line.
  if (!rules && !processes) return { name, netns, ns, ipv6, sysctls, interfaces, routes, policy, pos };
  return {
    name,
    netns,
    ns,
    ipv6,
    sysctls,
    interfaces,
    routes,
    policy,
    ...(rules ? { rules } : {}),
    ...(processes ? { processes } : {}),
    pos,
  };
}

/** An address as written when that is already its canonical text: one string, not a copy per host. */
function addressText(text: string): string {
  return sameText(cidrText(parseCidr(text)!), text);
}

function normaliseInterface(ctx: LabContext, host: HostEntry, e: IfaceEntry): Interface {
  const raw = e.raw;
  const bridge = e.portOf ?? raw.bridge;
  const parent = () => {
    const p = ctx.resolved(host, raw.parent!);
    return { host: p.host, ifname: ctx.kernelName(p) };
  };
  // Looked up once: in a big star every peer is a port of one hub among 100k hosts.
  const peer = ctx.peer(e);
  const ifname = ctx.kernelName(e, host);
  const altname = ctx.altname(e, host);
  const mtu = mtuOf(ctx, host, e, 0, peer);
  const mac = raw.mac?.toLowerCase() ?? deterministicMacOf(ctx, e);
  const addresses = raw.addresses === undefined ? [] : raw.addresses.map(addressText);
  const master = bridge === undefined ? null : ctx.kernelNameOf(host, bridge);
  const vlans = raw.vlans ? { ...(raw.vlans.pvid !== undefined ? { pvid: raw.vlans.pvid } : {}), tagged: raw.vlans.tagged ?? [] } : null;
  const up = raw.up ?? true;
  const conditions = normaliseConditions(ctx, e);
  const tables = normaliseIfaceTables(ctx, e, ifname);
  const pos = ctx.locator.source(e.path);
  // No table at all (normaliseIfaceTables sets only those the interface has).
  const plain = Object.keys(tables).length === 0;
  // The kinds a big lab is made of, written out whole: a literal with a spread inside keeps its
  // members out of line, and a lab of 100k hosts has two such objects per host.
  if (plain && e.kind === 'veth') {
    if (!peer) throw new InternalError(`veth ${host.name}:${e.name} has no peer`);
    const to = { host: peer.host, ifname: ctx.kernelName(peer) };
    const name = e.name;
    return { kind: 'veth', host: host.name, name, ifname, altname, mtu, mac, addresses, master, vlans, up, conditions, pos, peer: to };
  }
  if (plain && e.kind === 'bridge') {
    const [stp, ageing, vlanFiltering] = [raw.stp ?? false, raw.ageing ?? 300, raw.vlan_filtering ?? false];
    const name = e.name;
    return {
      kind: 'bridge',
      host: host.name,
      name,
      ifname,
      altname,
      mtu,
      mac,
      addresses,
      master,
      vlans,
      up,
      conditions,
      pos,
      stp,
      ageing,
      vlanFiltering,
    };
  }
  const base = { host: host.name, name: e.name, ifname, altname, mtu, mac, addresses, master, vlans, up, conditions, ...tables, pos };
  switch (e.kind) {
    case 'veth': {
      if (!peer) throw new InternalError(`veth ${host.name}:${e.name} has no peer`);
      return { kind: 'veth', ...base, peer: { host: peer.host, ifname: ctx.kernelName(peer) } };
    }
    case 'bridge':
      return { kind: 'bridge', ...base, stp: raw.stp ?? false, ageing: raw.ageing ?? 300, vlanFiltering: raw.vlan_filtering ?? false };
    case 'vlan':
      return { kind: 'vlan', ...base, parent: parent(), id: raw.id!, protocol: raw.protocol ?? '802.1Q' };
    case 'macvlan':
    case 'macvtap':
      return { kind: e.kind, ...base, parent: parent(), mode: (raw.mode ?? 'bridge') as 'bridge' | 'private' | 'vepa' | 'passthru' };
    case 'ipvlan':
      return { kind: 'ipvlan', ...base, parent: parent(), mode: (raw.mode ?? 'l2') as 'l2' | 'l3' | 'l3s', flag: raw.flag ?? 'bridge' };
    case 'tap':
      return { kind: 'tap', ...base, user: raw.user ?? null, group: typeof raw.group === 'number' ? raw.group : null };
    case 'vxlan':
      return {
        kind: 'vxlan',
        ...base,
        vni: raw.vni!,
        port: raw.port ?? 4789,
        local: raw.local === undefined ? null : parseIp(raw.local)!.toString(),
        group: typeof raw.group === 'string' ? parseIp(raw.group)!.toString() : null,
        dev: raw.dev === undefined ? null : ctx.kernelNameOf(host, raw.dev),
        remotes: (raw.remotes ?? []).map((r) => parseIp(r)!.toString()),
        learning: raw.learning ?? true,
      };
  }
}

/** VXLAN encapsulation overhead the kernel subtracts from the underlay's MTU (IPv4, IPv6). */
export const VXLAN_HEADROOM = { 4: 50, 6: 70 } as const;

/** The highest MTU the kernel allows a device stacked on another: the parent's, or the underlay's minus VXLAN's headroom. */
export function mtuLimit(ctx: LabContext, host: HostEntry, e: IfaceEntry, depth = 0): { limit: number; of: IfaceEntry } | null {
  if (depth >= 8) return null;
  if (e.kind === 'vxlan') {
    const under = e.raw.dev === undefined ? undefined : host.ifaces.get(e.raw.dev);
    if (!under) return null;
    const v6 = [e.raw.local, typeof e.raw.group === 'string' ? e.raw.group : undefined].some((a) => a?.includes(':'));
    return { limit: Math.max(68, mtuOf(ctx, host, under, depth + 1) - VXLAN_HEADROOM[v6 ? 6 : 4]), of: under };
  }
  if (e.raw.parent === undefined || e.kind === 'veth' || e.kind === 'bridge' || e.kind === 'tap') return null;
  const colon = e.raw.parent.indexOf(':');
  const owner = colon < 0 ? host : ctx.hosts.get(e.raw.parent.slice(0, colon));
  const parent = owner?.ifaces.get(colon < 0 ? e.raw.parent : e.raw.parent.slice(colon + 1));
  return owner && parent ? { limit: mtuOf(ctx, owner, parent, depth + 1), of: parent } : null;
}

export function mtuOf(ctx: LabContext, host: HostEntry, e: IfaceEntry, depth = 0, peer = ctx.peer(e)): number {
  // A veth end follows its link, then its peer, so both ends agree unless told otherwise.
  const written = e.raw.mtu ?? e.link?.mtu ?? peer?.raw.mtu;
  if (written !== undefined) return written;
  // A device stacked on another gets its parent's MTU (a VXLAN: the underlay's minus the
  // headroom), as the kernel gives it, and could not exceed it.
  return mtuLimit(ctx, host, e, depth)?.limit ?? DEFAULT_MTU;
}

function deterministicMacOf(ctx: LabContext, e: IfaceEntry): string {
  return deterministicMac(ctx.name, e.host, e.name);
}

/** `text` itself when it is already canonical: one string for a gateway every host writes. */
function sameText(canonical: string, text: string): string {
  return canonical === text ? text : canonical;
}

function normaliseRoute(ctx: LabContext, host: HostEntry, index: number): Route {
  const raw = host.raw.routes![index]!;
  const dst = raw.to === 'default' ? null : parseCidr(raw.to)!;
  const via = raw.via === undefined ? null : parseIp(raw.via)!;
  const nexthops = normaliseNexthops(ctx, host, index);
  const firstHop = nexthops?.[0] ? parseIp(nexthops[0].via) : null;
  const family = dst ? dst.family : via ? familyOf(via) : firstHop ? familyOf(firstHop) : 4;
  const to = dst === null || dst.prefix === 0 ? 'default' : networkText(dst);
  const gateway = via ? sameText(via.toString(), raw.via!) : null;
  const dev = raw.dev === undefined ? null : ctx.kernelNameOf(host, raw.dev);
  const [metric, onlink, table] = [raw.metric ?? null, raw.onlink ?? false, raw.table ?? MAIN_TABLE];
  const pos = ctx.locator.source([...host.path, 'routes', index]);
  // As in normaliseHost: no spread inside the literal unless there are next hops.
  if (!nexthops) return { to, family, via: gateway, dev, metric, onlink, table, pos };
  return { to, family, via: gateway, dev, metric, onlink, table, nexthops, pos };
}
