// The lab's processes on the real machine: a per-lab record in the state directory
// (/run/netlab/<lab>/processes.json, written with fsync + rename) of what netlab started, and
// the start, stop and one-shot runs themselves.
//
// A `run` process is started detached (its own session, so it outlives netlab) with
// `ip netns exec NS sh -c COMMAND` (`sh -c` alone in the root namespace); stdout and stderr
// append to /run/netlab/<lab>/logs/<host>-<name>.log. The record keeps its pid, its start time
// (field 22 of /proc/PID/stat) and the namespace's inode: the process is netlab's, and alive, only
// while a process with that pid has that start time and is in that namespace. A reused pid is
// never mistaken for it, and nothing is signalled unless the record proves netlab started it.
//
// Stopping sends SIGTERM to the process group (the session netlab made), waits up to a grace
// period, then SIGKILL. When the leader has exited but members of its group remain, the group is
// still netlab's (Linux does not reuse a pid while a group carries it), so they are stopped too.
//
// The record of a start exists before the process does: an intent (lab, host, name and a random
// token, written with fsync + rename), then the spawn with the token in its environment (see
// run-token.ts), then the confirmation (pid and start time, replacing the intent). A netlab killed
// between any two of these leaves an intent or an entry that names what it started: recovery
// and destroy end every process carrying the token of an intent (reapUnconfirmed), and stopping
// an entry also ends the descendants that carry its token outside its process group.
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { labDir, labPath, openStateFileForAppend, readStateFile, readStateJson, writeStateFile } from '../state/files.js';
import { KernelError } from '../errors.js';
import type { OpOf } from '../model/operations.js';
import { ids, type ProcessObj } from '../model/objects.js';
import { faultPoint } from './fault.js';
import { allPids, procNetns, procStat, signalGroup } from './procfs.js';
import { carrierOf, endCarriers, newRunToken, RUN_TOKEN_ENV } from './run-token.js';

/** Milliseconds between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = Number(process.env.NETLAB_STOP_GRACE_MS ?? 5000);
/** A `run` process that exits this soon after its start fails the apply at once (with its log). */
const EARLY_EXIT_MS = 300;

export interface ProcessEntry {
  ns: string;
  host: string;
  name: string;
  mode: 'run' | 'exec';
  command: string;
  /** run: the process netlab started; exec: the last run's (already gone). */
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks after boot). */
  start: string;
  /** Inode of the namespace it was started in (/proc/PID/ns/net of a process there). */
  netns: string;
  seq: number;
  timeout: number | null;
  /** Where it was started (absent in records written before netlab kept it: then /). */
  dir?: string;
  /** run: the NETLAB_RUN_TOKEN it and its descendants carry (absent in older records). */
  token?: string;
  at: string;
}

/** A start under way: written before the process exists, replaced by its entry once it runs. */
export interface ProcessIntent {
  ns: string;
  host: string;
  name: string;
  mode: 'run' | 'exec';
  token: string;
  /** The netlab process that writes it. */
  by: number;
  at: string;
}

interface ProcessRecord {
  version: 1;
  entries: ProcessEntry[];
  /** Absent in records written before netlab kept intents. */
  intents?: ProcessIntent[];
}

export function processRecordPath(lab: string): string {
  return labPath(lab, 'processes.json');
}

export function logPath(lab: string, host: string, name: string): string {
  return labPath(lab, 'logs', `${host}-${name}.log`);
}

async function readWholeRecord(lab: string): Promise<{ entries: ProcessEntry[]; intents: ProcessIntent[] }> {
  const r = (await labDir(lab, false)) ? await readStateJson<ProcessRecord>(processRecordPath(lab)) : null;
  return { entries: r?.entries ?? [], intents: r?.intents ?? [] };
}

export async function readProcessRecord(lab: string): Promise<ProcessEntry[]> {
  return (await readWholeRecord(lab)).entries;
}

/** Starts under way or interrupted (see ProcessIntent). */
export async function readProcessIntents(lab: string): Promise<ProcessIntent[]> {
  return (await readWholeRecord(lab)).intents;
}

