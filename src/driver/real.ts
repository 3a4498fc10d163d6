// The real driver: one `ip -batch` per namespace per phase, one process for all sysctls,
// one `nft -f` per namespace, namespaces handled concurrently.
import { statSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { KernelError } from '../errors.js';
import type { Command } from '../model/command.js';
import { parseAddr, type RawAddrInfo } from '../model/addr.js';
import { parseFdb, type RawFdb } from '../model/fdb.js';
import { parseLink, type ObservedLink, type RawLink } from '../model/link.js';
import { parseNftListing } from '../model/nft.js';
import { ids, type Obj, type State } from '../model/objects.js';
import { parsePortVlans, type RawPortVlans } from '../model/portvlan.js';
import { parseQdiscs, type RawQdisc } from '../model/qdisc.js';
import { parseRoute, type RawRoute } from '../model/route.js';
import { normaliseSysctlValue, sysctlPath } from '../model/sysctl.js';
import { createdNetnsMark, parseCreatedNetnsMark, parseOwnerAltname } from '../spec/names.js';
import type { Driver, NsQuery, Observation, ObserveRequest, ProbeRequest, ProbeResult } from './driver.js';
import { probeKernel } from './probe.js';

export const NETNS_DIR = '/run/netns';
const CONCURRENCY = Number(process.env.NETLAB_CONCURRENCY ?? 8);

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

let spawnListener: ((pid: number) => void) | null = null;

/** Starts a command that changes the kernel, telling the spawn listener its pid at once. */
function change(cmd: string, args: string[], input: string) {
  const child = execa(cmd, args, { input, reject: false });
  if (spawnListener && child.pid !== undefined) spawnListener(child.pid);
  return child;
}

// Reads and writes sysctls of many namespaces from one process: setns(2) per namespace, then
// /proc/sys/net reflects that namespace. perl-base is Essential on Debian, so always present.
const SYSCTL_PERL = String.raw`
use strict; use warnings;
my %SYS = (x86_64 => 308, aarch64 => 268, i686 => 346, armv7l => 375, riscv64 => 268, ppc64le => 350, s390x => 339);
my $nr = $SYS{(POSIX::uname())[4]} // die "setns: unknown architecture\n";
open(my $self, '<', '/proc/self/ns/net') or die "open own netns: $!\n";
my $cur = '';
my $i = -1;
while (my $l = <STDIN>) {
  chomp $l; $i++;
  my ($op, $ns, $path, $val) = split /\t/, $l, 4;
  if ($ns ne $cur) {
    my $fh;
    if ($ns eq '') { $fh = $self } else { open($fh, '<', "/run/netns/$ns") or do { print "ERR\t$i\tnamespace $ns: $!\n"; exit 1 } }
    syscall($nr, fileno($fh), 0x40000000) == 0 or do { print "ERR\t$i\tsetns $ns: $!\n"; exit 1 };
    $cur = $ns;
  }
  if ($op eq 'r') {
    if (open(my $r, '<', $path)) { local $/; my $v = <$r>; $v = '' unless defined $v; $v =~ s/\s+/ /g; $v =~ s/^ | $//g; print "OK\t$i\t$v\n" }
    else { print "NONE\t$i\n" }
  } else {
    open(my $w, '>', $path) or do { print "ERR\t$i\t$path: $!\n"; exit 1 };
    print $w "$val\n";
    close($w) or do { print "ERR\t$i\t$path: $!\n"; exit 1 };
    print "OK\t$i\n";
  }
}
`;

async function runSysctl(lines: { op: 'r' | 'w'; ns: string; key: string; value?: string }[]): Promise<(string | null)[]> {
  if (!lines.length) return [];
  // Grouping by namespace keeps setns calls to one per namespace.
  const order = lines.map((l, i) => ({ l, i })).sort((a, b) => (a.l.ns < b.l.ns ? -1 : a.l.ns > b.l.ns ? 1 : a.i - b.i));
  const input = order.map(({ l }) => [l.op, l.ns, sysctlPath(l.key), l.value ?? ''].join('\t')).join('\n') + '\n';
  const r = await change('perl', ['-MPOSIX', '-e', SYSCTL_PERL], input);
  const out: (string | null)[] = new Array(lines.length).fill(null);
  for (const row of r.stdout.split('\n')) {
    const [status, idx, value] = row.split('\t');
    if (status === undefined || idx === undefined) continue;
    const original = order[Number(idx)]!;
    if (status === 'ERR') {
      const e = new KernelError({
        ns: original.l.ns,
        command: `sysctl -w ${original.l.key}=${original.l.value ?? ''}`,
        stderr: value ?? r.stderr,
        line: original.i,
      });
      throw e;
    }
    if (status === 'OK') out[original.i] = original.l.op === 'r' ? normaliseSysctlValue(value ?? '') : 'ok';
  }
  if (r.exitCode !== 0) throw new KernelError({ ns: '', command: 'sysctl helper (perl)', stderr: r.stderr || `exit ${r.exitCode}` });
  return out;
}

interface RawNs {
  q: NsQuery;
  links: RawLink[];
  addrs: (RawLink & { addr_info?: RawAddrInfo[] })[];
  routes: RawRoute[];
  routes6: RawRoute[];
  nsids: { nsid: number; name?: string }[];
  vlans: RawPortVlans[];
  fdb: RawFdb[];
  nft: { family: string; table: string; text: string }[];
  qdiscs: RawQdisc[];
}

function parseJsonLines(stdout: string, expected: number, what: string): unknown[] {
  const docs = stdout.split('\n').filter((l) => l.trim() !== '');
  if (docs.length < expected) throw new Error(`${what}: expected ${expected} JSON documents, got ${docs.length}`);
  return docs.map((d) => JSON.parse(d) as unknown);
}

async function readNs(q: NsQuery): Promise<RawNs> {
  const batch = await execa('ip', [...nsArgs(q.ns), '-d', '-j', '-batch', '-'], {
    input: 'link show\naddr show\nroute show table all\nnetns list-id\n',
    reject: false,
  });
  if (batch.exitCode !== 0)
    throw new KernelError({ ns: q.ns, command: `ip ${nsArgs(q.ns).join(' ')} -d -j -batch - (observe)`, stderr: batch.stderr });
  const [links, addrs, routes, nsids] = parseJsonLines(batch.stdout, 4, `observe ${q.ns || '(root)'}`) as [
    RawLink[],
    RawNs['addrs'],
    RawRoute[],
    RawNs['nsids'],
  ];
  const extra: Promise<unknown>[] = [];
  let routes6: RawRoute[] = [];
  let vlans: RawPortVlans[] = [];
  let fdb: RawFdb[] = [];
  let qdiscs: RawQdisc[] = [];
  const nft: RawNs['nft'] = [];
  if (q.ipv6Routes)
    extra.push(
      execa('ip', [...nsArgs(q.ns), '-6', '-j', 'route', 'show', 'table', 'all']).then(
        (r) => (routes6 = JSON.parse(r.stdout || '[]') as RawRoute[]),
      ),
    );
  if (q.bridgeVlans)
    extra.push(
      execa('bridge', [...nsArgs(q.ns), '-j', 'vlan', 'show'], { reject: false }).then(
        (r) => (vlans = r.exitCode === 0 ? (JSON.parse(r.stdout || '[]') as RawPortVlans[]) : []),
      ),
    );
  if (links.some((l) => l.linkinfo?.info_kind === 'vxlan'))
    extra.push(
      execa('bridge', [...nsArgs(q.ns), '-j', 'fdb', 'show'], { reject: false }).then(
        (r) => (fdb = r.exitCode === 0 ? (JSON.parse(r.stdout || '[]') as RawFdb[]) : []),
      ),
    );
  // -raw: tbf's queue limit is printed only then.
  if (q.qdiscs)
    extra.push(
      execa('tc', [...nsArgs(q.ns), '-raw', '-j', 'qdisc', 'show'], { reject: false }).then((r) => {
        if (r.exitCode !== 0) throw new KernelError({ ns: q.ns, command: 'tc -raw -j qdisc show (observe)', stderr: r.stderr });
        qdiscs = JSON.parse(r.stdout || '[]') as RawQdisc[];
      }),
    );
  for (const t of q.nftTables) {
    const [cmd, args] = inNs(q.ns, ['nft', 'list', 'table', t.family, t.table]);
    extra.push(
      execa(cmd, args, { reject: false }).then((r) => {
        if (r.exitCode === 0) nft.push({ ...t, text: r.stdout });
        else if (!/No such file or directory/.test(r.stderr))
          throw new KernelError({ ns: q.ns, command: `nft list table ${t.family} ${t.table}`, stderr: r.stderr });
      }),
    );
  }
  await Promise.all(extra);
  return { q, links, addrs, routes, routes6, nsids, vlans, fdb, nft, qdiscs };
}

export class RealDriver implements Driver {
  probe(req: ProbeRequest): Promise<ProbeResult[]> {
    return probeKernel(req);
  }

  setSpawnListener(listener: ((pid: number) => void) | null): void {
    spawnListener = listener;
  }

  async listNetns(): Promise<string[]> {
    try {
      return (await readdir(NETNS_DIR)).sort();
    } catch {
      return [];
    }
  }

  async netnsPids(ns: string): Promise<number[]> {
    const r = await execa('ip', ['netns', 'pids', ns], { reject: false });
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((n) => n !== process.pid);
  }

  async labMarks(ns: string): Promise<{ created: string | null; altnameLabs: string[] }> {
    const r = await execa('ip', [...nsArgs(ns), '-j', 'link', 'show'], { reject: false });
    if (r.exitCode !== 0) return { created: null, altnameLabs: [] };
    const links = JSON.parse(r.stdout || '[]') as RawLink[];
    const lo = links.find((l) => l.ifname === 'lo');
    const labs = new Set<string>();
    for (const l of links)
      for (const a of l.altnames ?? []) {
        const p = parseOwnerAltname(a);
        if (p) labs.add(p.lab);
      }
    return { created: parseCreatedNetnsMark(lo?.ifalias), altnameLabs: [...labs].sort() };
  }

  async observe(req: ObserveRequest): Promise<Observation> {
    const existing = new Set(await this.listNetns());
    const present = req.namespaces.filter((q) => q.ns === '' || existing.has(q.ns));
    const raws = await pool(present, CONCURRENCY, readNs);
    const sysctlReads = present.flatMap((q) => q.sysctls.map((key) => ({ op: 'r' as const, ns: q.ns, key })));
    const sysctlValues = await runSysctl(sysctlReads);
    return assemble(
      req.lab,
      raws,
      sysctlReads.map((r, i) => ({ ...r, value: sysctlValues[i] ?? null })),
    );
  }

  async execute(commands: Command[]): Promise<void> {
    // Group by tool and namespace, keeping each command's index for error reports.
    const groups = new Map<string, { c: Command; i: number }[]>();
    commands.forEach((c, i) => {
      const key = c.tool === 'sysctl' ? 'sysctl' : c.tool === 'handle' || c.tool === 'nft' ? `${c.tool}#${i}` : `${c.tool}:${c.ns}`;
      const g = groups.get(key) ?? [];
      g.push({ c, i });
      groups.set(key, g);
    });
    await pool([...groups.values()], CONCURRENCY, (g) => runGroup(g));
  }
}

async function runGroup(g: { c: Command; i: number }[]): Promise<void> {
  const first = g[0]!.c;
  if (first.tool === 'ip' || first.tool === 'bridge' || first.tool === 'tc') {
    const lines = g.map(({ c }) => (c.tool === 'ip' || c.tool === 'bridge' || c.tool === 'tc' ? c.line : ''));
    const r = await change(first.tool, [...nsArgs(first.ns), '-batch', '-'], lines.join('\n') + '\n');
    if (r.exitCode !== 0) {
      const m = /Command failed -:(\d+)/.exec(r.stderr);
      const idx = m ? Number(m[1]) - 1 : 0;
      const stderr = r.stderr.replace(/\n?Command failed -:\d+\s*$/, '').trim();
      throw new KernelError({
        ns: first.ns,
        command: `${first.tool} ${nsArgs(first.ns).join(' ')} ${lines[idx] ?? ''}`.replace(/\s+/g, ' '),
        stderr,
        line: g[idx]?.i ?? g[0]!.i,
      });
    }
    return;
  }
  if (first.tool === 'sysctl') {
    try {
      await runSysctl(
        g.map(({ c }) =>
          c.tool === 'sysctl'
            ? { op: 'w' as const, ns: c.ns, key: c.key, value: c.value }
            : { op: 'w' as const, ns: '', key: '', value: '' },
        ),
      );
    } catch (e) {
      if (e instanceof KernelError && e.detail.line !== undefined) throw new KernelError({ ...e.detail, line: g[e.detail.line]!.i });
      throw e;
    }
    return;
  }
  if (first.tool === 'nft') {
    const [cmd, args] = inNs(first.ns, ['nft', '-f', '-']);
    const r = await change(cmd, args, first.script);
    if (r.exitCode !== 0)
      throw new KernelError({
        ns: first.ns,
        command: `nft -f - (${first.script.split('\n')[0] ?? ''} ...)`,
        stderr: r.stderr,
        line: g[0]!.i,
      });
    return;
  }
  if (first.tool === 'handle') {
    const path = `${NETNS_DIR}/${first.ns}`;
    const fail = (stderr: string, command: string) => new KernelError({ ns: first.ns, command, stderr, line: g[0]!.i });
    if (first.action === 'mount') {
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

/** The target of a handle as the query expects it, when the handle points at that namespace; else null. */
function handleTarget(q: NsQuery): { pid: number } | { path: string } | null {
  const t = q.target;
  if (!t) return null;
  try {
    const handle = statSync(`${NETNS_DIR}/${q.ns}`);
    const target = statSync('pid' in t ? `/proc/${t.pid}/ns/net` : t.path);
    return handle.ino === target.ino && handle.dev === target.dev ? t : null;
  } catch {
    return null;
  }
}

/** Turns raw per-namespace output into owned objects, resolving veth peers and parents across namespaces. */
function assemble(lab: string, raws: RawNs[], sysctls: { ns: string; key: string; value: string | null }[]): Observation {
  const state: State = new Map();
  const foreignLinks = new Set<string>();
  const foreignNetns = new Set<string>();
  const add = (o: Obj) => state.set(o.id, o);
  const owned = new Set<string>();
  const byNs = new Map<string, { raw: RawNs; links: ObservedLink[] }>();
  const altPrefix = `netlab.${lab}.`;

  for (const raw of raws) {
    const { q } = raw;
    const links = raw.links.map((l) => parseLink(q.ns, l)).filter((l): l is ObservedLink => l !== null);
    if (q.mode === 'created') {
      const lo = links.find((l) => l.obj.type === 'loopback');
      // A namespace whose lo carries another mark or none is not this lab's: read nothing in it.
      const adoptable = q.adopt && !lo?.obj.alias;
      if (lo?.obj.alias !== createdNetnsMark(lab) && !adoptable) {
        foreignNetns.add(q.ns);
        continue;
      }
      add({ kind: 'netns', id: ids.netns(q.ns), ns: q.ns, origin: 'created', target: null });
    } else if (q.mode === 'handle') {
      add({ kind: 'netns', id: ids.netns(q.ns), ns: q.ns, origin: 'handle', target: handleTarget(q) });
    }
    const mine = links.filter((l) => {
      if (q.mode === 'created') return true;
      const isMine = l.obj.altname?.startsWith(altPrefix) ?? false;
      if (!isMine) foreignLinks.add(l.obj.id);
      return isMine;
    });
    byNs.set(q.ns, { raw, links: mine });
    for (const l of mine) owned.add(`${q.ns}/${l.obj.ifname}`);
  }

  // Resolve peers: nsid -> name from `netns list-id`; an unnamed nsid is the root namespace.
  const linkByIndex = new Map<string, string>();
  for (const [ns, { raw }] of byNs) for (const l of raw.links) linkByIndex.set(`${ns}#${l.ifindex}`, l.ifname);
  for (const [ns, { raw, links }] of byNs) {
    const nsidName = new Map(raw.nsids.map((n) => [n.nsid, n.name ?? '']));
    for (const l of links) {
      if (l.peerRef) {
        const peerNs = l.peerRef.nsid === undefined ? ns : (nsidName.get(l.peerRef.nsid) ?? '');
        const ifname = linkByIndex.get(`${peerNs}#${l.peerRef.ifindex}`) ?? `#${l.peerRef.ifindex}`;
        l.obj.peer = { ns: peerNs, ifname };
      }
      add(l.obj);
    }
  }

  for (const [ns, { raw, links }] of byNs) {
    const shared = raw.q.mode !== 'created';
    const isOwnedDev = (dev: string | undefined) => dev !== undefined && (!shared || owned.has(`${ns}/${dev}`));
    for (const l of raw.addrs) {
      if (l.ifname === 'lo' || !isOwnedDev(l.ifname)) continue;
      for (const a of l.addr_info ?? []) {
        const o = parseAddr(ns, l.ifname, a);
        if (o) add(o);
      }
    }
    for (const [family, list] of [[4, raw.routes] as const, [6, raw.routes6] as const]) {
      for (const r of list) {
        if (!isOwnedDev(r.dev)) continue;
        const o = parseRoute(ns, family, r);
        if (o) add(o);
      }
    }
    const vxlans = new Set(links.filter((l) => l.obj.type === 'vxlan').map((l) => l.obj.ifname));
    const groups = new Map(
      links.flatMap((l) => (l.obj.type === 'vxlan' && l.obj.attrs.group ? [[l.obj.ifname, String(l.obj.attrs.group)]] : [])),
    );
    for (const f of raw.fdb) {
      const o = parseFdb(ns, vxlans, f, groups);
      if (o) add(o);
    }
    for (const v of raw.vlans)
      if (isOwnedDev(v.ifname) && links.some((l) => l.obj.ifname === v.ifname && l.obj.master)) parsePortVlans(ns, v).forEach(add);
    for (const t of raw.nft) add(parseNftListing(ns, t.family, t.table, t.text));
    for (const o of parseQdiscs(ns, raw.qdiscs)) if (isOwnedDev(o.dev)) add(o);
  }

  for (const s of sysctls) {
    if (s.value === null || foreignNetns.has(s.ns) || !byNs.has(s.ns)) continue;
    add({ kind: 'sysctl', id: ids.sysctl(s.ns, s.key), ns: s.ns, key: s.key, value: s.value });
  }
  return { state, foreignLinks, foreignNetns };
}
