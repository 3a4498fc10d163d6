// `netlab logs LAB HOST [NAME] [-f]`: the output of a host's processes (`run` and `exec`), which
// netlab appends to /run/netlab/<lab>/logs/<host>-<name>.log. Without NAME every process of the
// host is shown, each line prefixed with its name; -f keeps printing what they write next.
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { store } from '../apply/store.js';
import { logPath, readProcessRecord } from '../driver/processes.js';
import { UsageError } from '../errors.js';
import { coordinates } from './across-detect.js';
import { findHost, labHosts } from './labinfo.js';

/** The process names of a host: from the last apply's desired state and the process record. */
async function processNames(lab: string, host: string): Promise<string[]> {
  const record = await store.readRecord(lab);
  const names = new Set<string>();
  for (const o of record?.desired ?? []) if (o.kind === 'process' && o.host === host) names.add(o.name);
  for (const e of await readProcessRecord(lab)) if (e.host === host) names.add(e.name);
  if (!record && !names.size) {
    const known = await store.labs();
    throw new UsageError(`no lab "${lab}" on this machine${known.length ? ` (labs: ${known.join(', ')})` : ''}`);
  }
  // A host the lab does not have is not a host without processes.
  if (record) findHost(await labHosts(lab, undefined, false), host);
  return [...names].sort();
}

/** Reads a file from `offset`; returns the new text and the next offset (a truncated file starts over). */
async function readFrom(path: string, offset: number): Promise<{ text: string; offset: number }> {
  const st = await lstat(path).catch(() => null);
  if (!st?.isFile()) return { text: '', offset: 0 };
  const from = st.size < offset ? 0 : offset;
  if (st.size === from) return { text: '', offset: from };
  // A log is read without following a symlink: the state directory is netlab's alone.
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const buf = Buffer.alloc(st.size - from);
    await fh.read(buf, 0, buf.length, from);
    return { text: buf.toString('utf8'), offset: st.size };
  } finally {
    await fh.close();
  }
}

/** The last `bytes` of a process's log (whole lines), for `netlab ui`. */
export async function logTail(lab: string, host: string, name: string, bytes = 4096): Promise<string> {
  const path = logPath(lab, host, name);
  const st = await lstat(path).catch(() => null);
  if (!st?.isFile()) return '';
  const from = Math.max(0, st.size - bytes);
  const { text } = await readFrom(path, from);
  return from > 0 ? text.slice(text.indexOf('\n') + 1) : text;
}

export async function logs(lab: string, host: string, name: string | undefined, o: { follow?: boolean }): Promise<number | void> {
  const request = { cmd: 'logs', lab, host, name: name ?? null, follow: Boolean(o.follow) } as const;
  const across = (await coordinates(lab)) ? await (await import('./across-view.js')).runAcross(request, false) : null;
  if (across !== null) return across;
  return logsHere(lab, host, name, o);
}

/** The logs of a host of a lab on this machine. */
export async function logsHere(lab: string, host: string, name: string | undefined, o: { follow?: boolean }): Promise<void> {
  const names = await processNames(lab, host);
  if (name !== undefined && !names.includes(name))
    throw new UsageError(`host "${host}" of lab "${lab}" has no process "${name}"${names.length ? ` (it has: ${names.join(', ')})` : ''}`);
  const chosen = name !== undefined ? [name] : names;
  if (!chosen.length) throw new UsageError(`host "${host}" of lab "${lab}" has no processes`);
  const prefix = chosen.length > 1;
  const offsets = new Map(chosen.map((n) => [n, 0]));
  const partial = new Map(chosen.map((n) => [n, '']));
  const print = async () => {
    for (const n of chosen) {
      const r = await readFrom(logPath(lab, host, n), offsets.get(n)!);
      offsets.set(n, r.offset);
      if (!r.text) continue;
      if (!prefix) {
        process.stdout.write(r.text);
        continue;
      }
      // Whole lines only, each with its process's name.
      const lines = (partial.get(n)! + r.text).split('\n');
      partial.set(n, lines.pop()!);
      for (const l of lines) process.stdout.write(`[${n}] ${l}\n`);
    }
  };
  await print();
  if (!o.follow) {
    for (const [n, rest] of partial) if (rest) process.stdout.write(`[${n}] ${rest}\n`);
    return;
  }
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => void print(), 250);
    const stop = () => {
      clearInterval(timer);
      resolve();
    };
    process.once('SIGINT', stop).once('SIGTERM', stop);
  });
}
