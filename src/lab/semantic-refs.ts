// Rules about references: every name a lab uses must name something the lab defines, and
// what it names must be of the right kind (a bridge for `bridge:`, a lower device for `parent`).
import { parseEndpoint, parseMatch } from './addr.js';
import type { HostEntry, IfaceEntry, LabContext } from './context.js';
import type { Path } from './locate.js';

export function checkReferences(ctx: LabContext): void {
  for (const host of ctx.hosts.values()) {
    checkRouteDevs(ctx, host);
    for (const entry of host.ifaces.values()) {
      if (!entry.declared) continue;
      const path = entry.path;
      if (entry.raw.parent !== undefined) checkParent(ctx, host, entry);
      if (entry.raw.bridge !== undefined) checkBridge(ctx, host, entry);
      if (entry.raw.dev !== undefined) ctx.iface(host, entry.raw.dev, [...path, 'dev']);
    }
    checkNatRefs(ctx, host);
    checkFirewallRefs(ctx, host);
  }
}

function checkRouteDevs(ctx: LabContext, host: HostEntry): void {
  for (const [i, route] of (host.raw.routes ?? []).entries()) {
    if (route.dev !== undefined) ctx.iface(host, route.dev, [...host.path, 'routes', i, 'dev']);
  }
}

/** The parent must exist, not be the device itself, and parents must not form a loop. */
function checkParent(ctx: LabContext, host: HostEntry, entry: IfaceEntry): void {
  const path: Path = [...entry.path, 'parent'];
  const parent = ctx.ifaceRef(host, entry.raw.parent!, path);
  if (!parent) return;
  if (parent === entry) {
    ctx.report(path, `interface "${entry.name}" cannot be its own parent`);
    return;
  }
  const chain = [entry];
  for (let cur: IfaceEntry | undefined = parent; cur; cur = parentOf(ctx, cur)) {
    if (cur === entry) {
      ctx.report(path, `parents form a loop: ${[...chain, entry].map((e) => `${e.host}:${e.name}`).join(' -> ')}`);
      return;
    }
    // A loop not through this entry is reported at the entries on it.
    if (chain.includes(cur)) return;
    chain.push(cur);
  }
}

function parentOf(ctx: LabContext, e: IfaceEntry): IfaceEntry | undefined {
  const ref = e.raw.parent;
  if (ref === undefined) return undefined;
  const colon = ref.indexOf(':');
  const owner = colon < 0 ? ctx.hosts.get(e.host) : ctx.hosts.get(ref.slice(0, colon));
  return owner?.ifaces.get(colon < 0 ? ref : ref.slice(colon + 1));
}

/** `bridge:` names a bridge in the same host: a port cannot be in another namespace than its bridge. */
function checkBridge(ctx: LabContext, host: HostEntry, entry: IfaceEntry): void {
  const path: Path = [...entry.path, 'bridge'];
  const ref = entry.raw.bridge!;
  const colon = ref.indexOf(':');
  let name = ref;
  if (colon >= 0) {
    const other = ctx.host(ref.slice(0, colon), path);
    if (!other) return;
    name = ref.slice(colon + 1);
    if (other !== host) {
      ctx.report(
        path,
        `bridge "${name}" is in host "${other.name}", another namespace: a bridge port must be in its bridge's host; join them with a link (e.g. { a: ${ref}, b: ${host.name}:${entry.name} }) instead`,
      );
      return;
    }
  }
  const bridge = ctx.iface(host, name, path);
  if (!bridge) return;
  if (entry.kind === 'bridge') ctx.report(path, `"${entry.name}" is a bridge itself: Linux cannot make a bridge a port of another bridge`);
  else if (bridge.kind !== 'bridge') ctx.report(path, `"${name}" is a ${bridge.kind}, not a bridge`);
}

function checkNatRefs(ctx: LabContext, host: HostEntry): void {
  const nat = host.raw.nat;
  if (!nat) return;
  const base: Path = [...host.path, 'nat'];
  for (const [i, r] of (nat.masquerade ?? []).entries()) if (r.out !== undefined) ctx.iface(host, r.out, [...base, 'masquerade', i, 'out']);
  for (const [i, r] of (nat.snat ?? []).entries()) if (r.out !== undefined) ctx.iface(host, r.out, [...base, 'snat', i, 'out']);
  for (const [i, r] of (nat.publish ?? []).entries()) {
    if (r.in !== undefined) ctx.iface(host, r.in, [...base, 'publish', i, 'in']);
    const to = parseEndpoint(r.to);
    if (to?.kind === 'host') ctx.host(to.host, [...base, 'publish', i, 'to']);
  }
  for (const [i, s] of (nat.services ?? []).entries()) {
    for (const [j, b] of s.backends.entries()) {
      const to = parseEndpoint(b);
      if (to?.kind === 'host') ctx.host(to.host, [...base, 'services', i, 'backends', j]);
    }
  }
}

function checkFirewallRefs(ctx: LabContext, host: HostEntry): void {
  for (const [i, rule] of (host.raw.firewall?.rules ?? []).entries()) {
    for (const side of ['from', 'to'] as const) {
      const value = rule[side];
      if (value === undefined) continue;
      const items = typeof value === 'string' ? [value] : value;
      for (const [j, item] of items.entries()) {
        const m = parseMatch(item);
        if (m?.kind !== 'host') continue;
        const path: Path = [...host.path, 'firewall', 'rules', i, side, ...(typeof value === 'string' ? [] : [j])];
        const target = ctx.host(m.host, path);
        if (target && ctx.addressesOf(target).next().done) ctx.report(path, `host "${m.host}" has no addresses to match`);
      }
    }
  }
  for (const [i, name] of (host.raw.firewall?.isolate ?? []).entries()) ctx.iface(host, name, [...host.path, 'firewall', 'isolate', i]);
}
