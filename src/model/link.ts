// Links: every device kind. How each is derived from a lab, read back from `ip -d -j link`,
// created, changed in place, and deleted.
import { createHash } from 'node:crypto';
import type { Host, Interface, Lab } from '../lab/types.js';
import { createdNetnsMark } from '../lab/names.js';
import { PHASE, type LinkChanges, type LinkEnd, type Operation } from './operations.js';
import type { Kind } from './kind.js';
import { ids, nsLabel, sameObject, type LinkObj, type LinkType, type State } from './objects.js';
import { bridgesNeedingHairpin } from './policy.js';
import { InternalError } from '../errors.js';

/** Link types netlab manages; anything else in a namespace (e.g. fallback tunnels) is left alone. */
const MANAGED: ReadonlySet<string> = new Set(['veth', 'bridge', 'vlan', 'macvlan', 'ipvlan', 'macvtap', 'tun', 'vxlan']);

export function loopback(ns: string, lab: string | null): LinkObj {
  return {
    kind: 'link',
    id: ids.link(ns, 'lo'),
    ns,
    ifname: 'lo',
    type: 'loopback',
    mtu: 65536,
    mac: '00:00:00:00:00:00',
    up: lab !== null,
    master: null,
    hairpin: false,
    altname: null,
    alias: lab === null ? null : createdNetnsMark(lab),
    peer: null,
    attrs: {},
  };
}

function attrsOf(i: Interface): LinkObj['attrs'] {
  switch (i.kind) {
    case 'bridge':
      return { stp: i.stp, ageing: i.ageing, vlanFiltering: i.vlanFiltering };
    case 'vlan':
      return { id: i.id, protocol: i.protocol };
    case 'macvlan':
    case 'macvtap':
      return { mode: i.mode };
    case 'ipvlan':
      return { mode: i.mode, flag: i.flag };
    case 'tap':
      return { user: i.user, group: i.group };
    case 'vxlan':
      return { vni: i.vni, port: i.port, local: i.local, group: i.group, dev: i.dev, learning: i.learning };
    case 'veth':
      return {};
  }
}

function sharesParentMac(i: Interface): i is Extract<Interface, { parent: unknown }> {
  return i.kind === 'ipvlan' || ((i.kind === 'macvlan' || i.kind === 'macvtap') && i.mode === 'passthru');
}

/** Link types whose MAC is the parent's (given no `address` at creation; a different MAC means recreate). */
function inheritsMac(o: LinkObj): boolean {
  return o.type === 'ipvlan' || ((o.type === 'macvlan' || o.type === 'macvtap') && o.attrs.mode === 'passthru');
}

/** Desired links of a lab: `lo` of each created namespace plus every interface. */
export function desiredLinks(lab: Lab, hairpinBridges: (h: Host) => string[]): LinkObj[] {
  const nsOfHost = new Map(lab.hosts.map((h) => [h.name, h.ns]));
  const ifByKey = new Map<string, Interface>();
  for (const h of lab.hosts) for (const i of h.interfaces) ifByKey.set(`${h.name}/${i.ifname}`, i);
  const out: LinkObj[] = [];
  for (const h of lab.hosts) {
    if (h.netns.kind === 'lab') out.push(loopback(h.ns, lab.name));
    const hairpin = new Set(hairpinBridges(h));
    for (const i of h.interfaces) {
      let peer: LinkObj['peer'] = null;
      if (i.kind === 'veth') peer = { ns: nsOfHost.get(i.peer.host)!, ifname: i.peer.ifname };
      else if ('parent' in i) peer = { ns: nsOfHost.get(i.parent.host)!, ifname: i.parent.ifname };
      // An IPVLAN child and a passthru MACVLAN share their parent's MAC: the kernel does not let them have their own.
      const mac = sharesParentMac(i) ? (ifByKey.get(`${i.parent.host}/${i.parent.ifname}`)?.mac ?? i.mac) : i.mac;
      out.push({
        kind: 'link',
        id: ids.link(h.ns, i.ifname),
        ns: h.ns,
        ifname: i.ifname,
        type: i.kind,
        mtu: i.mtu,
        mac,
        up: i.up,
        master: i.master,
        hairpin: i.master !== null && hairpin.has(i.master),
        altname: i.altname,
        alias: null,
        peer,
        attrs: attrsOf(i),
      });
    }
  }
  return out;
}

// ---- observation ----------------------------------------------------------------------------

/** The subset of `ip -d -j link show` we read. */
export interface RawLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  address?: string;
  master?: string;
  link?: string;
  link_index?: number;
  link_netnsid?: number;
  link_type?: string;
  ifalias?: string;
  altnames?: string[];
  linkinfo?: {
    info_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_kind?: string;
    info_slave_data?: Record<string, unknown>;
  };
}

