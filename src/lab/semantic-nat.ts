// Rules about NAT targets: traffic may only be sent to addresses the lab owns, and a host
// named as a target needs an address of the right family.
import { familyOf, parseEndpoint, parseIp, parseCidr, parseMatch, parsePortRange, type Family, type IP } from './addr.js';
import type { HostEntry, LabContext } from './context.js';
import type { Path } from './locate.js';

/** The first address of `host` in file order: IPv4 preferred unless `family` is given. */
export function firstAddress(ctx: LabContext, host: HostEntry, family: Family | null): IP | null {
  const all = [...ctx.addressesOf(host)].map((a) => parseCidr(a.text)?.ip).filter((ip): ip is IP => ip !== undefined);
  const want = family ?? (all.some((ip) => familyOf(ip) === 4) ? 4 : 6);
  return all.find((ip) => familyOf(ip) === want) ?? null;
}

/** Every address on any interface of the lab, canonical, and in a slice those of the lab's hosts on other machines. */
function ownedAddresses(ctx: LabContext): Set<string> {
  const owned = new Set<string>();
  for (const text of ctx.raw.addresses_elsewhere ?? []) owned.add(parseIp(text)!.toString());
  for (const host of ctx.hosts.values()) {
    for (const a of ctx.addressesOf(host)) {
      const c = parseCidr(a.text);
      if (c) owned.add(c.ip.toString());
    }
  }
  return owned;
}

/** A `HOST:PORT` or `ADDRESS:PORT` target must be inside the lab. */
function checkTarget(ctx: LabContext, owned: () => Set<string>, text: string, family: Family | null, path: Path, what: string): void {
  const target = parseEndpoint(text);
  if (!target) return;
  if (target.kind === 'host') {
    const host = ctx.hosts.get(target.host);
    if (host && !firstAddress(ctx, host, family)) {
      ctx.report(path, `host "${target.host}" has no ${family ? `IPv${family} ` : ''}address to send ${what} traffic to`);
    }
    return;
  }
  if (family !== null && familyOf(target.ip) !== family) {
    ctx.report(path, `${what} target ${text} is IPv${familyOf(target.ip)} but must be IPv${family} here`);
  } else if (!owned().has(target.ip.toString())) {
    ctx.report(path, `${what} target ${target.ip.toString()} is not an address of any host in this lab`);
  }
}

export function checkNat(ctx: LabContext): void {
  // Built on first use: most labs send nothing to an address, and a big one has 100k of them.
  let addresses: Set<string> | undefined;
  const owned = () => (addresses ??= ownedAddresses(ctx));
  for (const host of ctx.hosts.values()) {
    const nat = host.raw.nat;
    if (!nat) continue;
    const base: Path = [...host.path, 'nat'];
    for (const [i, p] of (nat.publish ?? []).entries()) {
      const address = p.address === undefined ? null : parseIp(p.address);
      checkTarget(ctx, owned, p.to, address ? familyOf(address) : null, [...base, 'publish', i, 'to'], 'published');
    }
    const names = new Map<string, number>();
    for (const [i, s] of (nat.services ?? []).entries()) {
      const first = names.get(s.name);
      if (first !== undefined) ctx.report([...base, 'services', i, 'name'], `service "${s.name}" is already defined at services[${first}]`);
      else names.set(s.name, i);
      const vip = parseIp(s.vip);
      for (const [j, b] of s.backends.entries()) {
        checkTarget(ctx, owned, b, vip ? familyOf(vip) : null, [...base, 'services', i, 'backends', j], 'service');
      }
      if (s.external_traffic_policy !== undefined && s.node_port === undefined) {
        ctx.report(
          [...base, 'services', i, 'external_traffic_policy'],
          `external_traffic_policy applies to a NodePort: add node_port to service "${s.name}" or remove it`,
        );
      }
    }
  }
  checkRulesNamingVips(ctx);
}

/**
 * A filter rule whose destination is one of this host's service VIPs can never match: the host's
 * filter chains see packets after the service's DNAT (as a real cluster's NetworkPolicy does).
 * It is an error, not silently rewritten to the backends, so the lab shows what the kernel sees.
 */
function checkRulesNamingVips(ctx: LabContext): void {
  for (const host of ctx.hosts.values()) {
    const services = host.raw.nat?.services ?? [];
    const rules = host.raw.firewall?.rules ?? [];
    if (services.length === 0 || rules.length === 0) continue;
    for (const [i, r] of rules.entries()) {
      if (r.to === undefined) continue;
      const items = typeof r.to === 'string' ? [r.to] : r.to;
      const ports = r.port === undefined ? null : parsePortRange(r.port);
      for (const [j, item] of items.entries()) {
        const m = parseMatch(item);
        if (!m || m.kind !== 'cidr' || m.cidr.prefix !== (m.cidr.family === 4 ? 32 : 128)) continue;
        const s = services.find(
          (sv) =>
            parseIp(sv.vip)?.toString() === m.cidr.ip.toString() &&
            (ports === null || (ports.from <= sv.port && sv.port <= ports.to)) &&
            (r.proto === undefined || r.proto === (sv.proto ?? 'tcp')),
        );
        if (!s) continue;
        const path: Path = [...host.path, 'firewall', 'rules', i, 'to', ...(typeof r.to === 'string' ? [] : [j])];
        ctx.report(
          path,
          `${item} is the VIP of service "${s.name}": filter rules see packets after the service's DNAT, so this rule never matches; name its backends instead (${backendHint(s.backends)})`,
        );
      }
    }
  }
}

/** `to: [pod-a1, pod-b1], port: 8080` from `[pod-a1:8080, pod-b1:8080]`. */
function backendHint(backends: string[]): string {
  const eps = backends.map(parseEndpoint).filter((e) => e !== null);
  const targets = [...new Set(eps.map((e) => (e.kind === 'host' ? e.host : e.ip.toString())))];
  const ports = [...new Set(eps.map((e) => e.port))];
  return `to: [${targets.join(', ')}]${ports.length === 1 ? `, port: ${ports[0]}` : ''}`;
}
