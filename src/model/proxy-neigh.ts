// Proxy neighbour entries (`ip neigh add proxy ADDRESS dev DEV`): the kernel answers ARP (or NDP)
// requests for ADDRESS that arrive on DEV with DEV's MAC, as routed container networks do for
// addresses behind them, without turning on proxy_arp for every address the routes reach.
import type { Lab } from '../lab/types.js';
import { type Kind, onOneDevice } from './kind.js';
import { PHASE, type Operation } from './operations.js';
import { ids, nsLabel, type ProxyNeighObj } from './objects.js';

export function desiredProxyNeighbours(lab: Lab): ProxyNeighObj[] {
  const out: ProxyNeighObj[] = [];
  for (const h of lab.hosts)
    for (const i of h.interfaces)
      for (const address of i.proxyNeigh ?? [])
        out.push({ kind: 'proxyneigh', id: ids.proxyneigh(h.ns, i.ifname, address), ns: h.ns, dev: i.ifname, address });
  return out;
}

/** One entry of `ip -j neigh show proxy`. */
export interface RawProxyNeigh {
  dst: string;
  dev?: string;
}

export function parseProxyNeigh(ns: string, r: RawProxyNeigh): ProxyNeighObj | null {
  // An entry without a device answers on every interface: the lab never makes one.
  if (!r.dev) return null;
  return { kind: 'proxyneigh', id: ids.proxyneigh(ns, r.dev, r.dst), ns, dev: r.dev, address: r.dst };
}

function addProxyNeigh(o: ProxyNeighObj): Operation[] {
  return [{ op: 'proxyneigh.add', ns: o.ns, entry: o, phase: PHASE.route }];
}

function deleteProxyNeigh(o: ProxyNeighObj): Operation[] {
  return [{ op: 'proxyneigh.del', ns: o.ns, entry: o, phase: PHASE.route }];
}

// The id holds everything an entry is (namespace, device, address): a changed entry is another
// object, so there is nothing to modify in place.
export const proxyNeighKind: Kind<ProxyNeighObj> = {
  kind: 'proxyneigh',
  describe: (o) => `proxy neighbour ${o.address} on ${nsLabel(o.ns)}/${o.dev}`,
  desired: desiredProxyNeighbours,
  query: (_o, q) => {
    q.proxyNeighbours = true;
  },
  create: addProxyNeigh,
  remove: deleteProxyNeigh,
  ...onOneDevice<ProxyNeighObj>(),
  asked: (_o, q) => Boolean(q.proxyNeighbours),
};
