// Bridge forwarding entries: the unicast remote list of a VXLAN device
// (`bridge fdb append 00:00:00:00:00:00 dev VX dst IP`).
import type { Lab } from '../spec/types.js';
import { PHASE, type Command } from './command.js';
import { ids, type FdbObj } from './objects.js';

const ALL_ZERO = '00:00:00:00:00:00';

export function desiredFdb(lab: Lab): FdbObj[] {
  const out: FdbObj[] = [];
  for (const h of lab.hosts)
    for (const i of h.interfaces)
      if (i.kind === 'vxlan')
        for (const dst of i.remotes)
          out.push({ kind: 'fdb', id: ids.fdb(h.ns, i.ifname, ALL_ZERO, dst), ns: h.ns, dev: i.ifname, mac: ALL_ZERO, dst });
  return out;
}

export interface RawFdb {
  mac: string;
  ifname: string;
  dst?: string;
  /** `permanent` for configured entries, `` for learned ones. */
  state?: string;
}

/**
 * Configured remote entries of the lab's VXLAN devices. Learned entries (not permanent) and the
 * entry the kernel makes for a device's own multicast group (`defaultDst`) are not objects.
 */
export function parseFdb(ns: string, vxlanDevs: Set<string>, r: RawFdb, defaultDst?: Map<string, string>): FdbObj | null {
  if (!r.dst || !vxlanDevs.has(r.ifname)) return null;
  if (r.state !== undefined && r.state !== 'permanent') return null;
  if (r.mac === ALL_ZERO && defaultDst?.get(r.ifname) === r.dst) return null;
  const mac = r.mac.toLowerCase();
  return { kind: 'fdb', id: ids.fdb(ns, r.ifname, mac, r.dst), ns, dev: r.ifname, mac, dst: r.dst };
}

export function createFdb(o: FdbObj): Command[] {
  return [{ tool: 'bridge', ns: o.ns, line: `fdb append ${o.mac} dev ${o.dev} dst ${o.dst}`, phase: PHASE.fdb, effect: { set: [o] } }];
}

export function deleteFdb(o: FdbObj): Command[] {
  return [{ tool: 'bridge', ns: o.ns, line: `fdb del ${o.mac} dev ${o.dev} dst ${o.dst}`, phase: PHASE.fdb, effect: { remove: [o.id] } }];
}
