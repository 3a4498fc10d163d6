// Rules about device settings that only make sense together: port VLANs need a VLAN-filtering
// bridge, and a VXLAN's addresses must agree with each other.
import { familyOf, isMulticast, parseIp, type IP } from './addr.js';
import type { HostEntry, IfaceEntry, LabContext } from './context.js';
import type { Path } from './locate.js';

export function checkDevices(ctx: LabContext): void {
  for (const host of ctx.hosts.values()) {
    for (const e of host.ifaces.values()) {
      if (e.raw.vlans !== undefined) checkPortVlans(ctx, host, e);
      if (e.kind === 'vxlan') checkVxlan(ctx, e);
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
