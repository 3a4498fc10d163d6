// Runs many short commands, each inside a network namespace, from one small helper process.
//
// Why: a lab of N hosts needs about N `ip -batch` processes per observation and per apply. Started
// from node, each spawn blocks the event loop while node forks its large address space (however
// many run at once), and `ip -n NS` itself unshares a mount namespace and remounts
// /sys, which copies every mount, including one per /run/netns entry: the cost of each call grows
// with the number of namespaces. The helper is a perl process (perl-base is Essential on Debian,
// as for the sysctl helper; no modules, so it starts almost at once): it forks cheaply,
// enters the namespace with setns(2) alone, and execs the command with stdin, stdout and stderr on
// files of a private temporary directory. The commands and their output are exactly those of
// `ip -n NS -batch -`, `nft -f -`, and so on.
//
// If netlab dies, the helper starts no further command, waits for the running ones and exits;
// every pid (the helper's and each command's) is reported as it starts, so crash recovery can
// wait for them (see children in src/apply/store.ts).
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { profile } from '../profile.js';
import { helperArgs } from './perl-helpers.js';
import { ToolError } from '../errors.js';

export interface Job {
  /** Namespace name in `netnsDir` ('' = the namespace netlab runs in). */
  ns: string;
  /** Command and arguments. */
  argv: string[];
  /** Written to the command's stdin. */
  input?: string;
}

export interface JobResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Commands running at once. */
  concurrency: number;
  netnsDir: string;
  /** Told the pid of the helper and of every command, as each starts. */
  onSpawn?: ((pid: number) => void) | null;
}

/** setns(2) by architecture, for the perl helpers (perl's syscall() takes the number). */
const SETNS: Record<string, number> = { x64: 308, arm64: 268, ia32: 346, arm: 375, riscv64: 268, ppc64: 350, s390x: 339 };

export function setnsSyscall(): number {
  const nr = SETNS[process.arch];
  if (nr === undefined) throw new ToolError(`setns: unsupported architecture ${process.arch}`);
  return nr;
}

const escape = (s: string) => s.replace(/[%\t\n]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);

const resolved = new Map<string, string>();

/** The absolute path of a command, looked up in PATH once (the helper then execs it directly). */
export function commandPath(cmd: string): string {
  if (isAbsolute(cmd)) return cmd;
  let found = resolved.get(cmd);
  if (found) return found;
  found = cmd;
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      found = join(dir, cmd);
      break;
    } catch {
      /* not here */
    }
  }
  resolved.set(cmd, found);
  return found;
}

function scratchRoot(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

let swept = false;

/** Removes scratch directories of netlab processes that were killed before they could (once per process). */
async function sweepScratch(root: string): Promise<void> {
  if (swept) return;
  swept = true;
  const names = await readdir(root).catch(() => [] as string[]);
  await Promise.all(
    names.map(async (n) => {
      const pid = /^netlab-run-(\d+)-/.exec(n)?.[1];
      if (!pid || Number(pid) === process.pid || existsSync(`/proc/${pid}`)) return;
      await rm(join(root, n), { recursive: true, force: true });
    }),
  );
}

/**
 * Runs one command to its end with `input` on stdin, telling `onSpawn` its pid at once. For the
 * perl helpers: node's own spawn, since loading execa would cost more than the command.
 */
export function runCollect(
  cmd: string,
  args: string[],
  input: string,
  onSpawn?: ((pid: number) => void) | null,
): Promise<{ exitCode: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(commandPath(cmd), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    if (child.pid !== undefined) onSpawn?.(child.pid);
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (t: string) => (err += t));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ exitCode: code ?? 128 + (signal ? osConstants.signals[signal] : 0), stdout: Buffer.concat(out), stderr: err }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** Runs every job (at most `concurrency` at once) and returns their results in order. */
export async function runJobs(jobs: Job[], opts: RunOptions): Promise<JobResult[]> {
  if (!jobs.length) return [];
  profile.count('processes', jobs.length + 1);
  // Named with the pid: a killed netlab leaves its directory, which a later one sweeps away.
  const prefix = `netlab-run-${process.pid}-`;
  const root = scratchRoot();
  await sweepScratch(root);
  const dir = await mkdtemp(join(root, prefix)).catch(() => mkdtemp(join(tmpdir(), prefix)));
  try {
    await Promise.all(jobs.map((j, i) => (j.input ? writeFile(join(dir, `${i}.in`), j.input) : undefined)));
    const codes: (number | null)[] = new Array(jobs.length).fill(null);
    const stderr = await new Promise<string>((resolve, reject) => {
      const args = helperArgs('runner', [String(setnsSyscall()), dir, String(Math.max(1, opts.concurrency)), opts.netnsDir]);
      const child = spawn(commandPath('perl'), args, { stdio: ['pipe', 'pipe', 'pipe'] });
      if (child.pid !== undefined) opts.onSpawn?.(child.pid);
      let buf = '';
      let err = '';
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const [kind, id, value] = buf.slice(0, nl).split('\t');
          buf = buf.slice(nl + 1);
          if (kind === 'S') opts.onSpawn?.(Number(value));
          else if (kind === 'E') codes[Number(id)] = Number(value);
        }
      });
      child.stderr.on('data', (chunk: string) => (err += chunk));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve(err) : reject(new ToolError(`command runner (perl) failed: ${err || `exit ${code}`}`)),
      );
      child.stdin.on('error', () => undefined);
      const lines = jobs.map((j, i) => [String(i), j.ns, commandPath(j.argv[0]!), ...j.argv.slice(1)].map(escape).join('\t'));
      child.stdin.end(`${lines.join('\n')}\n`);
    });
    return await Promise.all(
      jobs.map(async (j, i) => {
        const code = codes[i];
        if (code === null || code === undefined)
          return { exitCode: -1, stdout: '', stderr: `not started: ${j.argv[0]} (command runner stopped early) ${stderr}`.trim() };
        const [out, err] = await Promise.all([
          readFile(join(dir, `${i}.out`), 'utf8').catch(() => ''),
          readFile(join(dir, `${i}.err`), 'utf8').catch(() => ''),
        ]);
        return { exitCode: code, stdout: out, stderr: err };
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
