// Runs a lab's `expect:` assertions against the kernel: responders at the destinations (our own
// processes, stopped by pid afterwards), ping for ICMP, the agent's probe for TCP/UDP. Where a real
// service holds a target's port, the host that accepted each connection is read from its sockets.
import type { ResultPromise } from 'execa';
import { lazyExeca } from '../driver/exec.js';
import { ToolError } from '../errors.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Expectation, Lab, MatrixExpectation } from '../lab/types.js';
import { judgeMatrix, matrixText, pooled } from './matrix.js';
import type { AssertionResult, LabResult } from './report.js';
import { waitForServers } from './settle.js';
import { holdsConnection } from './sockets.js';
import { destinations, responders } from './targets.js';

/** The agent script, compiled next to this file (dist/assert/agent.js). */
export const AGENT = fileURLToPath(new URL('./agent.js', import.meta.url));
const NETNS_DIR = '/run/netns';

export interface RunOptions {
  /** Per attempt: TCP/UDP connect or answer, ping reply. */
  timeoutMs?: number;
  warn?(message: string): void;
  /** The responders to start, instead of every destination's (a machine of a lab across machines starts only its own). */
  responders?: Map<string, { tcp: number[]; udp: number[] }>;
  /** Told each truth table's observed cells (by its index in the lab's matrices), or null when it could not run. */
  onMatrix?(index: number, got: boolean[][] | null): void;
}

/** `ip netns exec NS cmd...`, or the command itself in the machine's own namespace. */
function inNs(ns: string, argv: string[]): [string, string[]] {
  return ns ? ['ip', ['netns', 'exec', ns, ...argv]] : [argv[0]!, argv.slice(1)];
}

export interface Responder {
  host: string;
  child: ResultPromise;
  /** The responder's own pid (a process in the host's namespace, for its socket table). */
  pid: number;
  /** `tcp/80`: ports it could not listen on, because something else (a real service) does. */
  taken: Set<string>;
}

export async function startResponder(
  host: string,
  ns: string,
  tcp: number[],
  udp: number[],
  warn: (m: string) => void,
): Promise<Responder> {
  const execa = await lazyExeca();
  const args = [
    process.execPath,
    AGENT,
    'serve',
    '--name',
    host,
    ...tcp.flatMap((p) => ['--tcp', String(p)]),
    ...udp.flatMap((p) => ['--udp', String(p)]),
  ];
  const [cmd, argv] = inNs(ns, args);
  const child = execa(cmd, argv, { stdin: 'pipe', reject: false, buffer: false });
  const taken = new Set<string>();
  const pid = await new Promise<number>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new ToolError(`the responder in host ${host} did not start within 10 s`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        const ready = JSON.parse(text.slice(0, nl)) as { pid: number; failed: { proto: string; port: number; error: string }[] };
        for (const f of ready.failed) {
          taken.add(`${f.proto}/${f.port}`);
          if (f.proto !== 'tcp' || f.error !== 'EADDRINUSE')
            warn(
              `host ${host}: the responder cannot listen on ${f.proto} port ${f.port} (${f.error}); whatever listens there answers instead`,
            );
        }
        resolve(ready.pid);
      } catch {
        reject(new ToolError(`the responder in host ${host} said: ${text.trim()}`));
      }
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    void child.then((r) => {
      clearTimeout(timer);
      reject(new ToolError(`the responder in host ${host} exited (${r.exitCode ?? r.signal}): ${err.trim()}`));
    });
  });
  return { host, child, pid, taken };
}

/** Stops our responders by their pid and waits for them. */
export async function stopResponders(rs: Responder[]): Promise<void> {
  for (const r of rs) r.child.kill('SIGTERM');
  await Promise.all(rs.map((r) => r.child.catch(() => undefined)));
}

type Probe = { ok: true; name: string | null; answer?: string } | { ok: false; error: string };

const ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'no answer (timed out)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
};
const words = (e: string) => (ERRORS[e] ? `${ERRORS[e]} (${e})` : e);

/** A DNAT target whose port a real service holds: its answers are told by the socket it accepted. */
interface RealService {
  host: string;
  pid: number;
  port: number;
}

