// The real driver: one `ip -batch` per namespace per round, one process for all sysctls,
// one `nft -f` per namespace, namespaces handled concurrently. Batches, nft and observation
// commands are started by one small helper that enters each namespace with setns (runner.ts).
import { AsyncLocalStorage } from 'node:async_hooks';
import { constants, statSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { lazyExeca } from './exec.js';
import { KernelError } from '../errors.js';
import type { Operation } from '../model/operations.js';
import type { RawFdb } from '../model/fdb.js';
import type { RawLink } from '../model/link.js';
import { withNumericOwners } from './owner-ids.js';
import type { Obj } from '../model/objects.js';
import type { RawPortVlans } from '../model/portvlan.js';
import type { RawQdisc } from '../model/qdisc.js';
import type { RawNeigh } from '../model/neigh.js';
import { targetPath } from '../model/netns.js';
import type { RawRule } from '../model/rule.js';
import { sysctlPath } from '../model/sysctl.js';
import { parseCreatedNetnsMark, parseOwnerAltname } from '../lab/names.js';
import type { Driver, NsQuery, Observation, ObserveRequest, PolicyEnvironment, ProbeRequest, ProbeResult } from './driver.js';
import { probeKernel } from './probe.js';
import { carriesLabToken, labSessions, observeProcesses, reapUnconfirmed, runProcCommand } from './processes.js';
import { procStat } from './procfs.js';
import { helperArgs } from './perl-helpers.js';
import { runCollect, runJobs, setnsSyscall, type Job, type JobResult } from './runner.js';
import { dumpNamespaces, nsidsOf, type NetlinkDump } from './netlink.js';
import { encodeOperation, writeGroups, type Encoded } from './netlink-write.js';
import { batchLine, toolOf, type Tool } from './render.js';
import { profile } from '../profile.js';
import { decodeNs, decodeSysctls, type RawNs } from '../observe/decode.js';
import { assemble } from '../observe/observe.js';

export const NETNS_DIR = '/run/netns';
const CONCURRENCY = Number(process.env.NETLAB_CONCURRENCY ?? 8);
/** NETLAB_NETLINK=0 sends every batch through `ip` (to compare, or to rule the writer out). */
const NETLINK_WRITES = process.env.NETLAB_NETLINK !== '0';

/** Runs `fn` over items with at most `limit` at once; waits for all, then throws the first error. */
export async function pool<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let firstError: unknown = null;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (e) {
        firstError ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (firstError) throw firstError;
  return out;
}

function nsArgs(ns: string): string[] {
  return ns === '' ? [] : ['-n', ns];
}

/** `ip netns exec NS cmd...` or, for the root namespace, the command itself. */
function inNs(ns: string, cmd: string[]): [string, string[]] {
  return ns === '' ? [cmd[0]!, cmd.slice(1)] : ['ip', ['netns', 'exec', ns, ...cmd]];
}

// Per async context, so labs applied concurrently each record their own child processes.
const spawnListeners = new AsyncLocalStorage<((pid: number) => void) | null>();

/** A value as one line of the helper's input: a line break in it would start a line of its own. */
function sysctlLineValue(l: { ns: string; key: string; value: string }, line: number): string {
  if (!/[\n\r]/.test(l.value)) return l.value;
  throw new KernelError({ ns: l.ns, command: `sysctl -w ${l.key}`, stderr: 'refusing a sysctl value with a line break', line });
}

async function writeSysctls(lines: { ns: string; key: string; value: string }[]): Promise<void> {
  const paths = lines.map((l, i) => ({ ns: l.ns, path: sysctlPath(l.key), value: sysctlLineValue(l, i) }));
  try {
    await writeSysctlFiles(paths);
  } catch (e) {
    // The helper names the file; the user wrote the key.
    if (e instanceof KernelError && e.detail.line !== undefined) {
      const l = lines[e.detail.line]!;
      throw new KernelError({ ...e.detail, command: `sysctl -w ${l.key}=${l.value}` });
    }
    throw e;
  }
}

/**
 * Writes sysctl files (paths under /proc/sys/net) of many namespaces from one process. Exported
 * for the test that the helper itself refuses any other path.
 */
export async function writeSysctlFiles(lines: { ns: string; path: string; value: string }[]): Promise<void> {
  if (!lines.length) return;
  // Grouping by namespace keeps setns calls to one per namespace.
  const order = lines.map((l, i) => ({ l, i })).sort((a, b) => (a.l.ns < b.l.ns ? -1 : a.l.ns > b.l.ns ? 1 : a.i - b.i));
  const input = order.map(({ l }) => [l.ns, l.path, l.value].join('\t')).join('\n') + '\n';
  profile.count('processes');
  // helpers/sysctl-writer.pl. No modules: perl starts in a millisecond; node knows the setns and O_NOFOLLOW numbers.
  const r = await runCollect(
    'perl',
    helperArgs('sysctl-writer', [String(setnsSyscall()), NETNS_DIR, String(constants.O_NOFOLLOW)]),
    input,
    spawnListeners.getStore() ?? null,
  );
  for (const row of r.stdout.toString('utf8').split('\n')) {
    const [status, idx, message] = row.split('\t');
    if (status !== 'ERR' || idx === undefined) continue;
    const original = order[Number(idx)]!;
    throw new KernelError({
      ns: original.l.ns,
      command: `write ${original.l.path}`,
      stderr: message ?? r.stderr,
      line: original.i,
    });
  }
  if (r.exitCode !== 0) throw new KernelError({ ns: '', command: 'sysctl helper (perl)', stderr: r.stderr || `exit ${r.exitCode}` });
}

/** Runs jobs through the command runner (see runner.ts); `record` tells the spawn listener their pids. */
function run(jobs: Job[], record: boolean): Promise<JobResult[]> {
  return runJobs(jobs, { concurrency: CONCURRENCY, netnsDir: NETNS_DIR, onSpawn: record ? (spawnListeners.getStore() ?? null) : null });
}

function emptyRaw(q: NsQuery): RawNs {
  return {
    q,
    links: [],
    addrs: [],
    routes: [],
    routes6: [],
    nsids: [],
    asked: [],
    peerNsids: [],
    vlans: [],
    fdb: [],
    nft: [],
    qdiscs: [],
    neigh: [],
    proxyNeigh: [],
    rules: [],
    rules6: [],
    sysctls: [],
  };
}

/**
 * Reads every namespace: links, addresses and routes of all of them (and proxy neighbours where
 * the query asks) from one netlink reader (netlink.ts); bridge VLANs, qdiscs, permanent
 * neighbours, rules and nft tables where the query asks, through one runner beside it; then fdb where there are VXLANs, and the names of the
 * namespaces links point into.
 */
async function readAll(qs: NsQuery[]): Promise<RawNs[]> {
  const raws = qs.map(emptyRaw);
  const jobs: Job[] = [];
  const handlers: ((r: JobResult) => void)[] = [];
  const add = (job: Job, handle: (r: JobResult) => void) => {
    jobs.push(job);
    handlers.push(handle);
  };
  const json = <T>(text: string): T => JSON.parse(text || '[]') as T;
  for (const raw of raws) {
    const { q } = raw;
    const ns = q.ns;
    if (q.bridgeVlans)
      add({ ns, argv: ['bridge', '-j', 'vlan', 'show'] }, (r) => (raw.vlans = r.exitCode === 0 ? json<RawPortVlans[]>(r.stdout) : []));
    if (q.neighbours)
      add({ ns, argv: ['ip', '-j', 'neigh', 'show', 'nud', 'permanent'] }, (r) => {
        if (r.exitCode !== 0) throw new KernelError({ ns, command: 'ip -j neigh show nud permanent (observe)', stderr: r.stderr });
        raw.neigh = json<RawNeigh[]>(r.stdout);
      });
    if (q.rules)
      for (const family of q.ipv6Routes ? ([4, 6] as const) : ([4] as const))
        add({ ns, argv: ['ip', `-${family}`, '-j', 'rule', 'show'] }, (r) => {
          if (r.exitCode !== 0) throw new KernelError({ ns, command: `ip -${family} -j rule show (observe)`, stderr: r.stderr });
          if (family === 4) raw.rules = json<RawRule[]>(r.stdout);
          else raw.rules6 = json<RawRule[]>(r.stdout);
        });
    for (const t of q.nftTables)
      add({ ns, argv: ['nft', 'list', 'table', t.family, t.table] }, (r) => {
        if (r.exitCode === 0) raw.nft.push({ ...t, text: r.stdout });
        else if (!/No such file or directory/.test(r.stderr))
          throw new KernelError({ ns, command: `nft list table ${t.family} ${t.table}`, stderr: r.stderr });
      });
  }
  peersToAsk(qs).forEach((peers, i) => (raws[i]!.asked = peers));
  const [dumps, results] = await Promise.all([
    profile.time('observe:netlink', () =>
      dumpNamespaces(
        raws.map(({ q, asked }) => ({
          ns: q.ns,
          ipv6Routes: q.ipv6Routes,
          sysctlPaths: q.sysctls.map(sysctlPath),
          qdiscs: q.qdiscs,
          proxyNeighbours: q.proxyNeighbours,
          peers: asked,
        })),
        NETNS_DIR,
      ),
    ),
    profile.time('observe:read', () => run(jobs, false)),
  ]);
  dumps.forEach((d, i) => {
    const raw = raws[i]!;
    if (d instanceof Error)
      throw new KernelError({ ns: raw.q.ns, command: 'netlink dump of links, addresses and routes (observe)', stderr: d.message });
    const { qdiscs, ...rest } = d;
    Object.assign(raw, rest);
    if (qdiscs) raw.qdiscs = qdiscs;
  });
  // Qdiscs of a kind the reader leaves to tc (netem): that namespace's are read with `tc` (-raw:
  // tbf's queue limit is printed only then).
  const qdiscsByTc = raws.filter((raw, i) => raw.q.qdiscs && (dumps[i] as NetlinkDump).qdiscs === null);
  const tcResults = await run(
    qdiscsByTc.map((raw) => ({ ns: raw.q.ns, argv: ['tc', '-raw', '-j', 'qdisc', 'show'] })),
    false,
  );
  tcResults.forEach((r, i) => {
    const raw = qdiscsByTc[i]!;
    if (r.exitCode !== 0) throw new KernelError({ ns: raw.q.ns, command: 'tc -raw -j qdisc show (observe)', stderr: r.stderr });
    raw.qdiscs = json<RawQdisc[]>(r.stdout);
  });
  profile.timeSync('observe:parse', () => results.forEach((r, i) => handlers[i]!(r)));

  const fdbOf = raws.filter((raw) => raw.q.fdb || raw.links.some((l) => l.linkinfo?.info_kind === 'vxlan'));
  await Promise.all([
    run(
      fdbOf.map((raw) => ({ ns: raw.q.ns, argv: ['bridge', '-j', 'fdb', 'show'] })),
      false,
    ).then((rs) => rs.forEach((r, i) => (fdbOf[i]!.fdb = r.exitCode === 0 ? json<RawFdb[]>(r.stdout) : []))),
    profile.time('observe:nsids', () => resolveNsids(raws)),
  ]);
  return raws;
}

/**
 * The peers each query's reader asks its nsid for. Of two namespaces read together that expect
 * links into each other (a veth pair's ends), one asking is enough: resolveNsids names the other
 * end's nsid from the pair. The one with fewer peers asks, so a hub with hundreds of veths asks
 * none of the hosts read beside it, and all of them when read alone (the verify after a change).
 */
export function peersToAsk(qs: NsQuery[]): string[][] {
  const peersOf = new Map(qs.map((q) => [q.ns, new Set(q.peers ?? [])]));
  /** Whether of two namespaces expecting each other, `a` is the one that asks. */
  const asks = (a: string, b: string) => {
    const [na, nb] = [peersOf.get(a)!.size, peersOf.get(b)!.size];
    return na < nb || (na === nb && a < b);
  };
  return qs.map((q) => [...peersOf.get(q.ns)!].filter((p) => p !== q.ns && !(peersOf.get(p)?.has(q.ns) && asks(p, q.ns))));
}

/** The nsids the links carry (a veth peer, a parent in another namespace). */
function referencedNsids(links: RawLink[]): Set<number> {
  return new Set(links.flatMap((l) => (l.link_netnsid !== undefined && l.link_index !== undefined ? [l.link_netnsid] : [])));
}

/**
 * The names a namespace's answers give the nsids its links carry (`wanted`): it has nsid
 * answers[k] for peers[k] ('' = the root namespace). An answer no link refers to is left out:
 * an answer only ever names, never adds.
 */
export function nsidsFromPeers(wanted: Set<number>, peers: string[], answers: number[]): Map<number, string> {
  const named = new Map<number, string>();
  peers.forEach((peer, k) => {
    const nsid = answers[k] ?? -1;
    if (nsid >= 0 && wanted.has(nsid) && !named.has(nsid)) named.set(nsid, peer);
  });
  return named;
}

/**
 * Names the namespaces behind the nsids links refer to, as `ip netns list-id` would. Usually the
 * reader already asked each namespace about the peers its query expected (NsQuery.peers, see
 * peersToAsk) in the dump's pass, and veth pairs tell the other ends: no further process. What
 * that leaves unnamed (a hint wrong or missing: a veth moved by hand, an old record) is asked
 * without asking every namespace about every other (N^2 at scale): a veth's peer is usually found
 * by its shape (a veth whose ifindex is this one's link_index and whose link_index is this one's
 * ifindex), so a namespace is asked its nsid only for those candidates and the root namespace, or
 * not at all when a veth pair already told; an nsid still unnamed is then looked up among every
 * namespace in /run/netns.
 */
async function resolveNsids(raws: RawNs[]): Promise<void> {
  const refs = new Map(raws.map((r) => [r, referencedNsids(r.links)]));
  // Per namespace: nsid -> name ('' = the root namespace).
  const named = new Map(raws.map((r) => [r, nsidsFromPeers(refs.get(r)!, r.asked, r.peerNsids)]));
  const unresolved = (r: RawNs) => [...refs.get(r)!].filter((n) => !named.get(r)!.has(n));
  const byName = new Map(raws.map((r) => [r.q.ns, r]));
  const veths = new Map<RawNs, Map<number, RawLink>>();
  const vethsOf = (r: RawNs) => {
    let m = veths.get(r);
    if (!m) veths.set(r, (m = new Map(r.links.filter((l) => l.linkinfo?.info_kind === 'veth').map((l) => [l.ifindex, l]))));
    return m;
  };
  // A veth pair answers for both ends: once x names the namespace y of its veth's peer, the
  // peer's nsid (in y) names x.
  const learnFrom = (x: RawNs) => {
    const names = named.get(x)!;
    for (const a of x.links) {
      if (a.linkinfo?.info_kind !== 'veth' || a.link_netnsid === undefined || a.link_index === undefined) continue;
      const name = names.get(a.link_netnsid);
      const y = name === undefined ? undefined : byName.get(name);
      if (!y || y === x) continue;
      const b = vethsOf(y).get(a.link_index);
      if (b?.link_index !== a.ifindex || b.link_netnsid === undefined) continue;
      if (!named.get(y)!.has(b.link_netnsid)) named.get(y)!.set(b.link_netnsid, x.q.ns);
    }
  };
  raws.forEach(learnFrom);
  let byPeerShape: Map<string, Set<string>> | null = null;
  const candidates = (r: RawNs) => {
    if (!byPeerShape) {
      byPeerShape = new Map();
      for (const o of raws)
        for (const l of o.links)
          if (l.link_netnsid !== undefined && l.link_index !== undefined) {
            const key = `${l.ifindex}>${l.link_index}`;
            byPeerShape.set(key, (byPeerShape.get(key) ?? new Set()).add(o.q.ns));
          }
    }
    const out = new Set<string>(r.q.ns === '' ? [] : ['']);
    for (const l of r.links)
      if (l.link_netnsid !== undefined && l.link_index !== undefined)
        for (const ns of byPeerShape.get(`${l.link_index}>${l.ifindex}`) ?? []) if (ns !== r.q.ns) out.add(ns);
    return { raw: r, others: [...out] };
  };
  const ask = async (targets: { raw: RawNs; others: string[] }[]) => {
    const answers = await nsidsOf(
      targets.map((t) => ({ ns: t.raw.q.ns, others: t.others })),
      NETNS_DIR,
    );
    targets.forEach((t, i) => {
      const found = named.get(t.raw)!;
      for (const [nsid, name] of nsidsFromPeers(refs.get(t.raw)!, t.others, answers[i] ?? [])) if (!found.has(nsid)) found.set(nsid, name);
    });
  };
  // Namespaces with links into several others (hubs, routers) are asked first, and most of the
  // rest need not be asked at all.
  const hubs = raws.filter((r) => refs.get(r)!.size >= 2 && unresolved(r).length > 0);
  await ask(hubs.map(candidates));
  hubs.forEach(learnFrom);
  const others = raws.filter((r) => refs.get(r)!.size === 1 && unresolved(r).length > 0);
  await ask(others.map(candidates));
  others.forEach(learnFrom);
  const rest = raws.filter((r) => unresolved(r).length > 0);
  if (rest.length) {
    const all = await readdir(NETNS_DIR).catch(() => [] as string[]);
    await ask(rest.map((r) => ({ raw: r, others: all.filter((n) => n !== r.q.ns) })));
  }
  // The root namespace has no name: its nsid stays unnamed, as in `ip netns list-id`.
  for (const r of raws) r.nsids = [...named.get(r)!].map(([nsid, name]) => (name ? { nsid, name } : { nsid }));
}

// One process per namespace: legacy rule count, nft tables, and the br_netfilter switch.
const POLICY_ENV_SCRIPT = [
  'command -v iptables-legacy-save >/dev/null 2>&1 && { iptables-legacy-save 2>/dev/null; ip6tables-legacy-save 2>/dev/null; } | grep -c "^-A" || echo 0',
  'echo ---',
  'nft list tables 2>/dev/null | sed "s/^table //"',
  'echo ---',
  'cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo none',
].join('; ');

export class RealDriver implements Driver {
  async policyEnvironment(ns: string): Promise<PolicyEnvironment> {
    const execa = await lazyExeca();
    // A namespace the lab has yet to create starts with br_netfilter's defaults (on when loaded).
    const exists = ns === '' || (await this.listNetns()).includes(ns);
    const [cmd, args] = inNs(exists ? ns : '', ['sh', '-c', POLICY_ENV_SCRIPT]);
    const r = await execa(cmd, args, { reject: false });
    const [legacy = '0', tables = '', brnf = 'none'] = r.stdout.split('---\n').map((p) => p.trim());
    const brValue = brnf === 'none' ? null : brnf;
    if (!exists) return { legacyRules: 0, nftTables: [], bridgeNfCallIptables: brValue === null ? null : '1' };
    return { legacyRules: Number(legacy) || 0, nftTables: tables.split('\n').filter(Boolean), bridgeNfCallIptables: brValue };
  }

  probe(req: ProbeRequest): Promise<ProbeResult[]> {
    return profile.time('preflight', () => probeKernel(req));
  }

  setSpawnListener(listener: ((pid: number) => void) | null): void {
    spawnListeners.enterWith(listener);
  }

  async listNetns(): Promise<string[]> {
    try {
      return (await readdir(NETNS_DIR)).sort();
    } catch {
      return [];
    }
  }

  /** Like `ip netns pids NS`: processes whose /proc/PID/ns/net is the namespace's nsfs inode. */
  async netnsPids(ns: string, lab?: string): Promise<number[]> {
    const target = await stat(`${NETNS_DIR}/${ns}`).catch(() => null);
    if (!target) return [];
    // Calls made while a scan runs share it: destroy asks for every namespace at once.
    this.procScan ??= scanProcNetns().finally(() => (this.procScan = null));
    const byNs = await this.procScan;
    // The sessions of the lab's own `run` processes are not strangers: destroy stops them. Nor
    // are processes carrying one of the lab's run tokens (reapProcesses ends those no entry holds).
    const ours = lab === undefined ? new Set<number>() : await labSessions(lab);
    const rest = (byNs.get(`${target.dev}:${target.ino}`) ?? []).filter((n) => n !== process.pid && !ours.has(procStat(n)?.session ?? -1));
    if (lab === undefined) return rest;
    const tokened = await Promise.all(rest.map((n) => carriesLabToken(lab, n)));
    return rest.filter((_, k) => !tokened[k]);
  }

  async reapProcesses(lab: string, namespaces: string[]): Promise<number[]> {
    return reapUnconfirmed(lab, namespaces);
  }

  private procScan: Promise<Map<string, number[]>> | null = null;
  private marksQueue: { ns: string; resolve: (r: RawLink[] | null) => void; reject: (e: unknown) => void }[] = [];

  async labMarks(ns: string): Promise<{ created: string | null; altnameLabs: string[] }> {
    // Calls made in the same tick share one netlink read (gc asks for every namespace at once).
    const links = await new Promise<RawLink[] | null>((resolve, reject) => {
      if (!this.marksQueue.length)
        setImmediate(() => {
          const queue = this.marksQueue.splice(0);
          dumpNamespaces(
            queue.map((q) => ({ ns: q.ns, ipv6Routes: false, linksOnly: true })),
            NETNS_DIR,
          ).then(
            (ds) => queue.forEach((q, i) => q.resolve(ds[i] instanceof Error ? null : (ds[i]?.links ?? null))),
            (e: unknown) => queue.forEach((q) => q.reject(e)),
          );
        });
      this.marksQueue.push({ ns, resolve, reject });
    });
    if (!links) return { created: null, altnameLabs: [] };
    const lo = links.find((l) => l.ifname === 'lo');
    const labs = new Set<string>();
    for (const l of links)
      for (const a of l.altnames ?? []) {
        const p = parseOwnerAltname(a);
        if (p) labs.add(p.lab);
      }
    return { created: parseCreatedNetnsMark(lo?.ifalias), altnameLabs: [...labs].sort() };
  }

  observe(req: ObserveRequest): Promise<Observation> {
    return profile.time('observe', () => this.observeNow(req)).then((o) => withProcesses(req, o));
  }

  private async observeNow(req: ObserveRequest): Promise<Observation> {
    const existing = new Set(await this.listNetns());
    const present = req.namespaces.filter((q) => q.ns === '' || existing.has(q.ns));
    // An attached namespace before its first apply has no handle yet: its sysctls are read
    // through the target, so the values the lab changes are known and restored on destroy.
    const unmounted = req.namespaces.filter((q) => q.mode === 'handle' && q.target && !existing.has(q.ns) && q.sysctls.length);
    const [raws, throughTarget] = await Promise.all([readAll(present), sysctlsThroughTarget(unmounted)]);
    return profile.timeSync('observe:assemble', () =>
      assemble(
        req.lab,
        raws.map((raw) =>
          decodeNs({ ...raw, links: raw.links.map(withNumericOwners) }, raw.q.mode === 'handle' ? handleTarget(raw.q) : null),
        ),
        throughTarget,
      ),
    );
  }

  async execute(commands: Operation[]): Promise<void> {
    // Group by tool and namespace, keeping each command's index for error reports.
    const groups = new Map<string, Item[]>();
    commands.forEach((c, i) => {
      // `ip -6` lines (IPv6 rules) need a batch of their own: -6 cannot be given per line.
      const tool = toolOf(c);
      const key = tool === 'sysctl' ? 'sysctl' : tool === 'handle' || tool === 'nft' ? `${tool}#${i}` : `${tool}:${c.ns}`;
      const g = groups.get(key) ?? [];
      g.push({ c, i, tool });
      groups.set(key, g);
    });
    // `ip` batches made only of lines the netlink writer knows go through it, all in one process;
    // the other batches and nft transactions through one runner; sysctls and handles beside them.
    const all = [...groups.values()];
    const encoded = new Map<Item[], Encoded[]>();
    if (NETLINK_WRITES)
      for (const g of all) {
        if (g[0]!.tool !== 'ip') continue;
        const requests = g.map(({ c }) => encodeOperation(c));
        if (requests.every((r) => r !== null)) encoded.set(g, requests as Encoded[]);
      }
    const written = [...encoded.keys()];
    const batched = all.filter((g) => BATCHED.has(g[0]!.tool) && !encoded.has(g));
    const errors: unknown[] = [];
    await Promise.all([
      writeGroups(
        written.map((g) => ({ ns: g[0]!.c.ns, requests: encoded.get(g)! })),
        NETNS_DIR,
        spawnListeners.getStore() ?? null,
      ).then(
        (rs) => rs.forEach((r, k) => errors.push(r && writeError(written[k]!, r))),
        (e: unknown) => errors.push(e),
      ),
      run(batched.map(batchJob), true).then(
        (rs) => rs.forEach((r, k) => errors.push(batchError(batched[k]!, r))),
        (e: unknown) => errors.push(e),
      ),
      pool(
        all.filter((g) => !BATCHED.has(g[0]!.tool)),
        CONCURRENCY,
        (g) => runGroup(g),
      ).catch((e: unknown) => errors.push(e)),
    ]);
    // The failure reported is the one of the earliest command, so reports do not depend on timing.
    const failures = errors.filter((e) => e !== null);
    const line = (e: unknown) => (e instanceof KernelError ? (e.detail.line ?? -1) : -1);
    if (failures.length) throw failures.sort((a, b) => line(a) - line(b))[0];
    await portsForwarding(commands);
  }
}

/**
 * Waits (at most 1.5 s) until the ports just put into STP-less bridges forward. The kernel
 * enables a port on its carrier/operstate event, which linkwatch may hold back for up to a second
 * (when a veth's ifindex equals its peer's, in another namespace, the event is not "urgent"):
 * without this, the first packets right after apply are dropped.
 */
async function portsForwarding(commands: Operation[]): Promise<void> {
  let pending = [...new Set(commands.filter((c) => c.op === 'link.set' && c.changes.master).map((c) => c.ns))];
  for (const deadline = Date.now() + 1500; pending.length && Date.now() < deadline;) {
    const dumps = await dumpNamespaces(
      pending.map((ns) => ({ ns, ipv6Routes: false, linksOnly: true })),
      NETNS_DIR,
    );
    pending = pending.filter((_, i) => {
      const d = dumps[i]!;
      if (d instanceof Error) return false;
      const byName = new Map(d.links.map((l) => [l.ifname, l]));
      return d.links.some((l) => {
        const br = l.master ? byName.get(l.master) : undefined;
        return (
          br?.linkinfo?.info_kind === 'bridge' &&
          Number(br.linkinfo.info_data?.stp_state ?? 0) === 0 &&
          br.flags.includes('UP') &&
          l.flags.includes('UP') &&
          l.flags.includes('LOWER_UP') &&
          l.linkinfo?.info_slave_data?.state === 'disabled'
        );
      });
    });
    if (pending.length) await new Promise((r) => setTimeout(r, 50));
  }
}

/** An operation of a batch, its index in the round, and the tool that runs it. */
interface Item {
  c: Operation;
  i: number;
  tool: Tool;
}

const BATCHED = new Set<Tool>(['ip', 'ip6', 'bridge', 'tc', 'nft']);

/** The program of a batch tool (`ip6` is `ip -6`). */
const program = (tool: Tool) => (tool === 'ip6' ? 'ip' : tool);

/** `ip|bridge|tc -batch -` of a group's lines in its namespace, or `nft -f -` of its one script. */
function batchJob(g: Item[]): Job {
  const first = g[0]!;
  if (first.c.op === 'nft.replace' || first.c.op === 'nft.delete')
    return { ns: first.c.ns, argv: ['nft', '-f', '-'], input: first.c.script };
  const v6 = first.tool === 'ip6' ? ['-6'] : [];
  return { ns: first.c.ns, argv: [program(first.tool), ...v6, '-batch', '-'], input: g.map(({ c }) => batchLine(c)).join('\n') + '\n' };
}

/** The KernelError of a batch the netlink writer stopped at line `index`, worded as `ip` words it. */
function writeError(g: Item[], r: { index: number; stderr: string }): KernelError {
  const { c, i } = g[r.index]!;
  return new KernelError({
    ns: c.ns,
    command: `ip ${nsArgs(c.ns).join(' ')} ${batchLine(c)}`.replace(/\s+/g, ' '),
    stderr: r.stderr,
    line: i,
  });
}

/** The KernelError of a failed batch (naming the failing line), or null. */
function batchError(g: Item[], r: JobResult): KernelError | null {
  if (r.exitCode === 0) return null;
  const first = g[0]!.c;
  if (first.op === 'nft.replace' || first.op === 'nft.delete')
    return new KernelError({
      ns: first.ns,
      command: `nft -f - (${first.script.split('\n')[0] ?? ''} ...)`,
      stderr: r.stderr,
      line: g[0]!.i,
    });
  const lines = g.map(({ c }) => batchLine(c));
  const m = /Command failed -:(\d+)/.exec(r.stderr);
  const idx = m ? Number(m[1]) - 1 : 0;
  const stderr = r.stderr.replace(/\n?Command failed -:\d+\s*$/, '').trim();
  return new KernelError({
    ns: first.ns,
    command: `${program(g[0]!.tool)} ${nsArgs(first.ns).join(' ')} ${lines[idx] ?? ''}`.replace(/\s+/g, ' '),
    stderr,
    line: g[idx]?.i ?? g[0]!.i,
  });
}

async function runGroup(g: Item[]): Promise<void> {
  const first = g[0]!.c;
  if (first.op === 'sysctl.set') {
    try {
      await writeSysctls(
        g.map(({ c }) => (c.op === 'sysctl.set' ? { ns: c.ns, key: c.key, value: c.value } : { ns: '', key: '', value: '' })),
      );
    } catch (e) {
      if (e instanceof KernelError && e.detail.line !== undefined) throw new KernelError({ ...e.detail, line: g[e.detail.line]!.i });
      throw e;
    }
    return;
  }
  if (first.op === 'proc') {
    // One namespace's processes, one after another: exec entries in the order they are written.
    for (const { c, i } of [...g].sort((a, b) => (a.c.op === 'proc' && b.c.op === 'proc' ? a.c.proc.seq - b.c.proc.seq : 0))) {
      if (c.op !== 'proc') continue;
      try {
        await runProcCommand(c, spawnListeners.getStore() ?? null);
      } catch (e) {
        if (e instanceof KernelError) throw new KernelError({ ...e.detail, line: i });
        throw e;
      }
    }
    return;
  }
  if (first.op === 'handle.mount' || first.op === 'handle.unmount') {
    const execa = await lazyExeca();
    const path = `${NETNS_DIR}/${first.ns}`;
    const fail = (stderr: string, command: string) => new KernelError({ ns: first.ns, command, stderr, line: g[0]!.i });
    if (first.op === 'handle.mount') {
      await mkdir(NETNS_DIR, { recursive: true });
      await writeFile(path, '', { flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
        throw fail(e.message, `create ${path}`);
      });
      const r = await execa('mount', ['--bind', first.source, path], { reject: false });
      if (r.exitCode !== 0) {
        await rm(path, { force: true });
        throw fail(r.stderr, `mount --bind ${first.source} ${path}`);
      }
    } else {
      const r = await execa('umount', [path], { reject: false });
      if (r.exitCode !== 0 && !/not mounted|no mount point/.test(r.stderr)) throw fail(r.stderr, `umount ${path}`);
      await rm(path, { force: true });
    }
  }
}

/** Every process by the namespace it is in (`dev:ino` of /proc/PID/ns/net), from one pass over /proc. */
async function scanProcNetns(): Promise<Map<string, number[]>> {
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
  const out = new Map<string, number[]>();
  const stats = await Promise.all(pids.map((pid) => stat(`/proc/${pid}/ns/net`).catch(() => null)));
  pids.forEach((pid, k) => {
    const st = stats[k];
    if (!st) return;
    const key = `${st.dev}:${st.ino}`;
    out.set(key, [...(out.get(key) ?? []), pid]);
  });
  return out;
}

/** The target of a handle as the query expects it, when the handle points at that namespace; else null. */
function handleTarget(q: NsQuery): { pid: number } | { path: string } | null {
  const t = q.target;
  if (!t) return null;
  try {
    const handle = statSync(`${NETNS_DIR}/${q.ns}`);
    const target = statSync(targetPath(t));
    return handle.ino === target.ino && handle.dev === target.dev ? t : null;
  } catch {
    return null;
  }
}

/** The sysctls of attached namespaces without a handle yet, read in the namespace their target names. */
async function sysctlsThroughTarget(qs: NsQuery[]): Promise<Obj[]> {
  if (!qs.length) return [];
  const dumps = await dumpNamespaces(
    qs.map((q) => ({ ns: targetPath(q.target!), ipv6Routes: false, linksOnly: true, sysctlPaths: q.sysctls.map(sysctlPath) })),
    '',
  );
  // A target that cannot be read is preflight's to report; nothing is known of it here.
  return qs.flatMap((q, i) => {
    const d = dumps[i]!;
    return d instanceof Error ? [] : decodeSysctls(q, d.sysctls);
  });
}

/** Adds the lab's processes (from its process record) in the namespaces observed as the lab's. */
async function withProcesses(req: ObserveRequest, o: Observation): Promise<Observation> {
  const namespaces = new Set(req.namespaces.map((q) => q.ns).filter((ns) => !o.foreignNetns.has(ns)));
  for (const p of await observeProcesses(req.lab, namespaces)) o.state.set(p.id, p);
  return o;
}
