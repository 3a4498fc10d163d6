// A content-addressed cache of checked labs. Checking a lab is a pure function of its file name,
// its text and netlab's lab-language code, and applying, re-applying or destroying an unchanged file is
// the common case in CI and GitOps, where parsing and checking a large lab is a good part of the
// run. So a lab that passed every check is kept as JSON under a key made of all three;
// any change to any of them is a different key. The directory is checked by the caller
// (labCacheDir in src/apply/store.ts); its files are read and written as state files are, so a
// symlink planted there is never followed.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readStateFile, writeStateFile } from '../state/files.js';
import type { Lab } from './types.js';

/**
 * Entries kept: the most recently written, at most this many and this many bytes (the state
 * directory is usually a tmpfs, that is memory: each edit of a large lab adds an entry as big as the lab),
 * and always the newest unless it alone is over the budget.
 */
const MAX_ENTRIES = 64;
const MAX_BYTES = 16 * 1024 * 1024;
/** Below this many entries nothing can be over budget enough to stat them all. */
const STAT_FROM = 8;

let codeId: string | undefined;

/** A hash of the lab language's own code (this directory: dist/lab, or src/lab under the tests). */
function labCodeId(): string {
  if (codeId) return codeId;
  const dir = new URL('.', import.meta.url);
  const hash = createHash('sha256');
  for (const f of readdirSync(dir)
    .filter((n) => /\.(js|ts)$/.test(n))
    .sort())
    hash.update(`${f}\0`).update(readFileSync(new URL(f, dir)));
  return (codeId = hash.digest('hex'));
}

export function cacheKey(file: string, text: string): string {
  return createHash('sha256')
    .update(`${labCodeId()}\0${file}\0${resolve(file)}\0`)
    .update(text)
    .digest('hex');
}

/**
 * Whether the files a cached lab was read from besides its own (NetworkPolicy manifests) still
 * hold the same bytes: the key covers only the lab's text.
 */
export function inputsUnchanged(lab: Lab): boolean {
  return (lab.inputs ?? []).every((i) => {
    try {
      return createHash('sha256').update(readFileSync(i.file)).digest('hex') === i.sha256;
    } catch {
      return false;
    }
  });
}

/** The lab checked earlier under this key, or null. */
export async function cachedLab(dir: string, key: string): Promise<Lab | null> {
  try {
    const text = await readStateFile(join(dir, `${key}.json`));
    if (text === null) return null;
    const lab = JSON.parse(text) as Lab;
    return inputsUnchanged(lab) ? lab : null;
  } catch {
    return null;
  }
}

/** Writes `name` in the cache directory, keeping at most MAX_ENTRIES files ending like it. Best effort. */
async function keep(dir: string, name: string, text: string): Promise<void> {
  const suffix = name.slice(name.lastIndexOf('.'));
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeStateFile(join(dir, name), text);
    const names = (await readdir(dir)).filter((n) => n.endsWith(suffix) && !n.startsWith('.'));
    if (names.length < STAT_FROM) return;
    const entries = await Promise.all(
      names.map(async (n) => {
        const s = await lstat(join(dir, n)).catch(() => null);
        return { n, t: s?.mtimeMs ?? 0, size: s?.size ?? 0 };
      }),
    );
    // The entry just written first, then the others newest first.
    entries.sort((a, b) => Number(b.n === name) - Number(a.n === name) || b.t - a.t);
    let bytes = 0;
    const over = entries.filter((e, i) => {
      bytes += e.size;
      return i > 0 && (i >= MAX_ENTRIES || bytes > MAX_BYTES);
    });
    await Promise.all(over.map((e) => rm(join(dir, e.n), { force: true })));
  } catch {
    // no cache this time (a read-only or missing state directory)
  }
}

/**
 * Keeps a checked lab. A normalised lab is plain JSON (no undefined members, no special numbers:
 * test/unit/lab-cache.test.ts holds every catalogue lab to it), so JSON gives it back exactly.
 */
export async function storeLab(dir: string, key: string, lab: Lab): Promise<void> {
  // A lab bigger than the whole budget (a generated lab of some 20k hosts) would push out every
  // other entry and hold that much of the tmpfs, for one lab: it is checked again instead.
  const json = jsonWithin(lab, MAX_BYTES);
  if (json === null) return;
  await keep(dir, `${key}.json`, json);
}

/** Depth down to which jsonWithin writes piece by piece: the lab, its hosts, a host, its interfaces. */
const PIECEWISE_DEPTH = 4;

/**
 * JSON.stringify(value), or null once the text would be longer than `budget`: a lab of 100k
 * hosts would otherwise be written whole only to be dropped. Written in pieces of
 * at most an interface or a route, so no piece is large.
 */
export function jsonWithin(value: unknown, budget: number): string | null {
  const parts: string[] = [];
  let size = 0;
  const put = (text: string): boolean => {
    size += text.length;
    parts.push(text);
    return size <= budget;
  };
  const write = (v: unknown, depth: number): boolean => {
    const whole =
      depth >= PIECEWISE_DEPTH || v === null || typeof v !== 'object' || typeof (v as { toJSON?: unknown }).toJSON === 'function';
    if (whole) return put(JSON.stringify(v) ?? 'null');
    if (Array.isArray(v)) {
      if (!put('[')) return false;
      for (let i = 0; i < v.length; i++) if ((i > 0 && !put(',')) || !write(v[i] === undefined ? null : v[i], depth + 1)) return false;
      return put(']');
    }
    if (!put('{')) return false;
    let first = true;
    for (const [k, member] of Object.entries(v)) {
      // JSON.stringify leaves these members out; a normalised lab has none, but the text must be the same.
      if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
      if (!put(`${first ? '' : ','}${JSON.stringify(k)}:`) || !write(member, depth + 1)) return false;
      first = false;
    }
    return put('}');
  };
  return write(value, 0) ? parts.join('') : null;
}