/** The destinations of a TCP assertion where no responder of ours listens but something else does. */
function realServices(lab: Lab, e: Expectation, rs: Responder[]): RealService[] {
  if (e.proto !== 'tcp') return [];
  return destinations(lab, e).flatMap((d) => {
    const r = rs.find((x) => x.host === d.host);
    return r?.taken.has(`tcp/${d.port}`) ? [{ host: d.host, pid: r.pid, port: d.port }] : [];
  });
}

/** The one host among `candidates` holding the connection from source port `from`, or null. */
async function accepter(candidates: RealService[], from: number): Promise<string | null> {
  const found = await Promise.all(candidates.map((c) => holdsConnection(c.pid, c.port, from)));
  const hosts = candidates.filter((_, i) => found[i]).map((c) => c.host);
  return hosts.length === 1 ? hosts[0]! : null;
}

/** `retrySilent`: a connection made that brought nothing is made once more (see agent.ts). */
async function probe(
  ns: string,
  e: Expectation,
  count: number,
  timeoutMs: number,
  candidates: RealService[] = [],
  retrySilent = false,
): Promise<Probe[]> {
  const execa = await lazyExeca();
  const hold = candidates.length > 0;
  const [cmd, argv] = inNs(ns, [
    process.execPath,
    AGENT,
    'probe',
    '--proto',
    e.proto,
    '--to',
    e.to.address,
    '--port',
    String(e.to.port),
    '--count',
    String(count),
    '--timeout',
    String(timeoutMs),
    ...(hold ? ['--hold', '1'] : []),
    ...(retrySilent ? ['--retry-silent', '1'] : []),
  ]);
  const child = execa(cmd, argv, { reject: false, stdin: 'pipe' });
  child.stdin!.on('error', () => undefined); // The probe gone: its exit status tells why.
  // Each connection the probe holds open is looked up in the candidates' socket tables, then released.
  const told = new Map<number, string>();
  let seen = '';
  const lookups: Promise<void>[] = [];
  if (hold)
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      for (let nl = seen.indexOf('\n'); nl >= 0; nl = seen.indexOf('\n')) {
        const line = seen.slice(0, nl);
        seen = seen.slice(nl + 1);
        const m = /^\{"connected":(\d+),"port":(\d+)\}$/.exec(line);
        if (!m) continue;
        lookups.push(
          accepter(candidates, Number(m[2])).then((host) => {
            if (host) told.set(Number(m[1]), host);
            child.stdin!.write(host ? 'close\n' : 'wait\n');
          }),
        );
      }
    });
  else child.stdin!.end();
  const r = await child;
  await Promise.all(lookups);
  if (r.exitCode !== 0) throw new ToolError(`the probe failed (exit ${r.exitCode}): ${String(r.stderr).trim() || String(r.stdout).trim()}`);
  const last = String(r.stdout).trim().split('\n').pop() ?? '';
  const results = (JSON.parse(last) as { results: Probe[] }).results;
  return results.map((p, i) => (p.ok && told.has(i) ? { ok: true, name: told.get(i)! } : p));
}