/** Read-modify-write of one lab's record, one at a time (commands of several namespaces run concurrently). */
const queues = new Map<string, Promise<unknown>>();
function updateRecord(
  lab: string,
  change: (entries: ProcessEntry[]) => ProcessEntry[],
  changeIntents: (intents: ProcessIntent[]) => ProcessIntent[] = (is) => is,
): Promise<void> {
  const run = async () => {
    const before = await readWholeRecord(lab);
    const entries = change(before.entries);
    const intents = changeIntents(before.intents);
    await labDir(lab, true);
    await writeStateFile(processRecordPath(lab), JSON.stringify({ version: 1, entries, intents } satisfies ProcessRecord, null, 1));
  };
  const next = (queues.get(lab) ?? Promise.resolve()).then(run, run);
  queues.set(
    lab,
    next.catch(() => undefined),
  );
  return next;
}

const sameSlot = (e: { ns: string; name: string }, ns: string, name: string) => e.ns === ns && e.name === name;

// ---- /proc -----------------------------------------------------------------------------------

/** The inode of a namespace by its key ('' = the one netlab runs in), or null when it is gone. */
export async function netnsInode(ns: string): Promise<string | null> {
  const st = await stat(ns === '' ? '/proc/self/ns/net' : `/run/netns/${ns}`).catch(() => null);
  return st ? String(st.ino) : null;
}

/** The leader netlab started is alive: same pid, same start time, not a zombie. */
function leaderAlive(pid: number, start: string): boolean {
  const s = procStat(pid);
  return s !== null && s.start === start && s.state !== 'Z';
}

/** Live members of process group `pgrp` (zombies excluded). */
async function groupMembers(pgrp: number): Promise<number[]> {
  return (await allPids()).filter((p) => {
    const s = procStat(p);
    return s !== null && s.pgrp === pgrp && s.state !== 'Z';
  });
}

/**
 * Whether the group `pid` leads is netlab's to signal: the leader is the recorded process, or it
 * has exited and only members of its group remain (a pid is not reused while its group exists).
 */
async function ownsGroup(pid: number, start: string): Promise<boolean> {
  const s = procStat(pid);
  if (s && s.start === start) return true;
  // Another process has this pid now: the group with this id, if any, is its own.
  if (s && s.state !== 'Z') return false;
  return (await groupMembers(pid)).length > 0;
}

