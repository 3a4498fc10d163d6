// Labs across machines: the `machines:` map, `on:` and `placement`. An SSH destination and an
// identity end up as arguments of the system ssh, so they must match a conservative grammar:
// nothing that ssh could take for an option, nothing a remote shell could interpret.
import { createHash } from 'node:crypto';
import type { LabContext } from './context.js';
import { parseIp } from './addr.js';
import type { RawMachine } from './raw.js';
import { didYouMean } from './suggest.js';
import type { Machine, SshTarget } from './types.js';

const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
/**
 * A key file path: absolute or under `~/` (a relative one would depend on the directory netlab
 * was started in), of letters, digits and `_ . , / + ~ -`, without a `..` part climbing out.
 */
const IDENTITY = /^(?:\/|~\/)[A-Za-z0-9_.,/+~-]*$/;

/** `[user@]host` split and checked, or why not (quoted as JSON: the text may hold control characters). */
export function parseSshDestination(text: string): { user: string | null; host: string } | string {
  const at = text.lastIndexOf('@');
  const user = at < 0 ? null : text.slice(0, at);
  const host = at < 0 ? text : text.slice(at + 1);
  if (user !== null && !USER.test(user))
    return `SSH user ${JSON.stringify(user)} must be a letter or "_", then letters, digits, "_", "." or "-" (at most 32)`;
  if (!(HOSTNAME.test(host) && host.length <= 253) && !parseIp(host))
    return `SSH host ${JSON.stringify(host)} must be a host name (letters, digits, "-" and ".", not starting with "-") or an IP address`;
  return { user, host };
}

/** Why an identity file path is refused, or null. */
export function identityProblem(path: string): string | null {
  return IDENTITY.test(path) && !path.split('/').includes('..')
    ? null
    : `identity ${JSON.stringify(path)} must be an absolute path or one under ~/, of letters, digits and "_ . , / + ~ -", with no ".." part`;
}

function isLoopbackHost(host: string): boolean {
  const ip = parseIp(host);
  return host === 'localhost' || (ip !== null && ip.range() === 'loopback');
}

/** The underlay address a machine gets without `underlay:`: its SSH host when that is an address. */
function defaultUnderlay(m: RawMachine): string | null {
  if (m === 'local') return null;
  if (m.underlay !== undefined) return parseIp(m.underlay)?.toString() ?? null;
  const parsed = parseSshDestination(m.ssh);
  return typeof parsed === 'string' ? null : (parseIp(parsed.host)?.toString() ?? null);
}

export function checkMachines(ctx: LabContext): void {
  const machines = ctx.raw.machines;
  if (!machines) {
    for (const host of ctx.hosts.values())
      if (host.raw.on !== undefined)
        ctx.report([...host.path, 'on'], `host "${host.name}" is placed on machine "${host.raw.on}" but the lab has no machines: map`);
    if (ctx.raw.placement !== undefined) ctx.report(['placement'], 'placement needs a machines: map at the top level');
    return;
  }
  if (ctx.raw.addresses_elsewhere !== undefined)
    ctx.report(
      ['addresses_elsewhere'],
      "addresses_elsewhere is written by the coordinator into a machine's slice: a lab across machines knows where its hosts are, remove it",
      'key',
    );
  for (const key of ['pods_elsewhere', 'services_elsewhere'] as const)
    if (ctx.raw[key] !== undefined)
      ctx.report(
        [key],
        `${key} is written by the coordinator into a machine's slice: a lab across machines knows where its pods and services are, remove it`,
        'key',
      );
  const locals: string[] = [];
  const underlays = new Map<string, string>();
  for (const [name, m] of Object.entries(machines)) {
    const path = ['machines', name];
    if (m === 'local') {
      if (locals.length) ctx.report(path, `machine "${name}" is local as well as "${locals[0]}": a lab names this machine once`);
      locals.push(name);
      continue;
    }
    const dest = parseSshDestination(m.ssh);
    if (typeof dest === 'string') ctx.report([...path, 'ssh'], dest);
    else if (isLoopbackHost(dest.host) && Object.values(machines).includes('local'))
      ctx.report([...path, 'ssh'], `machine "${name}" is this machine (${dest.host}), which the lab also names as local: name it once`);
    const identity = m.identity === undefined ? null : identityProblem(m.identity);
    if (identity) ctx.report([...path, 'identity'], identity);
    const underlay = defaultUnderlay(m);
    if (underlay === null && typeof dest !== 'string')
      ctx.report([...path, 'ssh'], `machine "${name}" is reached by host name: give its address for VXLAN tunnels as underlay: ADDRESS`);
    if (underlay !== null) {
      const other = underlays.get(underlay);
      if (other)
        ctx.report(
          [...path, m.underlay !== undefined ? 'underlay' : 'ssh'],
          `machines "${other}" and "${name}" have the same underlay address ${underlay}: each machine needs its own`,
        );
      else underlays.set(underlay, name);
    }
  }
  for (const host of ctx.hosts.values()) {
    const on = host.raw.on;
    if (on !== undefined && !(on in machines))
      ctx.report(
        [...host.path, 'on'],
        `host "${host.name}" is placed on machine "${on}", which is not defined${didYouMean(on, Object.keys(machines))}`,
      );
  }
}

/** Higher wins: the rendezvous hash of a host on a machine, so adding a host or machine moves no other host between old machines. */
function score(host: string, machine: string): string {
  return createHash('sha256').update(`${host}\0${machine}`).digest('hex');
}

/** The machine of each host: `on:` when written, else by `placement` (see the schema's description). */
export function placeHosts(raw: {
  machines?: Record<string, RawMachine>;
  placement?: 'spread' | 'pack';
  hosts: Record<string, { on?: string }>;
}): Map<string, string> {
  const out = new Map<string, string>();
  if (!raw.machines) return out;
  const names = Object.keys(raw.machines);
  const packed = names.find((n) => raw.machines![n] === 'local') ?? names[0]!;
  for (const [host, h] of Object.entries(raw.hosts)) {
    if (h.on !== undefined) out.set(host, h.on);
    else if (raw.placement === 'spread')
      out.set(
        host,
        names.reduce((best, n) => (score(host, n) > score(host, best) ? n : best), names[0]!),
      );
    else out.set(host, packed);
  }
  return out;
}

export function normaliseMachines(ctx: LabContext): Machine[] | undefined {
  const machines = ctx.raw.machines;
  if (!machines) return undefined;
  return Object.entries(machines).map(([name, m]) => {
    let ssh: SshTarget | null = null;
    if (m !== 'local') {
      const dest = parseSshDestination(m.ssh) as { user: string | null; host: string };
      ssh = { ...dest, port: m.port ?? null, identity: m.identity ?? null };
    }
    return { name, ssh, underlay: defaultUnderlay(m), pos: ctx.locator.source(['machines', name]) };
  });
}
