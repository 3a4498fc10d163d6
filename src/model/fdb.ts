// Bridge forwarding entries: the unicast remote list of a VXLAN device
// (`bridge fdb append 00:00:00:00:00:00 dev VX dst IP`), explicit VXLAN entries (`fdb: [{ mac, dst }]`:
// `bridge fdb append MAC dev VX dst IP`) and static entries on bridge ports (`fdb: [{ mac, vlan }]`:
// `bridge fdb add MAC dev PORT master static [vlan N]`, observed as state `static`).
import type { Lab } from '../lab/types.js';
import { PHASE, type Operation } from './operations.js';
import { type Kind, onOneDevice } from './kind.js';
import { ids, nsLabel, type FdbObj } from './objects.js';

const ALL_ZERO = '00:00:00:00:00:00';

export function desiredFdb(lab: Lab): FdbObj[] {
  const out: FdbObj[] = [];
  for (const h of lab.hosts)
    for (const i of h.interfaces)
      if (i.kind === 'vxlan')
        for (const dst of i.remotes)
          out.push({ kind: 'fdb', id: ids.fdb(h.ns, i.ifname, ALL_ZERO, dst), ns: h.ns, dev: i.ifname, mac: ALL_ZERO, dst });
  for (const h of lab.hosts)
    for (const i of h.interfaces)
      for (const f of i.fdb ?? []) {
        const vlan = f.vlan ?? undefined;
        const dst = f.dst ?? '';
        out.push({
          kind: 'fdb',
          id: fdbId(h.ns, i.ifname, f.mac, dst, vlan),
          ns: h.ns,
          dev: i.ifname,
          mac: f.mac,
          dst,
          ...(vlan !== undefined ? { vlan } : {}),
        });
      }
  return out;
}

/** A port entry has no dst: its VLAN stands in its place in the id. */
function fdbId(ns: string, dev: string, mac: string, dst: string, vlan: number | undefined): string {
  return ids.fdb(ns, dev, mac, dst || (vlan !== undefined ? `vlan${vlan}` : ''));
}

export interface RawFdb {
  mac: string;
  ifname: string;
  dst?: string;
  /** `permanent` for configured entries, `` for learned ones, `static` for `master static` port entries. */
  state?: string;
  /** The bridge of a port entry. */
  master?: string;
  vlan?: number;
}

/**
 * Configured remote entries of the lab's VXLAN devices. Learned entries (not permanent) and the
 * entry the kernel makes for a device's own multicast group (`defaultDst`) are not objects.
 */
export function parseFdb(
  ns: string,
  vxlanDevs: Set<string>,
  r: RawFdb,
  defaultDst?: Map<string, string>,
  ports?: Set<string>,
): FdbObj | null {
  // Static entries on the lab's bridge ports (a port's own address is `permanent`, not static).
  if (r.state === 'static' && r.master !== undefined && !r.dst && ports?.has(r.ifname)) {
    const mac = r.mac.toLowerCase();
    const vlan = r.vlan;
    return {
      kind: 'fdb',
      id: fdbId(ns, r.ifname, mac, '', vlan),
      ns,
      dev: r.ifname,
      mac,
      dst: '',
      ...(vlan !== undefined ? { vlan } : {}),
    };
  }
  if (!r.dst || !vxlanDevs.has(r.ifname)) return null;
  if (r.state !== undefined && r.state !== 'permanent') return null;
  if (r.mac === ALL_ZERO && defaultDst?.get(r.ifname) === r.dst) return null;
  const mac = r.mac.toLowerCase();
  return { kind: 'fdb', id: ids.fdb(ns, r.ifname, mac, r.dst), ns, dev: r.ifname, mac, dst: r.dst };
}

export function createFdb(o: FdbObj): Operation[] {
  return [{ op: 'fdb.add', ns: o.ns, fdb: o, phase: PHASE.fdb }];
}

export function deleteFdb(o: FdbObj): Operation[] {
  return [{ op: 'fdb.del', ns: o.ns, fdb: o, phase: PHASE.fdb }];
}

export const fdbKind: Kind<FdbObj> = {
  kind: 'fdb',
  describe: (o) =>
    `fdb ${o.mac}${o.dst ? ` dst ${o.dst}` : ''}${o.vlan !== undefined ? ` vlan ${o.vlan}` : ''} on ${nsLabel(o.ns)}/${o.dev}`,
  desired: desiredFdb,
  query: (o, q) => {
    if (!o.dst) q.fdb = true;
  },
  create: createFdb,
  modify: (_live, desired) => createFdb(desired),
  remove: deleteFdb,
  ...onOneDevice<FdbObj>(),
  // The fdb is dumped where the query asks or a VXLAN is (whose entries carry a dst).
  asked: (o, q) => Boolean(q.fdb) || o.dst !== '',
};
