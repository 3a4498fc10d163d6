// NAT and firewall of one host in normalised form: host references become addresses,
// interface names become kernel names, defaults are filled in.
import {
  familyOf,
  hostCidr,
  networkText,
  parseEndpoint,
  parseIp,
  parseMatch,
  parsePortRange,
  cidrText,
  parseCidr,
  type Family,
} from './addr.js';
import type { HostEntry, LabContext } from './context.js';
import type { RawRule } from './raw.js';
import { firstAddress } from './semantic-nat.js';
import type { DnatRule, FilterRule, Policy, Service, SnatRule } from './types.js';
import { InternalError } from '../errors.js';

export function normalisePolicy(ctx: LabContext, host: HostEntry): Policy | null {
  const { nat, firewall } = host.raw;
  if (!nat && !firewall) return null;
  const base = [...host.path, 'nat'];
  const out = (name: string | undefined) => (name === undefined ? null : ctx.kernelNameOf(host, name));
  const snat: SnatRule[] = [
    ...(nat?.masquerade ?? []).map((r, i) => ({
      from: networkText(parseCidr(r.from)!),
      out: out(r.out),
      to: null,
      pos: ctx.locator.source([...base, 'masquerade', i]),
    })),
    ...(nat?.snat ?? []).map((r, i) => ({
      from: networkText(parseCidr(r.from)!),
      out: out(r.out),
      to: parseIp(r.to)!.toString(),
      pos: ctx.locator.source([...base, 'snat', i]),
    })),
  ];
  const dnat: DnatRule[] = (nat?.publish ?? []).map((p, i) => {
    const address = p.address === undefined ? null : parseIp(p.address)!;
    const target = resolveEndpoint(ctx, p.to, address ? familyOf(address) : null);
    return {
      proto: p.proto ?? 'tcp',
      port: parsePortRange(p.port)!,
      toAddress: target.address,
      toPort: target.port,
      in: out(p.in),
      address: address ? address.toString() : null,
      pos: ctx.locator.source([...base, 'publish', i]),
    };
  });
  const services: Service[] = (nat?.services ?? []).map((s, i) => {
    const vip = parseIp(s.vip)!;
    return {
      name: s.name,
      vip: vip.toString(),
      proto: s.proto ?? 'tcp',
      port: s.port,
      backends: s.backends.map((b) => {
        const t = resolveEndpoint(ctx, b, familyOf(vip));
        return { address: t.address, port: t.port };
      }),
      mode: s.mode ?? 'round-robin',
      ...(s.node_port === undefined ? {} : { nodePort: s.node_port, externalTrafficPolicy: s.external_traffic_policy ?? 'Cluster' }),
      pos: ctx.locator.source([...base, 'services', i]),
    };
  });
  const rules: FilterRule[] = (firewall?.rules ?? []).map((r, i) => ({
    action: r.action,
    from: matchCidrs(ctx, r.from),
    to: matchCidrs(ctx, r.to),
    proto: r.proto ?? null,
    port: r.port === undefined ? null : parsePortRange(r.port)!,
    pos: ctx.locator.source([...host.path, 'firewall', 'rules', i]),
  }));
  const proxy = nat?.userland_proxy === false ? { userlandProxy: false } : {};
  const isolate = firewall?.isolate?.length ? { isolate: firewall.isolate.map((n) => ctx.kernelNameOf(host, n)) } : {};
  return { snat, dnat, services, ...proxy, defaultAction: firewall?.default ?? 'allow', rules, ...isolate };
}

/** `web:80` -> web's first address (of `family`, else IPv4 first); `10.0.0.2:80` as is. */
function resolveEndpoint(ctx: LabContext, text: string, family: Family | null): { address: string; port: number } {
  const ep = parseEndpoint(text)!;
  if (ep.kind === 'ip') return { address: ep.ip.toString(), port: ep.port };
  const ip = firstAddress(ctx, ctx.hosts.get(ep.host)!, family);
  if (!ip) throw new InternalError(`host ${ep.host} has no address`);
  return { address: ip.toString(), port: ep.port };
}

/** Firewall `from`/`to`: CIDRs in network form; a host becomes each of its addresses as /32 or /128. */
function matchCidrs(ctx: LabContext, value: RawRule['from']): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const item of typeof value === 'string' ? [value] : value) {
    const m = parseMatch(item)!;
    if (m.kind === 'cidr') out.push(networkText(m.cidr));
    else for (const a of ctx.addressesOf(ctx.hosts.get(m.host)!)) out.push(cidrText(hostCidr(parseCidr(a.text)!.ip)));
  }
  return [...new Set(out)];
}
