// Routes: default, via, dev, onlink, metric, table. Connected (`proto kernel`) and local-table
// routes are the kernel's and never managed.
import { contains, parseCidr, parseIp, type Cidr, type IP } from '../lab/addr.js';
import type { Host, Lab } from '../lab/types.js';
import { PHASE, type Operation } from './operations.js';
import type { Kind } from './kind.js';
import { ids, nsLabel, type Obj, type RouteObj } from './objects.js';

const KERNEL_DEFAULT_METRIC = { 4: 0, 6: 1024 } as const;
const TABLE_NAMES: Record<string, number> = { main: 254, default: 253, local: 255 };

/**
 * Finds the interface whose subnet holds a gateway: the kernel picks it, so the desired state
 * names it too. Addresses are parsed as the lab language parses them (lab/addr.ts), each host's
 * once and each gateway once per lab (a star's hosts share one), not once per route: parsing is
 * most of the cost of a large lab's desired state.
 */
function gatewayDevices(): (h: Host, via: string) => string | null {
  const gateways = new Map<string, IP | null>();
  const subnets = new Map<Host, { ifname: string; net: Cidr | null }[]>();
  return (h, via) => {
    let gw = gateways.get(via);
    if (gw === undefined) gateways.set(via, (gw = parseIp(via)));
    let nets = subnets.get(h);
    if (!nets) subnets.set(h, (nets = h.interfaces.flatMap((i) => i.addresses.map((a) => ({ ifname: i.ifname, net: parseCidr(a) })))));
    for (const { ifname, net } of nets) if (gw && net && contains(net, gw)) return ifname;
    return null;
  };
}

export function desiredRoutes(lab: Lab): RouteObj[] {
  const out: RouteObj[] = [];
  const deviceFor = gatewayDevices();
  for (const h of lab.hosts)
    for (const r of h.routes) {
      const metric = r.metric ?? KERNEL_DEFAULT_METRIC[r.family];
      out.push({
        kind: 'route',
        id: ids.route(h.ns, r.table, r.to, metric),
        ns: h.ns,
        family: r.family,
        dst: r.to,
        via: r.via,
        dev: r.dev ?? (r.via ? deviceFor(h, r.via) : null),
        metric,
        onlink: r.onlink,
        table: r.table,
        ...(r.nexthops
          ? {
              nexthops: sortHops(
                r.nexthops.map((n) => ({ via: n.via, dev: n.dev ?? deviceFor(h, n.via), weight: n.weight, onlink: n.onlink })),
              ),
            }
          : {}),
      });
    }
  return out;
}

type Hop = NonNullable<RouteObj['nexthops']>[number];

/** Next hops in one order (by gateway, then device), so desired and observed compare equal. */
function sortHops(hops: Hop[]): Hop[] {
  const key = (h: Hop) => `${h.via}%${h.dev ?? ''}`;
  return [...hops].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** Devices a route's packets leave by: its own, or its next hops'. */
export function routeDevs(o: RouteObj): string[] {
  return o.nexthops ? o.nexthops.flatMap((n) => (n.dev ? [n.dev] : [])) : o.dev ? [o.dev] : [];
}

/** Gateways of a route: its via, or its next hops'. */
export function routeGateways(o: RouteObj): string[] {
  return o.nexthops ? o.nexthops.map((n) => n.via) : o.via ? [o.via] : [];
}

export interface RawRoute {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  metric?: number;
  flags?: string[];
  table?: string;
  /** Multipath (ECMP) routes: no gateway or dev of their own. */
  nexthops?: { gateway?: string; dev?: string; weight?: number; flags?: string[] }[];
}

export function parseRoute(ns: string, family: 4 | 6, r: RawRoute): RouteObj | null {
  if ((r.type ?? 'unicast') !== 'unicast' || r.protocol === 'kernel') return null;
  const table = r.table === undefined ? 254 : (TABLE_NAMES[r.table] ?? Number(r.table));
  if (table === 255) return null;
  const dst = r.dst === 'default' || r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`;
  const metric = r.metric ?? KERNEL_DEFAULT_METRIC[family];
  return {
    kind: 'route',
    id: ids.route(ns, table, dst, metric),
    ns,
    family,
    dst,
    via: r.gateway ?? null,
    // A route with a gateway also has a device; keep the device only when it is part of the identity we manage.
    dev: r.dev ?? null,
    metric,
    onlink: (r.flags ?? []).includes('onlink'),
    table,
    ...(r.nexthops
      ? {
          nexthops: sortHops(
            r.nexthops.map((n) => ({
              via: n.gateway ?? '',
              dev: n.dev ?? null,
              weight: n.weight ?? 1,
              onlink: (n.flags ?? []).includes('onlink'),
            })),
          ),
        }
      : {}),
  };
}

export function createRoute(o: RouteObj): Operation[] {
  return [{ op: 'route.add', ns: o.ns, route: o, phase: PHASE.route }];
}

/** Same key (table, dst, metric): `route replace` changes gateway, device or onlink in place. */
export function modifyRoute(_live: RouteObj, desired: RouteObj): Operation[] {
  return [{ op: 'route.replace', ns: desired.ns, route: desired, phase: PHASE.route }];
}

export function deleteRoute(o: RouteObj): Operation[] {
  return [{ op: 'route.del', ns: o.ns, route: o, phase: PHASE.route }];
}

function inSubnet(ip: string, cidr: string): boolean {
  const addr = parseIp(ip);
  const net = parseCidr(cidr);
  return addr !== null && net !== null && contains(net, addr);
}

export const routeKind: Kind<RouteObj> = {
  kind: 'route',
  describe: (o) => `route ${o.dst}${o.table !== 254 ? ` table ${o.table}` : ''} in ${nsLabel(o.ns)}`,
  desired: desiredRoutes,
  query: (o, q) => {
    if (o.family === 6) q.ipv6Routes = true;
  },
  create: createRoute,
  modify: modifyRoute,
  remove: deleteRoute,
  // A multipath route goes with any of its next hops' devices.
  diesWith: (o, link) => o.ns === link.ns && routeDevs(o).includes(link.ifname),
  devices: routeDevs,
  flushedBy: (o: RouteObj, removed: Obj) =>
    removed.kind === 'addr' && o.ns === removed.ns && routeGateways(o).some((via) => inSubnet(via, removed.cidr)),
};
