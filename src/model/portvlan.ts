// VLANs on ports of a VLAN-filtering bridge (`bridge vlan`).
import type { Lab } from '../lab/types.js';
import { PHASE, type Operation } from './operations.js';
import { type Kind, onOneDevice } from './kind.js';
import { ids, nsLabel, type PortVlanObj } from './objects.js';

export function desiredPortVlans(lab: Lab): PortVlanObj[] {
  const out: PortVlanObj[] = [];
  for (const h of lab.hosts)
    for (const i of h.interfaces) {
      if (!i.vlans) continue;
      const vids = new Set(i.vlans.tagged);
      if (i.vlans.pvid !== undefined) vids.add(i.vlans.pvid);
      for (const vid of [...vids].sort((a, b) => a - b)) {
        const pvid = vid === i.vlans.pvid;
        out.push({ kind: 'portvlan', id: ids.portvlan(h.ns, i.ifname, vid), ns: h.ns, dev: i.ifname, vid, pvid, untagged: pvid });
      }
    }
  return out;
}

export interface RawPortVlans {
  ifname: string;
  vlans: { vlan: number; vlanEnd?: number; flags?: string[] }[];
}

export function parsePortVlans(ns: string, r: RawPortVlans): PortVlanObj[] {
  const out: PortVlanObj[] = [];
  for (const v of r.vlans) {
    const flags = v.flags ?? [];
    for (let vid = v.vlan; vid <= (v.vlanEnd ?? v.vlan); vid++)
      out.push({
        kind: 'portvlan',
        id: ids.portvlan(ns, r.ifname, vid),
        ns,
        dev: r.ifname,
        vid,
        pvid: flags.includes('PVID'),
        untagged: flags.includes('Egress Untagged'),
      });
  }
  return out;
}

export function createPortVlan(o: PortVlanObj): Operation[] {
  return [{ op: 'vlan.add', ns: o.ns, vlan: o, phase: PHASE.portvlan }];
}

export function deletePortVlan(o: PortVlanObj): Operation[] {
  return [{ op: 'vlan.del', ns: o.ns, vlan: o, phase: PHASE.portvlan }];
}

export const portvlanKind: Kind<PortVlanObj> = {
  kind: 'portvlan',
  describe: (o) => `vlan ${o.vid} on port ${nsLabel(o.ns)}/${o.dev}`,
  desired: desiredPortVlans,
  query: (_o, q) => void (q.bridgeVlans = true),
  create: createPortVlan,
  modify: (live, desired) => [...deletePortVlan(live), ...createPortVlan(desired)],
  remove: deletePortVlan,
  ...onOneDevice<PortVlanObj>(),
};
