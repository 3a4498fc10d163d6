// Decoding what the kernel reader returned for one namespace into objects, before anything is
// known of whose they are: ownership and peers are src/observe/observe.ts's.
import { parseAddr, type RawAddrInfo } from '../model/addr.js';
import { parseFdb, type RawFdb } from '../model/fdb.js';
import { parseLink, type RawLink } from '../model/link.js';
import { parseNeigh, type RawNeigh } from '../model/neigh.js';
import { parseNftListing } from '../model/nft.js';
import { ids, type NetnsObj, type Obj } from '../model/objects.js';
import { parsePortVlans, type RawPortVlans } from '../model/portvlan.js';
import { parseProxyNeigh, type RawProxyNeigh } from '../model/proxy-neigh.js';
import { parseQdiscs, type RawQdisc } from '../model/qdisc.js';
import { parseRoute, type RawRoute } from '../model/route.js';
import { parseRule, type RawRule } from '../model/rule.js';
import { normaliseSysctlValue } from '../model/sysctl.js';
import type { NsDump } from './observe.js';
import type { NsQuery } from './query.js';

/** What the reader returned for one namespace (src/driver/real.ts fills it). */
export interface RawNs {
  q: NsQuery;
  links: RawLink[];
  addrs: (RawLink & { addr_info?: RawAddrInfo[] })[];
  routes: RawRoute[];
  routes6: RawRoute[];
  nsids: { nsid: number; name?: string }[];
  /** The peers the reader asked this namespace about, in the dump's pass (see peersToAsk). */
  asked: string[];
  /** The nsid here of each of them (-1: none). */
  peerNsids: number[];
  vlans: RawPortVlans[];
  fdb: RawFdb[];
  nft: { family: string; table: string; text: string }[];
  qdiscs: RawQdisc[];
  neigh: RawNeigh[];
  proxyNeigh: RawProxyNeigh[];
  rules: RawRule[];
  rules6: RawRule[];
  sysctls: (string | null)[];
}

/** The sysctls of a query with the values read for them; a key that does not exist there is no object. */
export function decodeSysctls(q: NsQuery, values: (string | null)[]): Obj[] {
  const out: Obj[] = [];
  q.sysctls.forEach((key, i) => {
    const value = values[i];
    if (value !== null && value !== undefined)
      out.push({ kind: 'sysctl', id: ids.sysctl(q.ns, key), ns: q.ns, key, value: normaliseSysctlValue(value) });
  });
  return out;
}

/** Turns one namespace's raw output into a dump; `handle`: where the handle points, as far as it points where asked. */
export function decodeNs(raw: RawNs, handle: NetnsObj['target']): NsDump {
  const ns = raw.q.ns;
  const links = raw.links.flatMap((l) => {
    const o = parseLink(ns, l);
    return o ? [o] : [];
  });
  const objects: Obj[] = [];
  for (const l of raw.addrs) {
    // lo's addresses are the kernel's.
    if (l.ifname === 'lo') continue;
    for (const a of l.addr_info ?? []) {
      const o = parseAddr(ns, l.ifname, a);
      if (o) objects.push(o);
    }
  }
  for (const [family, list] of [[4, raw.routes] as const, [6, raw.routes6] as const])
    for (const r of list) {
      const o = parseRoute(ns, family, r);
      if (o) objects.push(o);
    }
  const vxlans = new Set(links.filter((l) => l.obj.type === 'vxlan').map((l) => l.obj.ifname));
  const ports = new Set(links.filter((l) => l.obj.master !== null).map((l) => l.obj.ifname));
  const groups = new Map(
    links.flatMap((l) => (l.obj.type === 'vxlan' && l.obj.attrs.group ? [[l.obj.ifname, String(l.obj.attrs.group)]] : [])),
  );
  for (const f of raw.fdb) {
    const o = parseFdb(ns, vxlans, f, groups, ports);
    if (o) objects.push(o);
  }
  // VLANs of bridge ports only: a bridge's own entry is not a port's.
  for (const v of raw.vlans) if (ports.has(v.ifname)) objects.push(...parsePortVlans(ns, v));
  for (const t of raw.nft) objects.push(parseNftListing(ns, t.family, t.table, t.text));
  objects.push(...parseQdiscs(ns, raw.qdiscs));
  for (const n of raw.neigh) {
    const o = parseNeigh(ns, n);
    if (o) objects.push(o);
  }
  for (const n of raw.proxyNeigh) {
    const o = parseProxyNeigh(ns, n);
    if (o) objects.push(o);
  }
  for (const [family, list] of [[4, raw.rules] as const, [6, raw.rules6] as const])
    for (const r of list) {
      const o = parseRule(ns, family, r);
      if (o) objects.push(o);
    }
  objects.push(...decodeSysctls(raw.q, raw.sysctls));
  return {
    q: raw.q,
    links,
    names: raw.links.map((l) => ({ ifindex: l.ifindex, ifname: l.ifname })),
    nsids: raw.nsids,
    objects,
    handle,
  };
}