/** A link read from one namespace, before veth peers and parents are resolved across namespaces. */
export interface ObservedLink {
  obj: LinkObj;
  ifindex: number;
  /** Peer/parent by index in the namespace with this nsid (undefined nsid = same namespace). */
  peerRef: { ifindex: number; nsid: number | undefined } | null;
}

function linkType(r: RawLink): LinkType | null {
  if (r.link_type === 'loopback') return 'loopback';
  const k = r.linkinfo?.info_kind;
  if (!k || !MANAGED.has(k)) return null;
  if (k === 'tun') return r.linkinfo?.info_data?.type === 'tap' ? 'tap' : null;
  return k as LinkType;
}

function observedAttrs(type: LinkType, d: Record<string, unknown>): LinkObj['attrs'] {
  switch (type) {
    case 'bridge':
      return {
        stp: Number(d.stp_state ?? 0) !== 0,
        ageing: Math.round(Number(d.ageing_time ?? 30000) / 100),
        vlanFiltering: Number(d.vlan_filtering ?? 0) !== 0,
      };
    case 'vlan':
      return { id: Number(d.id), protocol: String(d.protocol ?? '802.1Q') };
    case 'macvlan':
    case 'macvtap':
      return { mode: String(d.mode ?? 'vepa') };
    case 'ipvlan':
      // iproute2 prints the flag as a boolean key: {"mode":"l2","private":true}.
      return { mode: String(d.mode ?? 'l2'), flag: d.private === true ? 'private' : d.vepa === true ? 'vepa' : 'bridge' };
    case 'tap':
      return { user: ownerNumber(d.user), group: ownerNumber(d.group) };
    case 'vxlan':
      return {
        vni: Number(d.id),
        port: Number(d.port ?? 8472),
        // IPv6 endpoints come as local6/group6.
        local: ((d.local ?? d.local6) as string | undefined) ?? null,
        group: ((d.group ?? d.group6) as string | undefined) ?? null,
        dev: (d.link as string | undefined) ?? null,
        learning: Boolean(d.learning ?? true),
      };
    default:
      return {};
  }
}

/** A uid/gid the driver decoded (see src/driver/owner-ids.ts), or null for none. */
function ownerNumber(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null;
}

export function parseLink(ns: string, r: RawLink): ObservedLink | null {
  const type = linkType(r);
  if (!type) return null;
  const d = r.linkinfo?.info_data ?? {};
  const obj: LinkObj = {
    kind: 'link',
    id: ids.link(ns, r.ifname),
    ns,
    ifname: r.ifname,
    type,
    mtu: r.mtu,
    mac: (r.address ?? '00:00:00:00:00:00').toLowerCase(),
    up: r.flags.includes('UP'),
    master: r.master ?? null,
    hairpin: r.master ? Boolean(r.linkinfo?.info_slave_data?.hairpin ?? false) : false,
    altname: r.altnames?.find((a) => a.startsWith('netlab.')) ?? null,
    alias: r.ifalias ?? null,
    peer: null,
    attrs: observedAttrs(type, d),
  };
  // vxlan's `link` in info_data is its underlay device name; the top-level link is not a parent.
  let peerRef: ObservedLink['peerRef'] = null;
  const hasPeer = type === 'veth' || type === 'vlan' || type === 'macvlan' || type === 'macvtap' || type === 'ipvlan';
  if (hasPeer && r.link_index !== undefined) peerRef = { ifindex: r.link_index, nsid: r.link_netnsid };
  // A peer or parent in the same namespace is printed by name (`link`), without link_index.
  else if (hasPeer && r.link !== undefined) obj.peer = { ns, ifname: r.link };
  return { obj, ifindex: r.ifindex, peerRef };
}

// ---- operations -----------------------------------------------------------------------------

function netnsArg(targetNs: string, issuingNs: string): string | null {
  // The root namespace has no name; links into it are always issued from it (see issuingNs).
  return targetNs === issuingNs ? null : targetNs;
}

/** The namespace whose batch creates a link: the parent's for stacked devices, the root end for a veth touching root. */
export function issuingNs(o: LinkObj, peer: LinkObj | undefined): string {
  if (o.type === 'veth') return peer && peer.ns === '' ? '' : o.ns;
  if (o.peer && o.type !== 'tap' && o.type !== 'bridge' && o.type !== 'vxlan') return o.peer.ns;
  return o.ns;
}

