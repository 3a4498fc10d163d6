// Differential tests: a topology built by hand with `ip` and the real product's iptables rules
// (Docker, kube-proxy), next to the same lab applied by netlab, probed with the same flows.
import { expect } from 'vitest';
import { inNs, sh } from './sandbox.js';
import { addressOf, connect } from './tcp.js';

/** A lab topology written out by hand: every host is a namespace `prefix + host`. */
export interface HandTopology {
  prefix: string;
  hosts: string[];
  /** host -> sysctl key -> value, written after the interfaces exist. */
  sysctls?: Record<string, Record<string, string>>;
  bridges: { host: string; name: string; address?: string }[];
  /** A veth from `a:aif` to `b:bif`; `master` makes the b end a port of that bridge in b. */
  veths: { a: string; aif: string; aaddr?: string; b: string; bif: string; baddr?: string; master?: string; hairpin?: boolean }[];
  routes: { host: string; to: string; via: string }[];
}

export const nsOf = (t: HandTopology, host: string) => `${t.prefix}${host}`;

export async function buildByHand(t: HandTopology): Promise<void> {
  const ip = (host: string, args: string[]) => sh('ip', ['-n', nsOf(t, host), ...args]);
  for (const h of t.hosts) {
    await sh('ip', ['netns', 'add', nsOf(t, h)]);
    await ip(h, ['link', 'set', 'dev', 'lo', 'up']);
    // As netlab does in its namespaces: no IPv6 (autoconfiguration would still be running during the probes).
    for (const k of ['all', 'default']) await inNs(nsOf(t, h), 'sysctl', ['-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
  }
  for (const b of t.bridges) {
    await ip(b.host, ['link', 'add', 'name', b.name, 'type', 'bridge']);
    if (b.address) await ip(b.host, ['addr', 'add', b.address, 'dev', b.name]);
    await ip(b.host, ['link', 'set', 'dev', b.name, 'up']);
  }
  for (const v of t.veths) {
    await sh('ip', ['link', 'add', 'name', v.aif, 'netns', nsOf(t, v.a), 'type', 'veth', 'peer', 'name', v.bif, 'netns', nsOf(t, v.b)]);
    if (v.aaddr) await ip(v.a, ['addr', 'add', v.aaddr, 'dev', v.aif]);
    if (v.baddr) await ip(v.b, ['addr', 'add', v.baddr, 'dev', v.bif]);
    if (v.master) await ip(v.b, ['link', 'set', 'dev', v.bif, 'master', v.master]);
    if (v.hairpin) await ip(v.b, ['link', 'set', 'dev', v.bif, 'type', 'bridge_slave', 'hairpin', 'on']);
    await ip(v.a, ['link', 'set', 'dev', v.aif, 'up']);
    await ip(v.b, ['link', 'set', 'dev', v.bif, 'up']);
  }
  for (const r of t.routes) await ip(r.host, ['route', 'add', r.to, 'via', r.via]);
  for (const [h, values] of Object.entries(t.sysctls ?? {}))
    for (const [k, v] of Object.entries(values)) await inNs(nsOf(t, h), 'sysctl', ['-qw', `${k}=${v}`]);
  // Ready when every gateway answers (neighbours resolved), as netlab's apply waits for its links.
  for (const r of t.routes) await inNs(nsOf(t, r.host), 'ping', ['-c1', '-W5', r.via]);
}

export async function removeByHand(t: HandTopology): Promise<void> {
  for (const h of t.hosts) await sh('ip', ['netns', 'del', nsOf(t, h)], { reject: false });
}

/** Loads an iptables-save style rule set into a namespace with iptables-restore (iptables-nft here). */
export async function iptablesRestore(ns: string, rules: string): Promise<void> {
  const r = await sh('ip', ['netns', 'exec', ns, 'iptables-restore'], { input: rules, reject: false });
  if (r.exitCode !== 0) throw new Error(`iptables-restore in ${ns}: ${r.all}`);
}

/** One probe: from a host to an address and port; `backends` is how many servers may answer it. */
export interface Flow {
  what: string;
  from: string;
  to: string;
  backends?: number;
}

// Enough connections to see every backend behind a random choice (kube-proxy's `statistic
// --mode random`): stop as soon as all have answered, else after this many.
const MAX_TRIES = 24;
const BATCH = 4;

/**
 * What a flow does, as a short sorted text: each server that answered with the source address it
 * saw (`web saw 172.17.0.1`), and `no answer` if any connection failed. `ns` maps a host to its namespace.
 */
export async function observe(ns: (host: string) => string, flow: Flow, timeout = 1000): Promise<string> {
  const outcomes = new Set<string>();
  const names = new Set<string>();
  const want = flow.backends ?? 1;
  const max = want > 1 ? MAX_TRIES : 2;
  for (let tried = 0; tried < max && names.size < want; tried += BATCH) {
    for (const r of await connect(ns(flow.from), flow.to, Math.min(BATCH, max - tried), timeout)) {
      if (r.ok) {
        names.add(r.reply.name);
        outcomes.add(`${r.reply.name} saw ${addressOf(r.reply.peer)}`);
      } else outcomes.add('no answer');
    }
  }
  return [...outcomes].sort().join(', ');
}

export async function observeAll(ns: (host: string) => string, flows: Flow[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of flows) out.push(await observe(ns, f));
  return out;
}

/** Asserts flow by flow that both systems answered alike; the failure message is the whole table. */
export function expectSameFlows(title: string, flows: Flow[], real: string[], lab: string[], realName: string): void {
  const rows = flows.map((f, i) => ({ flow: `${f.what}: ${f.from} -> ${f.to}`, real: real[i]!, lab: lab[i]! }));
  const w = [Math.max(4, ...rows.map((r) => r.flow.length)), Math.max(realName.length, ...rows.map((r) => r.real.length))];
  const line = (a: string, b: string, c: string, mark: string) => `${mark} ${a.padEnd(w[0]!)} | ${b.padEnd(w[1]!)} | ${c}`;
  const table = [
    title,
    line('flow', realName, 'netlab', ' '),
    ...rows.map((r) => line(r.flow, r.real, r.lab, r.real === r.lab ? ' ' : '≠')),
  ].join('\n');
  // For reading what both systems did (docs/labs cite these tables), not only where they differ.
  if (process.env.NETLAB_DIFF_TABLES) console.log(table);
  expect(
    rows.filter((r) => r.real !== r.lab).map((r) => r.flow),
    table,
  ).toEqual([]);
}
