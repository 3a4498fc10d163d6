// Addresses on links.
import type { Lab } from '../lab/types.js';
import { PHASE, type Operation } from './operations.js';
import { type Kind, onOneDevice } from './kind.js';
import { ids, nsLabel, type AddrObj } from './objects.js';

export function desiredAddrs(lab: Lab): AddrObj[] {
  const out: AddrObj[] = [];
  for (const h of lab.hosts)
    for (const i of h.interfaces)
      for (const cidr of i.addresses) out.push({ kind: 'addr', id: ids.addr(h.ns, i.ifname, cidr), ns: h.ns, dev: i.ifname, cidr });
  return out;
}

export interface RawAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope?: string;
}

/** Global and site addresses only: link-local and loopback addresses are the kernel's. */
export function parseAddr(ns: string, dev: string, a: RawAddrInfo): AddrObj | null {
  if (a.scope === 'host' || a.scope === 'link') return null;
  const cidr = `${a.local}/${a.prefixlen}`;
  return { kind: 'addr', id: ids.addr(ns, dev, cidr), ns, dev, cidr };
}

export function createAddr(o: AddrObj): Operation[] {
  return [{ op: 'addr.add', ns: o.ns, addr: o, phase: PHASE.addr }];
}

export function deleteAddr(o: AddrObj): Operation[] {
  return [{ op: 'addr.del', ns: o.ns, addr: o, phase: PHASE.addr }];
}

export const addrKind: Kind<AddrObj> = {
  kind: 'addr',
  describe: (o) => `address ${o.cidr} on ${nsLabel(o.ns)}/${o.dev}`,
  desired: desiredAddrs,
  query: (o, q) => {
    if (o.cidr.includes(':')) q.ipv6Routes = true;
  },
  create: createAddr,
  modify: (_live, desired) => createAddr(desired),
  remove: deleteAddr,
  ...onOneDevice<AddrObj>(),
  // The kernel flushes routes whose gateway was on the removed subnet.
  flushesOthers: true,
};