/** SIGTERM, wait up to the grace period, SIGKILL: only a group the record proves is netlab's. */
export async function terminate(pid: number, start: string, graceMs = STOP_GRACE_MS): Promise<void> {
  if (!(await ownsGroup(pid, start))) return;
  const gone = async () => !leaderAlive(pid, start) && (await groupMembers(pid)).length === 0;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (await gone()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  signalGroup(pid, 'SIGKILL');
  for (let i = 0; i < 40 && !(await gone()); i++) await new Promise((r) => setTimeout(r, 25));
}

// ---- observe ---------------------------------------------------------------------------------

/** The lab's processes in these namespaces, as objects (see ProcessObj for `state`). */
export async function observeProcesses(lab: string, namespaces: Set<string>): Promise<ProcessObj[]> {
  const entries = (await readProcessRecord(lab)).filter((e) => namespaces.has(e.ns));
  const inodes = new Map<string, string | null>();
  for (const ns of new Set(entries.map((e) => e.ns))) inodes.set(ns, await netnsInode(ns));
  const out: ProcessObj[] = [];
  for (const e of entries) {
    const inode = inodes.get(e.ns) ?? null;
    if (inode === null) continue;
    let state: ProcessObj['state'];
    if (e.mode === 'exec') {
      // Done in this namespace; a namespace made anew has not run it.
      if (e.netns !== inode) continue;
      state = 'done';
    } else state = leaderAlive(e.pid, e.start) && procNetns(e.pid) === inode && e.netns === inode ? 'running' : 'stopped';
    out.push({
      kind: 'process',
      id: ids.process(e.ns, e.name),
      ns: e.ns,
      lab,
      host: e.host,
      name: e.name,
      mode: e.mode,
      command: e.command,
      state,
      seq: e.seq,
      timeout: e.timeout,
      ...(e.dir ? { dir: e.dir } : {}),
    });
  }
  return out;
}

/** Sessions of the lab's recorded `run` processes (destroy does not report their members as strangers). */
export async function labSessions(lab: string): Promise<Set<number>> {
  return new Set((await readProcessRecord(lab)).filter((e) => e.mode === 'run').map((e) => e.pid));
}

/** Whether a process carries a run token netlab gave a process of this lab. */
export async function carriesLabToken(lab: string, pid: number): Promise<boolean> {
  return (await carrierOf(pid))?.lab === lab;
}

/**
 * Ends the lab's processes no entry confirms: every process carrying the token of an intent (a
 * start a killed netlab did not finish: the process may have been spawned, and it may be in a
 * namespace already gone from /run/netns), and in `namespaces` (ones being removed) every process
 * carrying a run token of this lab that no `run` entry holds. Entries stay for the plan to stop.
 * The intents are dropped. Returns the pids signalled.
 */
export async function reapUnconfirmed(lab: string, namespaces: string[]): Promise<number[]> {
  const { entries, intents } = await readWholeRecord(lab);
  const pending = new Set(intents.map((i) => i.token));
  const confirmed = new Set(entries.flatMap((e) => (e.mode === 'run' && e.token ? [e.token] : [])));
  const inodes = new Set((await Promise.all(namespaces.map(netnsInode))).filter((i): i is string => i !== null));
  if (!pending.size && !inodes.size) return [];
  const pids = await endCarriers(
    (c) => pending.has(c.token) || (c.lab === lab && c.netns !== null && inodes.has(c.netns) && !confirmed.has(c.token)),
    STOP_GRACE_MS,
  );
  if (pending.size)
    await updateRecord(
      lab,
      (es) => es,
      (is) => is.filter((i) => !pending.has(i.token)),
    );
  return pids;
}

// ---- commands --------------------------------------------------------------------------------

function argv(p: ProcessObj): [string, string[]] {
  return p.ns === '' ? ['sh', ['-c', p.command]] : ['ip', ['netns', 'exec', p.ns, 'sh', '-c', p.command]];
}

function shown(p: ProcessObj): string {
  const [cmd, args] = argv(p);
  return [cmd, ...args.map((a) => (/^[\w./:=@-]+$/.test(a) ? a : JSON.stringify(a)))].join(' ');
}

async function tail(path: string, lines = 15): Promise<string> {
  const text = (await readStateFile(path).catch(() => null)) ?? '';
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/** Starts `p` with its output appended to its log and `token` in its environment; resolves with the child once it runs. */
async function launch(p: ProcessObj, token: string) {
  const log = logPath(p.lab, p.host, p.name);
  await labDir(p.lab, true, 'logs');
  const fd = openStateFileForAppend(log);
  writeSync(fd, `--- netlab ${new Date().toISOString()}: ${p.mode} ${shown(p)}\n`);
  const [cmd, args] = argv(p);
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    cwd: p.dir ?? '/',
    env: {
      ...process.env,
      NETLAB_LAB: p.lab,
      NETLAB_HOST: p.host,
      NETLAB_PROCESS: p.name,
      NETLAB_LAB_DIR: p.dir ?? '/',
      [RUN_TOKEN_ENV]: token,
    },
  });
  closeSync(fd);
  const exit = new Promise<{ code: number | null; error?: string }>((resolve) => {
    child.once('error', (e) => resolve({ code: null, error: e.message }));
    child.once('exit', (code, signal) => resolve({ code: code ?? 128 + (signal ? (SIGNALS[signal] ?? 0) : 0) }));
  });
  return { child, exit, log };
}

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

function fail(p: ProcessObj, line: number | undefined, stderr: string): KernelError {
  return new KernelError({ ns: p.ns, command: shown(p), stderr, ...(line !== undefined ? { line } : {}) });
}

/** Writes the intent of a start (durably, before the process exists) and returns its token. */
async function intend(p: ProcessObj): Promise<string> {
  const token = newRunToken();
  const intent: ProcessIntent = {
    ns: p.ns,
    host: p.host,
    name: p.name,
    mode: p.mode,
    token,
    by: process.pid,
    at: new Date().toISOString(),
  };
  await updateRecord(
    p.lab,
    (es) => es,
    (is) => [...is, intent],
  );
  return token;
}

const withoutIntent = (token: string) => (is: ProcessIntent[]) => is.filter((i) => i.token !== token);

async function stop(p: ProcessObj): Promise<void> {
  const { entries, intents } = await readWholeRecord(p.lab);
  const entry = entries.find((e) => sameSlot(e, p.ns, p.name));
  if (entry?.mode === 'run') await terminate(entry.pid, entry.start);
  // Its descendants outside its group (a daemon that made its own session), and what an
  // interrupted start of this slot spawned.
  const tokens = new Set([
    ...(entry?.mode === 'run' && entry.token ? [entry.token] : []),
    ...intents.filter((i) => sameSlot(i, p.ns, p.name)).map((i) => i.token),
  ]);
  if (tokens.size) await endCarriers((c) => tokens.has(c.token), STOP_GRACE_MS);
  await updateRecord(
    p.lab,
    (es) => es.filter((e) => !sameSlot(e, p.ns, p.name)),
    (is) => is.filter((i) => !tokens.has(i.token)),
  );
}

