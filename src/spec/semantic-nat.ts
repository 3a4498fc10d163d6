// Rules about NAT targets: traffic may only be sent to addresses the lab owns, and a host
// named as a target needs an address of the right family.
import { familyOf, parseEndpoint, parseIp, parseCidr, type Family, type IP } from './addr.js';
import type { HostEntry, LabContext } from './context.js';
import type { Path } from './locate.js';

/** The first address of `host` in file order: IPv4 preferred unless `family` is given. */
export function firstAddress(ctx: LabContext, host: HostEntry, family: Family | null): IP | null {
  const all = [...ctx.addressesOf(host)].map((a) => parseCidr(a.text)?.ip).filter((ip): ip is IP => ip !== undefined);
  const want = family ?? (all.some((ip) => familyOf(ip) === 4) ? 4 : 6);
  return all.find((ip) => familyOf(ip) === want) ?? null;
}

/** Every address on any interface of the lab, canonical. */
function ownedAddresses(ctx: LabContext): Set<string> {
  const owned = new Set<string>();
  for (const host of ctx.hosts.values()) {
    for (const a of ctx.addressesOf(host)) {
      const c = parseCidr(a.text);
      if (c) owned.add(c.ip.toString());
    }
  }
  return owned;
}

/** A `HOST:PORT` or `ADDRESS:PORT` target must be inside the lab. */
function checkTarget(ctx: LabContext, owned: Set<string>, text: string, family: Family | null, path: Path, what: string): void {
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
  } else if (!owned.has(target.ip.toString())) {
    ctx.report(path, `${what} target ${target.ip.toString()} is not an address of any host in this lab`);
  }
}

export function checkNat(ctx: LabContext): void {
  const owned = ownedAddresses(ctx);
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
    }
  }
}
