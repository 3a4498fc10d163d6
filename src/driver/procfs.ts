// What /proc says about a process: its stat fields, its network namespace, its environment; and
// signalling a process group. Every read gives null for a process that is gone.
import { readFileSync, readlinkSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

export interface ProcStat {
  state: string;
  pgrp: number;
  session: number;
  start: string;
}

/** Fields of /proc/PID/stat, or null when there is no such process. */
export function procStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, pgrp: Number(f[2]), session: Number(f[3]), start: f[19]! };
  } catch {
    return null;
  }
}

/** The namespace a process is in (the inode of /proc/PID/ns/net), or null. */
export function procNetns(pid: number): string | null {
  try {
    return /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** The environment a process was started with, or null (gone, or a zombie's empty one). */
export async function procEnviron(pid: number): Promise<Map<string, string> | null> {
  const text = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
  if (!text) return null;
  const out = new Map<string, string>();
  for (const kv of text.split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) out.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return out;
}

/** Every pid in /proc. */
export async function allPids(): Promise<number[]> {
  return (await readdir('/proc').catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).map(Number);
}

export function signalGroup(pgrp: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgrp, signal);
  } catch {
    // ESRCH: gone already.
  }
}

export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: gone already.
  }
}
