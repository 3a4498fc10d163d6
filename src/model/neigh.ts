// Static neighbour entries (`ip neigh replace ADDRESS lladdr MAC dev DEV nud permanent`).
// Entries the kernel learns (reachable, stale, ...) are not objects; permanent ones are.
import type { Lab } from '../lab/types.js';
import { PHASE, type Operation } from './operations.js';
import { type Kind, onOneDevice } from './kind.js';
import { ids, nsLabel, type NeighObj } from './objects.js';

export function desiredNeighbours(lab: Lab): NeighObj[] {
  const out: NeighObj[] = [];
  for (const h of lab.hosts)
    for (const i of h.interfaces)
      for (const n of i.neighbours ?? [])
        out.push({ kind: 'neigh', id: ids.neigh(h.ns, i.ifname, n.address), ns: h.ns, dev: i.ifname, address: n.address, mac: n.mac });
  return out;
}

/** One entry of `ip -j neigh show nud permanent`. */
export interface RawNeigh {
  dst: string;
  dev?: string;
  lladdr?: string;
  state?: string[];
}

export function parseNeigh(ns: string, r: RawNeigh): NeighObj | null {
  if (!r.dev || !r.lladdr || !(r.state ?? []).includes('PERMANENT')) return null;
  return { kind: 'neigh', id: ids.neigh(ns, r.dev, r.dst), ns, dev: r.dev, address: r.dst, mac: r.lladdr.toLowerCase() };
}

/** `replace` creates or changes the MAC in place. */
export function setNeigh(o: NeighObj): Operation[] {
  return [{ op: 'neigh.replace', ns: o.ns, neigh: o, phase: PHASE.route }];
}

export function deleteNeigh(o: NeighObj): Operation[] {
  return [{ op: 'neigh.del', ns: o.ns, neigh: o, phase: PHASE.route }];
}

export const neighKind: Kind<NeighObj> = {
  kind: 'neigh',
  describe: (o) => `neighbour ${o.address} on ${nsLabel(o.ns)}/${o.dev}`,
  desired: desiredNeighbours,
  query: (o, q) => {
    q.neighbours = true;
    if (o.address.includes(':')) q.ipv6Routes = true;
  },
  create: setNeigh,
  modify: (_live, desired) => setNeigh(desired),
  remove: deleteNeigh,
  ...onOneDevice<NeighObj>(),
  asked: (_o, q) => Boolean(q.neighbours),
};
