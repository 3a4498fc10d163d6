// Finding the processes a `run:` or `exec:` entry started without trusting a pid: each start gets
// a random token, recorded (as an intent) before the process exists and passed to it in
// NETLAB_RUN_TOKEN, which every descendant inherits (`sh -c 'sleep & sleep; wait'`). A scan of
// /proc for the token finds the process and its children even when netlab was killed before it
// could record the pid, and wherever they are (a namespace already gone from /run/netns).
import { randomBytes } from 'node:crypto';
import { allPids, procEnviron, procNetns, procStat, signalGroup, signalPid } from './procfs.js';

export const RUN_TOKEN_ENV = 'NETLAB_RUN_TOKEN';

export function newRunToken(): string {
  return randomBytes(16).toString('hex');
}

/** A live process that carries a run token. */
export interface Carrier {
  pid: number;
  pgrp: number;
  start: string;
  token: string;
  /** Its NETLAB_LAB. */
  lab: string | null;
  /** Inode of its network namespace. */
  netns: string | null;
}

/** What a process's environment says about it, or null when it carries no token. */
export async function carrierOf(pid: number): Promise<Carrier | null> {
  const env = await procEnviron(pid);
  const token = env?.get(RUN_TOKEN_ENV);
  if (!token) return null;
  const st = procStat(pid);
  if (!st || st.state === 'Z') return null;
  return { pid, pgrp: st.pgrp, start: st.start, token, lab: env!.get('NETLAB_LAB') ?? null, netns: procNetns(pid) };
}

async function scanNow(): Promise<Carrier[]> {
  const found = await Promise.all((await allPids()).filter((p) => p !== process.pid).map(carrierOf));
  return found.filter((c): c is Carrier => c !== null);
}

let running: Promise<Carrier[]> | null = null;
let queued: Promise<Carrier[]> | null = null;

function begin(): Promise<Carrier[]> {
  running = scanNow().finally(() => (running = null));
  return running;
}

/**
 * Every live process carrying a run token (netlab's own process never does). Concurrent callers
 * (destroy stops every namespace's processes at once) share scans, each one a scan begun after
 * its call: one already running may have read /proc before the caller's signal took effect.
 */
export function scanCarriers(): Promise<Carrier[]> {
  if (!running) return begin();
  queued ??= running
    .catch(() => undefined)
    .then(() => {
      queued = null;
      return begin();
    });
  return queued;
}

/**
 * Ends every carrier `select` picks, and its process group (a session netlab made, so it also
 * reaches a child forked between the scan and the signal): SIGTERM, SIGKILL after `graceMs`, until
 * a scan finds none. Each pid is signalled only while it still has the start time the scan saw.
 * Returns the pids it signalled.
 */
export async function endCarriers(select: (c: Carrier) => boolean, graceMs: number): Promise<number[]> {
  const signalled = new Set<number>();
  const killAt = Date.now() + graceMs;
  // A process in uninterruptible sleep may outlast SIGKILL for a while: give up rather than hang.
  const giveUpAt = killAt + 5000;
  for (;;) {
    const found = (await scanCarriers()).filter(select);
    if (!found.length || Date.now() > giveUpAt) return [...signalled];
    const signal: NodeJS.Signals = Date.now() >= killAt ? 'SIGKILL' : 'SIGTERM';
    for (const c of found) {
      if (procStat(c.pid)?.start !== c.start) continue;
      signalPid(c.pid, signal);
      if (c.pgrp > 1) signalGroup(c.pgrp, signal);
      signalled.add(c.pid);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