/** The state of a link right after `ip link add`: down and not yet enslaved. */
export function justCreated(o: LinkObj): LinkObj {
  return { ...o, up: false, master: null, hairpin: false, alias: null, altname: o.altname };
}

/**
 * A bridge's MTU given at creation does not count as set by the user, so the kernel would lower
 * it to its smallest port's; and setting the value it already has is a no-op. So a bridge is
 * created one byte below its MTU and raised to it right after, in the same batch, which pins it.
 */
function creationMtu(o: LinkObj): number {
  return o.type === 'bridge' ? Math.max(68, o.mtu - 1) : o.mtu;
}

function altnameOps(o: LinkObj, phase: number): Operation[] {
  return o.altname ? [{ op: 'altname.add', ns: o.ns, dev: o.ifname, altname: o.altname, phase }] : [];
}

const set = (ns: string, dev: string, changes: LinkChanges, phase: number): Operation => ({ op: 'link.set', ns, dev, changes, phase });

/**
 * Operations creating `o` (and its veth peer, which must be passed), at `phase`.
 * Settings that need other objects (master, up) come from `configure`.
 */
export function createLink(o: LinkObj, peer: LinkObj | undefined, phase: number): Operation[] {
  if (o.type === 'veth') {
    if (!peer) throw new InternalError(`veth ${o.id} has no peer in the desired state`);
    const [first, second] = peer.ns === '' && o.ns !== '' ? [peer, o] : [o, peer];
    const from = first.ns;
    const end = (l: LinkObj): LinkEnd => ({ name: l.ifname, netns: netnsArg(l.ns, from), mac: l.mac, mtu: l.mtu });
    const ops: Operation[] = [
      { op: 'link.add', ns: from, link: first, end: end(first), parent: null, peer: { link: second, end: end(second) }, phase },
    ];
    // Mark shared-namespace ends at once, in the batch that created them where possible.
    for (const e of [first, second]) ops.push(...altnameOps(e, e.ns === from ? phase : PHASE.linkSet));
    return ops;
  }
  if (o.type === 'tap') {
    return [{ op: 'tap.add', ns: o.ns, link: o, phase }, set(o.ns, o.ifname, { mac: o.mac, mtu: o.mtu }, phase), ...altnameOps(o, phase)];
  }
  const from = issuingNs(o, peer);
  const parent = o.peer && from === o.peer.ns ? o.peer.ifname : null;
  // Before Linux 6.8 `ip link add NAME netns X` looks NAME up in the issuing namespace and fails
  // with "File exists" when it is taken there (a container's eth0 made on the host's eth0): a
  // device made for another namespace gets a temporary name, renamed once it is there.
  const moved = o.ns !== from;
  const name = moved ? temporaryName(o) : o.ifname;
  const end: LinkEnd = { name, netns: netnsArg(o.ns, from), mac: inheritsMac(o) ? null : o.mac, mtu: creationMtu(o) };
  const ops: Operation[] = [{ op: 'link.add', ns: from, link: o, end, parent, phase }];
  // Pinned in the creating batch, before any port or device stacked on the bridge (a VLAN on it
  // may not exceed its MTU) is made.
  if (creationMtu(o) !== o.mtu) ops.push(set(from, name, { mtu: o.mtu }, phase));
  if (moved) ops.push(set(o.ns, name, { name: o.ifname }, PHASE.linkSet));
  ops.push(...altnameOps(o, moved ? PHASE.linkSet : phase));
  return ops;
}

/** `nlt` + 8 hex: the name of a device on its way to another namespace (see createLink). */
export function temporaryName(o: LinkObj): string {
  return `nlt${createHash('sha256').update(`${o.ns}\0${o.ifname}`).digest('hex').slice(0, 8)}`;
}

