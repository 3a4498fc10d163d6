// Slicing a lab across machines into one ordinary lab per machine. A link between hosts on
// different machines joins their L2 segments; each such segment becomes a VXLAN (unicast, static
// all-zero fdb entries towards the other machines, no multicast) on a bridge in every machine it
// touches, in the machine's own namespace, where the tunnel's underlay socket must live. The
// slices are lab documents that each machine checks like any lab file, then applies as usual.
import { createHash } from 'node:crypto';
import type { RawHost, RawInterface, RawLab, RawLink } from '../lab/raw.js';
import type { Host, Lab } from '../lab/types.js';
import { InternalError } from '../errors.js';
import { deterministicMac } from '../lab/names.js';
import { pinRemoteRefs } from './slice-refs.js';

/** What a machine's kernel says about its way to the other machines. */
export interface Underlay {
  /** This machine's address on it (the tunnels' local end). */
  address: string;
  /** The device routing to the other machines, and its MTU. */
  dev: string;
  mtu: number;
}

/** VXLAN over IPv4 adds 50 bytes (outer Ethernet 14, IPv4 20, UDP 8, VXLAN 8), over IPv6 70. */
export const VXLAN_OVERHEAD = { 4: 50, 6: 70 } as const;
export const VXLAN_PORT = 4789;
const VNI_MAX = 0xffffff;

/** A cross-machine L2 segment. */
export interface Segment {
  /** Its members, sorted: `HOST:IF` of the bridges and plain interfaces the cross-machine links join. */
  members: string[];
  vni: number;
  /** Machines it spans, in the lab's order. */
  machines: string[];
}

export interface SegmentMtu {
  mtu: number;
  /** The machine whose underlay allows the least. */
  machine: string;
  dev: string;
  underlayMtu: number;
}

export interface Slices {
  segments: (Segment & SegmentMtu)[];
  /** One lab document per machine that has hosts, without the lab's assertions (src/machines/assertions.ts has them). */
  slices: Map<string, RawLab>;
}

const splitRef = (ref: string) => {
  const colon = ref.indexOf(':');
  return { host: ref.slice(0, colon), name: ref.slice(colon + 1) };
};

/**
 * The lab's links, with each interface's `link: HOST:IF` as a link of its own, in the order the
 * lab's own checks take them: the far end may be on another machine, so the slicer places them
 * like any link and the slices carry them as links.
 */
function linksOf(raw: RawLab): RawLink[] {
  const out = [...(raw.links ?? [])];
  for (const [host, h] of Object.entries(raw.hosts))
    for (const [name, i] of Object.entries(h.interfaces ?? {})) if (i.link !== undefined) out.push({ a: `${host}:${name}`, b: i.link });
  return out;
}

function hostMachine(lab: Lab): Map<string, string> {
  const out = new Map<string, string>();
  for (const h of lab.hosts) {
    if (h.machine === undefined) throw new InternalError(`host ${h.name} of a lab across machines has no machine`);
    out.set(h.name, h.machine);
  }
  return out;
}

function isBridge(hosts: Map<string, Host>, ref: string): boolean {
  const { host, name } = splitRef(ref);
  return hosts.get(host)?.interfaces.find((i) => i.name === name)?.kind === 'bridge';
}

/** The first 24 bits of a digest of lab and segment, never 0; a collision takes the next free one. */
export function vniOf(lab: string, id: string, used: Set<number>): number {
  let vni = (parseInt(createHash('sha256').update(`${lab}\0${id}`).digest('hex').slice(0, 6), 16) % VNI_MAX) + 1;
  while (used.has(vni)) vni = (vni % VNI_MAX) + 1;
  used.add(vni);
  return vni;
}

/**
 * The lab's cross-machine segments: the links whose ends are on different machines, joined when
 * they share a bridge. A plain veth between machines is a segment of its own two ends.
 */
