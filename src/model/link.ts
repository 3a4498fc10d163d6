// Links: every device kind. How each is derived from a lab, read back from `ip -d -j link`,
// created, changed in place, and deleted.
import { createHash } from 'node:crypto';
import type { Host, Interface, Lab } from '../spec/types.js';
import { createdNetnsMark } from '../spec/names.js';
import { PHASE, type Command } from './command.js';
import { ids, type LinkObj, type LinkType, type Obj } from './objects.js';
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

// ---- commands -------------------------------------------------------------------------------

function netnsArg(targetNs: string, issuingNs: string): string {
  if (targetNs === issuingNs) return '';
  // The root namespace has no name; links into it are always issued from it (see issuingNs).
  return ` netns ${targetNs}`;
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

function typeArgs(o: LinkObj): string {
  const a = o.attrs;
  switch (o.type) {
    case 'bridge':
      return `type bridge stp_state ${a.stp ? 1 : 0} ageing_time ${Number(a.ageing) * 100}${
        a.vlanFiltering ? ' vlan_filtering 1 vlan_default_pvid 0' : ''
      }`;
    case 'vlan':
      return `type vlan protocol ${String(a.protocol)} id ${String(a.id)}`;
    case 'macvlan':
    case 'macvtap':
      return `type ${o.type} mode ${String(a.mode)}`;
    case 'ipvlan':
      return `type ipvlan mode ${String(a.mode)} ${String(a.flag)}`;
    case 'vxlan':
      return [
        `type vxlan id ${String(a.vni)} dstport ${String(a.port)}`,
        a.local ? `local ${String(a.local)}` : '',
        a.group ? `group ${String(a.group)}` : '',
        a.dev ? `dev ${String(a.dev)}` : '',
        a.learning ? '' : 'nolearning',
      ]
        .filter(Boolean)
        .join(' ');
    default:
      return `type ${o.type}`;
  }
}

function altnameLine(o: LinkObj): string[] {
  return o.altname ? [`link property add dev ${o.ifname} altname ${o.altname}`] : [];
}

/**
 * Commands creating `o` (and its veth peer, which must be passed), at `phase`.
 * Settings that need other objects (master, up) come from `configure`.
 */
export function createLink(o: LinkObj, peer: LinkObj | undefined, phase: number): Command[] {
  const ip = (ns: string, line: string, set: Obj[]): Command => ({ tool: 'ip', ns, line, phase, effect: { set } });
  const created = justCreated(o);
  if (o.type === 'veth') {
    if (!peer) throw new InternalError(`veth ${o.id} has no peer in the desired state`);
    const [first, second] = peer.ns === '' && o.ns !== '' ? [peer, o] : [o, peer];
    const from = first.ns;
    const line =
      `link add name ${first.ifname}${netnsArg(first.ns, from)} address ${first.mac} mtu ${first.mtu} ` +
      `type veth peer name ${second.ifname}${netnsArg(second.ns, from)} address ${second.mac} mtu ${second.mtu}`;
    const cmds = [ip(from, line, [justCreated(first), justCreated(second)])];
    // Mark shared-namespace ends at once, in the batch that created them where possible.
    for (const end of [first, second]) {
      for (const l of altnameLine(end)) cmds.push({ ...ip(end.ns, l, []), phase: end.ns === from ? phase : PHASE.linkSet });
    }
    return cmds;
  }
  if (o.type === 'tap') {
    const owner = `${o.attrs.user !== null ? ` user ${String(o.attrs.user)}` : ''}${o.attrs.group !== null ? ` group ${String(o.attrs.group)}` : ''}`;
    return [
      ip(o.ns, `tuntap add dev ${o.ifname} mode tap${owner}`, [created]),
      ip(o.ns, `link set dev ${o.ifname} address ${o.mac} mtu ${o.mtu}`, []),
      ...altnameLine(o).map((l) => ip(o.ns, l, [])),
    ];
  }
  const from = issuingNs(o, peer);
  const parent = o.peer && from === o.peer.ns ? `link ${o.peer.ifname} ` : '';
  const addr = inheritsMac(o) ? '' : ` address ${o.mac}`;
  // Before Linux 6.8 `ip link add NAME netns X` looks NAME up in the issuing namespace and fails
  // with "File exists" when it is taken there (a container's eth0 made on the host's eth0): a
  // device made for another namespace gets a temporary name, renamed once it is there.
  const moved = o.ns !== from;
  const name = moved ? temporaryName(o) : o.ifname;
  const line = `link add ${parent}name ${name}${netnsArg(o.ns, from)}${addr} mtu ${creationMtu(o)} ${typeArgs(o)}`;
  const cmds = [ip(from, line, [created])];
  // Pinned in the creating batch, before any port or device stacked on the bridge (a VLAN on it
  // may not exceed its MTU) is made.
  if (creationMtu(o) !== o.mtu) cmds.push(ip(from, `link set dev ${name} mtu ${o.mtu}`, []));
  if (moved) cmds.push({ ...ip(o.ns, `link set dev ${name} name ${o.ifname}`, []), phase: PHASE.linkSet });
  for (const l of altnameLine(o)) cmds.push({ ...ip(o.ns, l, []), phase: moved ? PHASE.linkSet : phase });
  return cmds;
}

/** `nlt` + 8 hex: the name of a device on its way to another namespace (see createLink). */
export function temporaryName(o: LinkObj): string {
  return `nlt${createHash('sha256').update(`${o.ns}\0${o.ifname}`).digest('hex').slice(0, 8)}`;
}

/** Changes that can be made in place; null when the link must be recreated. */
export function modifyLink(live: LinkObj, desired: LinkObj): Command[] | null {
  if (live.type !== desired.type) return null;
  if (JSON.stringify(live.peer) !== JSON.stringify(desired.peer) && live.type !== 'loopback') return null;
  const attrKeys = new Set([...Object.keys(live.attrs), ...Object.keys(desired.attrs)]);
  const changedAttrs = [...attrKeys].filter((k) => live.attrs[k] !== desired.attrs[k]);
  const inPlaceBridge = live.type === 'bridge' && changedAttrs.every((k) => k === 'stp' || k === 'ageing');
  if (changedAttrs.length && !inPlaceBridge) return null;
  if (inheritsMac(live) && live.mac !== desired.mac) return null;

  const lines: string[] = [];
  const set: string[] = [];
  if (live.mtu !== desired.mtu) set.push(`mtu ${desired.mtu}`);
  if (live.mac !== desired.mac) set.push(`address ${desired.mac}`);
  if (live.master !== desired.master) set.push(desired.master ? `master ${desired.master}` : 'nomaster');
  if (set.length) lines.push(`link set dev ${desired.ifname} ${set.join(' ')}`);
  if (changedAttrs.length) {
    lines.push(
      `link set dev ${desired.ifname} type bridge stp_state ${desired.attrs.stp ? 1 : 0} ageing_time ${Number(desired.attrs.ageing) * 100}`,
    );
  }
  if (desired.master && (live.hairpin !== desired.hairpin || live.master !== desired.master)) {
    lines.push(`link set dev ${desired.ifname} type bridge_slave hairpin ${desired.hairpin ? 'on' : 'off'}`);
  }
  if (live.alias !== desired.alias) {
    lines.push(desired.alias ? `link set dev ${desired.ifname} alias ${desired.alias}` : `link set dev ${desired.ifname} alias ""`);
  }
  if (live.altname !== desired.altname) {
    if (live.altname) lines.push(`link property del dev ${desired.ifname} altname ${live.altname}`);
    if (desired.altname) lines.push(`link property add dev ${desired.ifname} altname ${desired.altname}`);
  }
  if (live.up !== desired.up) lines.push(`link set dev ${desired.ifname} ${desired.up ? 'up' : 'down'}`);
  return lines.map((line, i) => ({
    tool: 'ip' as const,
    ns: desired.ns,
    line,
    phase: PHASE.linkSet,
    effect: i === lines.length - 1 ? { set: [desired] } : {},
  }));
}

export function deleteLink(o: LinkObj, phase: number, alsoRemoves: string[] = []): Command[] {
  return [{ tool: 'ip', ns: o.ns, line: `link del dev ${o.ifname}`, phase, effect: { remove: [o.id, ...alsoRemoves] } }];
}