/** Changes that can be made in place; null when the link must be recreated. */
export function modifyLink(live: LinkObj, desired: LinkObj): Operation[] | null {
  if (live.type !== desired.type) return null;
  if (JSON.stringify(live.peer) !== JSON.stringify(desired.peer) && live.type !== 'loopback') return null;
  const attrKeys = new Set([...Object.keys(live.attrs), ...Object.keys(desired.attrs)]);
  const changedAttrs = [...attrKeys].filter((k) => live.attrs[k] !== desired.attrs[k]);
  const inPlaceBridge = live.type === 'bridge' && changedAttrs.every((k) => k === 'stp' || k === 'ageing');
  if (changedAttrs.length && !inPlaceBridge) return null;
  if (inheritsMac(live) && live.mac !== desired.mac) return null;

  const { ns, ifname: dev } = desired;
  const ops: Operation[] = [];
  const basic: LinkChanges = {};
  if (live.mtu !== desired.mtu) basic.mtu = desired.mtu;
  if (live.mac !== desired.mac) basic.mac = desired.mac;
  if (live.master !== desired.master) basic.master = desired.master;
  if (Object.keys(basic).length) ops.push(set(ns, dev, basic, PHASE.linkSet));
  if (changedAttrs.length)
    ops.push(set(ns, dev, { bridge: { stp: Boolean(desired.attrs.stp), ageing: Number(desired.attrs.ageing) } }, PHASE.linkSet));
  if (desired.master && (live.hairpin !== desired.hairpin || live.master !== desired.master))
    ops.push(set(ns, dev, { hairpin: desired.hairpin }, PHASE.linkSet));
  if (live.alias !== desired.alias) ops.push(set(ns, dev, { alias: desired.alias }, PHASE.linkSet));
  if (live.altname !== desired.altname) {
    if (live.altname) ops.push({ op: 'altname.del', ns, dev, altname: live.altname, phase: PHASE.linkSet });
    if (desired.altname) ops.push({ op: 'altname.add', ns, dev, altname: desired.altname, phase: PHASE.linkSet });
  }
  if (live.up !== desired.up) ops.push(set(ns, dev, { up: desired.up }, PHASE.linkSet));
  return ops;
}

export function deleteLink(o: LinkObj, phase: number, alsoRemoves: string[] = []): Operation[] {
  return [{ op: 'link.del', ns: o.ns, link: o, alsoRemoves, phase }];
}

const STACKED = new Set(['vlan', 'macvlan', 'ipvlan', 'macvtap']);

/** How many devices a link stacks on (a VLAN on a veth is 1, QinQ is 2). */
export function depth(o: LinkObj, state: State, seen = 0): number {
  if (seen > 8) return seen;
  let parentId: string | null = null;
  if (STACKED.has(o.type) && o.peer) parentId = ids.link(o.peer.ns, o.peer.ifname);
  if (o.type === 'vxlan' && o.attrs.dev) parentId = ids.link(o.ns, String(o.attrs.dev));
  const parent = parentId ? state.get(parentId) : undefined;
  if (!parentId) return 0;
  return parent && parent.kind === 'link' ? 1 + depth(parent, state, seen + 1) : 1;
}

const peerId = (o: LinkObj) => (o.peer ? ids.link(o.peer.ns, o.peer.ifname) : null);

export const linkKind: Kind<LinkObj> = {
  kind: 'link',
  describe: (o) => `${o.type} ${nsLabel(o.ns)}/${o.ifname}${o.altname ? ` (${o.altname})` : ''}`,
  desired: (lab) => desiredLinks(lab, bridgesNeedingHairpin),
  compare: (live, desired) => (sameObject(live, desired) ? 'equal' : modifyLink(live, desired) === null ? 'replace' : 'changes'),
  query: (o, q) => {
    if (o.type === 'bridge' && o.attrs.vlanFiltering) q.bridgeVlans = true;
  },
  create: (o, ctx) => createLink(o, ctx.partner?.kind === 'link' ? ctx.partner : undefined, PHASE.linkBase + depth(o, ctx.state)),
  modify: (live, desired) => {
    const ops = modifyLink(live, desired);
    if (!ops) throw new InternalError(`${desired.id} cannot be configured in place after creation`);
    return ops;
  },
  remove: (o, ctx) => deleteLink(o, PHASE.linkBase + depth(o, ctx.state), ctx.partner ? [ctx.partner.id] : []),
  afterCreate: justCreated,
  fixed: (o) => o.type === 'loopback',
  partner: (o, state) => {
    const id = o.type === 'veth' ? peerId(o) : null;
    const peer = id ? state.get(id) : undefined;
    return peer?.kind === 'link' ? peer : undefined;
  },
  rank: depth,
  anchor: (o) => (o.peer ? { ns: o.peer.ns, what: o.type === 'veth' ? 'peer' : 'parent' } : null),
  anchorUnread: (o) => (o.peer ? { ...o, peer: { ns: o.peer.ns, ifname: '' } } : o),
  device: true,
  // Stacked children die with their parent; a veth end dies with its peer.
  diesWith: (o, link) => o.peer !== null && o.peer.ns === link.ns && o.peer.ifname === link.ifname,
  carriesDependents: true,
  detach: (o, removed) => (o.ns === removed.ns && o.master === removed.ifname ? { ...o, master: null, hairpin: false } : null),
  conflict: (o, f) => (f.foreignLinks?.has(o.id) ? 'the name is taken by an interface netlab does not own' : null),
  unrestorable: (o, checkpoint) => o.type === 'veth' && !checkpoint.has(peerId(o) ?? ''),
};