export function crossSegments(raw: RawLab, lab: Lab): Segment[] {
  const machineOf = hostMachine(lab);
  const hosts = new Map(lab.hosts.map((h) => [h.name, h]));
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let p = parent.get(k) ?? k;
    while (p !== (parent.get(p) ?? p)) p = parent.get(p)!;
    parent.set(k, p);
    return p;
  };
  for (const l of linksOf(raw)) {
    const a = splitRef(l.a).host;
    const b = splitRef(l.b).host;
    if (machineOf.get(a) === machineOf.get(b)) continue;
    // A bridge end stands for the bridge's whole segment, so links crossing to it join.
    parent.set(find(l.a), find(l.b));
  }
  const groups = new Map<string, string[]>();
  for (const k of parent.keys()) {
    const root = find(k);
    groups.set(root, [...(groups.get(root) ?? []), k]);
  }
  const machineNames = (lab.machines ?? []).map((m) => m.name);
  // A segment with bridges is named by them alone: a host joining it later keeps its VNI.
  const idOf = (members: string[]) => {
    const bridges = members.filter((m) => isBridge(hosts, m));
    return (bridges.length ? bridges : members).join(',');
  };
  const segments = [...groups.values()].map((members) => members.sort()).sort((x, y) => (idOf(x) < idOf(y) ? -1 : 1));
  const used = new Set<number>();
  return segments.map((members) => {
    const on = new Set(members.map((m) => machineOf.get(splitRef(m).host)!));
    return { members, vni: vniOf(lab.name, idOf(members), used), machines: machineNames.filter((n) => on.has(n)) };
  });
}

/** The segment's MTU: what the smallest underlay of its machines carries once encapsulated. */
export function segmentMtu(seg: Segment, underlays: Map<string, Underlay>): SegmentMtu {
  let best: SegmentMtu | null = null;
  for (const m of seg.machines) {
    const u = underlays.get(m);
    if (!u) throw new InternalError(`no underlay for machine ${m}`);
    const mtu = u.mtu - VXLAN_OVERHEAD[u.address.includes(':') ? 6 : 4];
    if (!best || mtu < best.mtu) best = { mtu, machine: m, dev: u.dev, underlayMtu: u.mtu };
  }
  return best!;
}

/** A host name for the machine's own namespace in a slice, unused by the lab. */
function overlayHostName(hosts: Record<string, RawHost>): string {
  const root = Object.entries(hosts).find(([, h]) => h.netns === 'root');
  if (root) return root[0];
  let name = 'overlay';
  for (let i = 1; name in hosts; i++) name = `overlay-${i}`;
  return name;
}

const DEFAULT_MTU = 1500;
const lower = (current: number | undefined, mtu: number) => Math.min(current ?? DEFAULT_MTU, mtu);

/** Cuts the lab into one lab document per machine; `underlays` are the machines' kernels' answers. */
export function sliceLab(raw: RawLab, lab: Lab, underlays: Map<string, Underlay>): Slices {
  const machineOf = hostMachine(lab);
  const hosts = new Map(lab.hosts.map((h) => [h.name, h]));
  const segments = crossSegments(raw, lab).map((s) => ({ ...s, ...segmentMtu(s, underlays) }));
  const segmentOf = new Map<string, Segment & SegmentMtu>();
  for (const s of segments) for (const m of s.members) segmentOf.set(m, s);
  const rawLinks = linksOf(raw);
  const ends = new Set(rawLinks.flatMap((l) => [l.a, l.b]));
  const slices = new Map<string, RawLab>();
  for (const machine of (lab.machines ?? []).map((m) => m.name)) {
    const mine = lab.hosts.filter((h) => h.machine === machine);
    if (!mine.length) continue;
    const slice: RawLab = { name: raw.name, hosts: {} };
    if (raw.owner !== undefined) slice.owner = raw.owner;
    if (raw.root !== undefined) slice.root = raw.root;
    for (const h of mine) {
      const { on: _on, ...rest } = structuredClone(raw.hosts[h.name]!);
      for (const i of Object.values(rest.interfaces ?? {})) delete i.link;
      slice.hosts[h.name] = rest;
    }
    const targets = new Set<string>();
    for (const h of mine) {
      pinAddresses(slice.hosts[h.name]!, h, ends);
      pinRemoteRefs(slice.hosts[h.name]!, h, { hosts, machine, targets });
    }
    if (targets.size) slice.addresses_elsewhere = [...targets].sort();
    carryPolicies(slice, raw, lab, machine);
    const links: RawLink[] = [];
    const overlay = overlayHostName(slice.hosts);
    const joined = new Set<number>();
    const attached = new Set<string>();
    const addOverlay = (s: Segment & SegmentMtu) => {
      if (joined.has(s.vni)) return;
      joined.add(s.vni);
      slice.root = true;
      const host = (slice.hosts[overlay] ??= { netns: 'root', interfaces: {} });
      const ifs = (host.interfaces ??= {});
      const others = s.machines.filter((m) => m !== machine).map((m) => underlays.get(m)!.address);
      // The overlay host has the same name on every machine, so the usual lab/host/interface MAC
      // would be the same at both ends of a tunnel: the machine's name is part of it here.
      const mac = (ifname: string) => deterministicMac(raw.name, `${overlay}@${machine}`, ifname);
      ifs[`br${s.vni}`] = { kind: 'bridge', mtu: s.mtu, mac: mac(`br${s.vni}`) };
      ifs[`vx${s.vni}`] = {
        kind: 'vxlan',
        mac: mac(`vx${s.vni}`),
        vni: s.vni,
        port: VXLAN_PORT,
        local: underlays.get(machine)!.address,
        remotes: others,
        bridge: `br${s.vni}`,
        mtu: s.mtu,
      };
    };
    for (const l of rawLinks) {
      const ends = [l.a, l.b];
      const local = ends.filter((e) => machineOf.get(splitRef(e).host) === machine);
      if (local.length === 2) {
        // A link on this machine to a bridge of a spanning segment carries the segment's frames.
        const s = segmentOf.get(l.a) ?? segmentOf.get(l.b);
        links.push(s ? { ...structuredClone(l), mtu: lower(l.mtu, s.mtu) } : structuredClone(l));
        continue;
      }
      for (const end of local) {
        const s = segmentOf.get(end)!;
        addOverlay(s);
        // A bridge joins its machine's side of the segment once, however many links cross to it.
        if (attached.has(end)) continue;
        attached.add(end);
        const mtu = isBridge(hosts, end) ? s.mtu : Math.min(l.mtu ?? DEFAULT_MTU, s.mtu);
        links.push({
          a: end,
          b: `${overlay}:br${s.vni}`,
          mtu,
          ...(l.conditions && !isBridge(hosts, end) ? { conditions: l.conditions } : {}),
        });
      }
    }
    // Every interface of a spanning segment on this machine: the bridges and their explicit ports.
    for (const s of segments)
      for (const m of s.members) {
        const { host, name } = splitRef(m);
        if (machineOf.get(host) !== machine) continue;
        const ifs = (slice.hosts[host]!.interfaces ??= {});
        const entry = (ifs[name] ??= {});
        entry.mtu = lower(entry.mtu, s.mtu);
        if (isBridge(hosts, m)) for (const port of Object.values(ifs)) if (port.bridge === name) port.mtu = lower(port.mtu, s.mtu);
      }
    slice.links = links;
    slices.set(machine, slice);
  }
  return { segments, slices };
}

