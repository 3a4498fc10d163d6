// Rules about device settings that only make sense together: port VLANs need a VLAN-filtering
// bridge, and a VXLAN's addresses must agree with each other.
import { familyOf, isMulticast, parseIp, type IP } from './addr.js';
import type { HostEntry, IfaceEntry, LabContext } from './context.js';
import type { Path } from './locate.js';
import { mtuLimit } from './normalise.js';

export function checkDevices(ctx: LabContext): void {
  for (const host of ctx.hosts.values()) {
    for (const e of host.ifaces.values()) {
      if (e.raw.vlans !== undefined) checkPortVlans(ctx, host, e);
      if (e.kind === 'vxlan') checkVxlan(ctx, e);
      if (e.raw.mtu !== undefined) checkMtuLimit(ctx, host, e);
    }
  }
  checkSharedParents(ctx);
  checkBridgePorts(ctx);
}

/** Most ports one Linux bridge takes: port numbers are 10 bits and 0 is reserved (BR_MAX_PORTS - 1); the next fails with EXFULL. */
export const MAX_BRIDGE_PORTS = 1023;

/** Everything that becomes a port of a bridge (link ends naming it, interfaces with `bridge:`), counted per bridge. */
function checkBridgePorts(ctx: LabContext): void {
  for (const host of ctx.hosts.values()) {
    const ports = new Map<IfaceEntry, number>();
    for (const e of host.ifaces.values()) {
      const ref = e.portOf ?? e.raw.bridge;
      if (ref === undefined || ref === null) continue;
      const colon = ref.indexOf(':');
      // A bridge in another host is refused by the reference rules.
      if (colon >= 0 && ref.slice(0, colon) !== host.name) continue;
      const bridge = host.ifaces.get(ref.slice(colon + 1));
      if (bridge?.kind === 'bridge') ports.set(bridge, (ports.get(bridge) ?? 0) + 1);
    }
    for (const [bridge, n] of ports) {
      if (n <= MAX_BRIDGE_PORTS) continue;
      ctx.report(
        bridge.path,
        `bridge "${bridge.name}" of host "${host.name}" gets ${n} ports: Linux takes at most ${MAX_BRIDGE_PORTS} on one bridge (apply would fail with "Exchange full"); split the segment across bridges joined by a trunk (a link between two bridges) or by a router`,
        'key',
      );
    }
  }
}

const name = (e: IfaceEntry) => `${e.host}:${e.name}`;

/** A stacked device cannot exceed its parent's MTU, nor a VXLAN its underlay's minus the headroom (the kernel refuses or clamps). */
function checkMtuLimit(ctx: LabContext, host: HostEntry, e: IfaceEntry): void {
  const l = mtuLimit(ctx, host, e);
  if (!l || e.raw.mtu! <= l.limit) return;
  const why =
    e.kind === 'vxlan'
      ? `the underlay "${l.of.name}" allows (its MTU minus the VXLAN encapsulation)`
      : `its parent "${name(l.of)}" has (a ${e.kind} cannot exceed its parent)`;
  ctx.report([...e.path, 'mtu'], `mtu ${e.raw.mtu} is above the ${l.limit} ${why}`);
}

/**
 * What the kernel refuses when devices share a parent: MACVLAN/MACVTAP and IPVLAN on one parent,
 * a passthru MACVLAN with siblings, IPVLANs in different modes (the mode is the parent's), and
 * either on a bridge port (the bridge holds the port's receive hook: use the bridge as parent).
 */