async function start(p: ProcessObj): Promise<void> {
  // Leftovers of an earlier start (a dead leader's group) go first: one instance at a time.
  await stop(p);
  const inode = await netnsInode(p.ns);
  if (inode === null) throw fail(p, undefined, `namespace ${p.ns} does not exist`);
  const token = await intend(p);
  faultPoint('proc-after-intent');
  const { child, exit, log } = await launch(p, token);
  const pid = child.pid;
  if (pid === undefined) {
    await updateRecord(p.lab, (es) => es, withoutIntent(token));
    throw fail(p, undefined, `could not start: ${(await exit).error ?? 'no pid'}`);
  }
  faultPoint('proc-after-spawn');
  const st = procStat(pid);
  // Confirmed before anything else can fail, so destroy and rollback find it by pid as well.
  await updateRecord(
    p.lab,
    (es) => [...es.filter((e) => !sameSlot(e, p.ns, p.name)), { ...entryOf(p, pid, st?.start ?? '', inode), token }],
    withoutIntent(token),
  );
  faultPoint('proc-after-confirm');
  // Watched for a moment (this timer keeps netlab alive meanwhile), then let go: it outlives netlab.
  const early = await Promise.race([exit, new Promise<null>((r) => setTimeout(() => r(null), EARLY_EXIT_MS))]);
  child.unref();
  if (early !== null)
    throw fail(p, undefined, `exited at once (status ${early.code ?? early.error}); the end of ${log}:\n${await tail(log)}`);
}

function entryOf(p: ProcessObj, pid: number, start: string, netns: string): ProcessEntry {
  return {
    ns: p.ns,
    host: p.host,
    name: p.name,
    mode: p.mode,
    command: p.command,
    pid,
    start,
    netns,
    seq: p.seq,
    timeout: p.timeout,
    ...(p.dir ? { dir: p.dir } : {}),
    at: new Date().toISOString(),
  };
}

async function exec(p: ProcessObj, onSpawn: ((pid: number) => void) | null): Promise<void> {
  const inode = await netnsInode(p.ns);
  if (inode === null) throw fail(p, undefined, `namespace ${p.ns} does not exist`);
  // The intent lasts while it runs: a netlab killed meanwhile leaves it for recovery to end.
  const token = await intend(p);
  const { child, exit, log } = await launch(p, token);
  const pid = child.pid;
  if (pid === undefined) {
    await updateRecord(p.lab, (es) => es, withoutIntent(token));
    throw fail(p, undefined, `could not start: ${(await exit).error ?? 'no pid'}`);
  }
  onSpawn?.(pid);
  const st = procStat(pid);
  const seconds = p.timeout ?? 60;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), seconds * 1000)));
  const r = await Promise.race([exit, timedOut]);
  clearTimeout(timer);
  if (r === 'timeout') {
    signalGroup(pid, 'SIGKILL');
    await endCarriers((c) => c.token === token, 0);
    await updateRecord(p.lab, (es) => es, withoutIntent(token));
    throw fail(p, undefined, `did not finish within ${seconds}s (timeout) and was killed; the end of ${log}:\n${await tail(log)}`);
  }
  if (r.code !== 0) {
    await updateRecord(p.lab, (es) => es, withoutIntent(token));
    throw fail(p, undefined, `exited with status ${r.code ?? r.error}; the end of ${log}:\n${await tail(log)}`);
  }
  await updateRecord(
    p.lab,
    (es) => [...es.filter((e) => !sameSlot(e, p.ns, p.name)), entryOf(p, pid, st?.start ?? '', inode)],
    withoutIntent(token),
  );
}

/** Runs one `proc` command. */
export async function runProcCommand(c: OpOf<'proc'>, onSpawn: ((pid: number) => void) | null): Promise<void> {
  const p = c.proc;
  switch (c.action) {
    case 'start':
      return start(p);
    case 'stop':
      return stop(p);
    case 'exec':
      return exec(p, onSpawn);
    case 'record': {
      const inode = await netnsInode(p.ns);
      if (inode === null) throw fail(p, undefined, `namespace ${p.ns} does not exist`);
      return updateRecord(p.lab, (es) => [...es.filter((e) => !sameSlot(e, p.ns, p.name)), entryOf(p, 0, '', inode)]);
    }
    case 'forget':
      return updateRecord(p.lab, (es) => es.filter((e) => !sameSlot(e, p.ns, p.name)));
  }
}