/** One probe process in `ns` trying every address at once: whether each answered. */
async function probeRow(ns: string, proto: 'tcp' | 'udp', port: number, addresses: string[], timeoutMs: number): Promise<boolean[]> {
  const execa = await lazyExeca();
  const to = addresses.flatMap((a) => ['--to', a]);
  const args = [process.execPath, AGENT, 'probe', '--proto', proto, '--port', String(port), '--timeout', String(timeoutMs), ...to];
  const [cmd, argv] = inNs(ns, args);
  const r = await execa(cmd, argv, { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new ToolError(`the probe failed (exit ${r.exitCode}): ${String(r.stderr).trim() || String(r.stdout).trim()}`);
  const answer = JSON.parse(String(r.stdout).trim().split('\n').pop() ?? '') as { results?: Probe[]; targets?: Probe[][] };
  const lists = answer.targets ?? [answer.results ?? []];
  return lists.map((results) => results.some((p) => p.ok));
}

async function ping(ns: string, address: string, timeoutMs: number): Promise<{ ok: boolean; output: string }> {
  const execa = await lazyExeca();
  const wait = String(Math.max(1, Math.round(timeoutMs / 1000)));
  const [cmd, argv] = inNs(ns, ['ping', '-n', '-c', '1', '-W', wait, address]);
  const r = await execa(cmd, argv, { reject: false, all: true });
  if ((r as { code?: string }).code === 'ENOENT' || /exec of "ping" failed/.test(r.all ?? ''))
    throw new ToolError('ping is not installed (apt-get install iputils-ping)');
  return { ok: r.exitCode === 0, output: (r.all ?? '').trim().split('\n').filter(Boolean).slice(-2).join(' | ') };
}

function answerer(p: Probe & { ok: true }, address: string): string {
  return p.name ?? `something at ${address} (not a netlab responder)`;
}

/** Runs one assertion; never throws (a problem running it is an `error` result). */
async function runOne(
  lab: Lab,
  e: Expectation,
  timeoutMs: number,
  rs: Responder[],
): Promise<Omit<AssertionResult, 'lab' | 'text' | 'pos' | 'seconds'>> {
  const src = lab.hosts.find((h) => h.name === e.from)!;
  if (src.ns && !existsSync(`${NETNS_DIR}/${src.ns}`))
    return { status: 'error', message: `host ${src.name}'s namespace ${src.ns} does not exist: is the lab applied?`, details: [] };
  const target = `${e.to.address}${e.to.port !== null ? `:${e.to.port}` : ''}${e.to.host ? ` (${e.to.host})` : ''}`;
  try {
    if (e.proto === 'icmp') {
      const tries = e.verdict === 'reachable' ? 3 : 1;
      let last = { ok: false, output: '' };
      for (let i = 0; i < tries && !last.ok; i++) last = await ping(src.ns, e.to.address, timeoutMs);
      if (e.verdict === 'reachable')
        return last.ok
          ? { status: 'pass', message: `ping ${target} answered`, details: [] }
          : { status: 'fail', message: `expected a ping reply from ${target}, got none (${tries} tries)`, details: [last.output] };
      return last.ok
        ? { status: 'fail', message: `expected no ping reply, but ${target} answered`, details: [last.output] }
        : { status: 'pass', message: `no ping reply from ${target}`, details: [] };
    }
    const what = `${e.proto} ${target}`;
    if (e.verdict === 'reaches') {
      const n = Math.max(10, 6 * e.backends.length);
      const results = await probe(src.ns, e, n, timeoutMs, realServices(lab, e, rs), true);
      const hits = new Map<string, number>();
      const failures = new Map<string, number>();
      for (const r of results) {
        if (r.ok) hits.set(answerer(r, e.to.address), (hits.get(answerer(r, e.to.address)) ?? 0) + 1);
        else failures.set(words(r.error), (failures.get(words(r.error)) ?? 0) + 1);
      }
      const tally = [...hits].map(([k, v]) => `${k} x${v}`).join(', ') || 'nobody';
      const never = e.backends.filter((b) => !hits.has(b));
      const others = [...hits.keys()].filter((k) => !e.backends.includes(k));
      const ok = !never.length && !others.length && !failures.size;
      const details = [`answers: ${tally}`, ...[...failures].map(([k, v]) => `failed connections: ${k} x${v}`)];
      if (ok) return { status: 'pass', message: `${n} connections to ${what}: ${tally}`, details: [] };
      const why = [
        never.length ? `never answered: ${never.join(', ')}` : '',
        others.length ? `unexpected answers from ${others.join(', ')}` : '',
        failures.size ? `${[...failures.values()].reduce((a, b) => a + b, 0)} of ${n} connections failed` : '',
      ].filter(Boolean);
      return {
        status: 'fail',
        message: `expected answers from exactly ${e.backends.join(', ')} over ${n} connections to ${what}; ${why.join('; ')}`,
        details,
      };
    }
    const tries = e.verdict === 'reachable' ? 2 : 1;
    let r: Probe = { ok: false, error: 'ETIMEDOUT' };
    for (let i = 0; i < tries && !r.ok; i++) [r] = (await probe(src.ns, e, 1, timeoutMs, realServices(lab, e, rs))) as [Probe];
    if (e.verdict === 'reachable')
      return r.ok
        ? { status: 'pass', message: `${answerer(r, e.to.address)} answered ${what}`, details: [] }
        : { status: 'fail', message: `expected an answer from ${what}, got ${words(r.error)}`, details: [] };
    return r.ok
      ? { status: 'fail', message: `expected no answer from ${what}, but ${answerer(r, e.to.address)} answered`, details: [] }
      : { status: 'pass', message: `${what}: ${words(r.error)}`, details: [] };
  } catch (err) {
    return { status: 'error', message: (err as Error).message, details: [] };
  }
}

/** Probes every cell of a truth table, several at once (no cell depends on another's count); `got` null when it could not run. */
async function runMatrix(
  lab: Lab,
  m: MatrixExpectation,
  timeoutMs: number,
): Promise<{ result: Omit<AssertionResult, 'lab' | 'text' | 'pos' | 'seconds'>; got: boolean[][] | null }> {
  const missing = m.from.find((f) => {
    const ns = lab.hosts.find((h) => h.name === f)!.ns;
    return ns && !existsSync(`${NETNS_DIR}/${ns}`);
  });
  if (missing)
    return {
      result: { status: 'error', message: `host ${missing}'s namespace does not exist: is the lab applied?`, details: [] },
      got: null,
    };
  try {
    const rows = m.from.map((f, i) => async () => {
      const ns = lab.hosts.find((h) => h.name === f)!.ns;
      const row = await probeRow(
        ns,
        m.proto,
        m.port,
        m.to.map((t) => t.address),
        timeoutMs,
      );
      // A cell that should pass gets a second try, as a single assertion does: one lost SYN is not a verdict.
      const again = m.to.flatMap((_, j) => (m.want[i]![j] && !row[j] ? [j] : []));
      if (again.length) {
        const retried = await probeRow(
          ns,
          m.proto,
          m.port,
          again.map((j) => m.to[j]!.address),
          timeoutMs,
        );
        again.forEach((j, k) => (row[j] = retried[k]!));
      }
      return row;
    });
    const got = await pooled(rows, MATRIX_CONCURRENCY);
    return { result: judgeMatrix(m, got), got };
  } catch (err) {
    return { result: { status: 'error', message: (err as Error).message, details: [] }, got: null };
  }
}

/** Rows of one truth table probed at once (each row one process probing all its cells). */
const MATRIX_CONCURRENCY = 16;

/** Runs every assertion of an applied lab, one after another (load-balancing counts stay exact). */
export async function runLabAssertions(lab: Lab, opts: RunOptions = {}): Promise<LabResult> {
  const started = Date.now();
  const timestamp = new Date(started).toISOString().replace(/\.\d{3}Z$/, '');
  const timeoutMs = opts.timeoutMs ?? 1000;
  const warn = opts.warn ?? (() => undefined);
  const rs: Responder[] = [];
  const results: AssertionResult[] = [];
  const base = (e: Expectation) => ({ lab: lab.name, text: e.text, pos: e.pos });
  try {
    const needed = opts.responders ?? responders(lab);
    await waitForServers(lab.name, new Set(needed.keys()));
    // Started together: a truth table has a responder in every host it names.
    const started = await Promise.allSettled(
      [...needed].flatMap(([host, ports]) => {
        const h = lab.hosts.find((x) => x.name === host)!;
        return h.ns && !existsSync(`${NETNS_DIR}/${h.ns}`) ? [] : [startResponder(host, h.ns, ports.tcp, ports.udp, warn)];
      }),
    );
    for (const s of started) if (s.status === 'fulfilled') rs.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    for (const e of lab.expect) {
      const t0 = Date.now();
      const r = await runOne(lab, e, timeoutMs, rs);
      results.push({ ...base(e), ...r, seconds: (Date.now() - t0) / 1000 });
    }
    for (const [i, m] of (lab.matrices ?? []).entries()) {
      const t0 = Date.now();
      const { result, got } = await runMatrix(lab, m, timeoutMs);
      opts.onMatrix?.(i, got);
      results.push({ lab: lab.name, text: matrixText(m), pos: m.pos, ...result, seconds: (Date.now() - t0) / 1000 });
    }
  } catch (err) {
    const message = (err as Error).message;
    for (const e of lab.expect.slice(results.length)) results.push({ ...base(e), status: 'error', message, details: [], seconds: 0 });
  } finally {
    await stopResponders(rs);
  }
  return { lab: lab.name, file: lab.file, error: null, results, seconds: (Date.now() - started) / 1000, timestamp };
}