function checkSharedParents(ctx: LabContext): void {
  const children = new Map<IfaceEntry, IfaceEntry[]>();
  for (const host of ctx.hosts.values()) {
    for (const e of host.ifaces.values()) {
      if ((e.kind !== 'macvlan' && e.kind !== 'macvtap' && e.kind !== 'ipvlan') || e.raw.parent === undefined) continue;
      const ref = e.raw.parent;
      const colon = ref.indexOf(':');
      const parent = (colon < 0 ? host : ctx.hosts.get(ref.slice(0, colon)))?.ifaces.get(colon < 0 ? ref : ref.slice(colon + 1));
      if (parent) children.set(parent, [...(children.get(parent) ?? []), e]);
    }
  }
  for (const [parent, kids] of children) {
    const macs = kids.filter((k) => k.kind !== 'ipvlan');
    const ips = kids.filter((k) => k.kind === 'ipvlan');
    if (macs.length && ips.length) {
      ctx.report(
        [...ips[0]!.path, 'parent'],
        `"${name(parent)}" is already the parent of ${macs.map((k) => `${k.kind} ${name(k)}`).join(', ')}: an interface carries MACVLAN/MACVTAP or IPVLAN devices, not both`,
      );
    }
    const passthru = macs.find((k) => k.raw.mode === 'passthru');
    if (passthru && macs.length > 1) {
      ctx.report(
        [...passthru.path, 'mode'],
        `a passthru ${passthru.kind} takes its parent over and must be its only macvlan/macvtap; "${name(parent)}" also carries ${macs
          .filter((k) => k !== passthru)
          .map(name)
          .join(', ')}`,
      );
    }
    const modes = [...new Set(ips.map((k) => k.raw.mode ?? 'l2'))];
    if (modes.length > 1) {
      const odd = ips.find((k) => (k.raw.mode ?? 'l2') !== (ips[0]!.raw.mode ?? 'l2'))!;
      ctx.report(
        [...odd.path, 'mode'],
        `IPVLAN devices on one parent share its mode: "${name(parent)}" has ${ips.map((k) => `${name(k)} in ${k.raw.mode ?? 'l2'}`).join(', ')}`,
      );
    }
    const bridge = parent.portOf ?? parent.raw.bridge;
    if (bridge !== undefined && bridge !== null) {
      ctx.report(
        [...kids[0]!.path, 'parent'],
        `"${name(parent)}" is a port of bridge "${bridge}", which holds its receive path: make the bridge the parent instead`,
      );
    }
  }
}

function checkPortVlans(ctx: LabContext, host: HostEntry, e: IfaceEntry): void {
  const ref = e.raw.bridge;
  // Unknown or foreign bridges are reported by the reference rules.
  const bridge = ref === undefined ? undefined : host.ifaces.get(ref.slice(ref.indexOf(':') + 1));
  if (ref !== undefined && bridge?.kind !== 'bridge') return;
  if (!bridge || bridge.raw.vlan_filtering !== true) {
    ctx.report(
      [...e.path, 'vlans'],
      bridge
        ? `vlans need vlan_filtering: true on bridge "${bridge.name}"`
        : `vlans only apply to a bridge port: add bridge: BRIDGE (a bridge with vlan_filtering: true)`,
      'key',
    );
  }
}

function checkVxlan(ctx: LabContext, e: IfaceEntry): void {
  const raw = e.raw;
  const group = typeof raw.group === 'string' ? parseIp(raw.group) : null;
  if (typeof raw.group === 'string') {
    if (raw.dev === undefined) ctx.report([...e.path, 'group'], 'a multicast group needs dev: the underlay interface to join it on', 'key');
    if (group && !isMulticast(group)) ctx.report([...e.path, 'group'], `group ${raw.group} is not a multicast address`);
  }
  const addrs: { label: string; ip: IP; path: Path }[] = [];
  const local = raw.local === undefined ? null : parseIp(raw.local);
  if (local) addrs.push({ label: `local ${raw.local}`, ip: local, path: [...e.path, 'local'] });
  if (group) addrs.push({ label: `group ${String(raw.group)}`, ip: group, path: [...e.path, 'group'] });
  for (const [i, text] of (raw.remotes ?? []).entries()) {
    const ip = parseIp(text);
    if (!ip) continue;
    const path = [...e.path, 'remotes', i];
    if (isMulticast(ip)) ctx.report(path, `remote ${text} is multicast: use group (with dev) for multicast`);
    addrs.push({ label: `remote ${text}`, ip, path });
  }
  const [first, ...rest] = addrs;
  for (const a of rest) {
    if (first && familyOf(a.ip) !== familyOf(first.ip)) {
      ctx.report(
        a.path,
        `${a.label} is IPv${familyOf(a.ip)} but ${first.label} is IPv${familyOf(first.ip)}: a VXLAN uses one address family`,
      );
    }
  }
}