/**
 * A slice carries every NetworkPolicy and namespace of the lab, the pods on other machines as
 * peers (their addresses, labels, named ports) and the service VIPs DNATed there: the policies a
 * pod gets here are the ones it gets with the whole lab on one machine.
 */
function carryPolicies(slice: RawLab, raw: RawLab, lab: Lab, machine: string): void {
  if (!lab.networkPolicies?.length) return;
  slice.network_policies = structuredClone(lab.networkPolicies);
  if (raw.namespaces !== undefined) slice.namespaces = structuredClone(raw.namespaces);
  const elsewhere: NonNullable<RawLab['pods_elsewhere']> = {};
  for (const h of lab.hosts) {
    const r = raw.hosts[h.name]!;
    if (h.machine === machine || (r.labels === undefined && r.namespace === undefined)) continue;
    elsewhere[h.name] = {
      ...(r.namespace !== undefined ? { namespace: r.namespace } : {}),
      ...(r.labels !== undefined ? { labels: { ...r.labels } } : {}),
      addresses: h.interfaces.flatMap((i) => i.addresses.map((a) => a.split('/')[0]!)),
      ...(r.ports !== undefined ? { ports: structuredClone(r.ports) } : {}),
    };
  }
  if (Object.keys(elsewhere).length) slice.pods_elsewhere = elsewhere;
  const services = lab.hosts
    .filter((h) => h.machine !== machine)
    .flatMap((h) => (h.policy?.services ?? []).map(({ vip, proto, port }) => ({ vip, proto, port })));
  if (services.length) slice.services_elsewhere = services;
}

/**
 * Addresses a pool handed out are written into the slice as plain addresses: each machine checks
 * only its part, and a pool re-run there could hand out others.
 */
function pinAddresses(raw: RawHost, host: Host, linkEnds: Set<string>): void {
  const ifs = (raw.interfaces ??= {});
  for (const i of host.interfaces) {
    const entry: RawInterface | undefined = ifs[i.name];
    if (entry?.pool !== undefined) delete entry.pool;
    if (!i.addresses.length || entry?.addresses !== undefined) continue;
    if (entry) entry.addresses = [...i.addresses];
    else if (linkEnds.has(`${host.name}:${i.name}`)) ifs[i.name] = { addresses: [...i.addresses] };
  }
  if (!Object.keys(ifs).length) delete raw.interfaces;
}
