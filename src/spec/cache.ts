// A content-addressed cache of checked labs. Checking a lab is a pure function of its file name,
// its text and netlab's spec code, and applying, re-applying or destroying an unchanged file is
// the common case in CI and GitOps, where parsing and checking a 500-host lab costs ~200 ms of a
// ~600 ms run. So a lab that passed every check is kept as JSON under a key made of all three;
// any change to any of them is a different key, and the lab is checked from scratch.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Lab } from './types.js';

/** Entries kept; the least recently written beyond this are removed. */
const MAX_ENTRIES = 64;

let codeId: string | undefined;

/** A hash of the spec layer's own code (this directory: dist/spec, or src/spec under the tests). */
function specCodeId(): string {
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
    .update(`${specCodeId()}\0${file}\0${resolve(file)}\0`)
    .update(text)
    .digest('hex');
}

/** The lab checked earlier under this key, or null. */
export async function cachedLab(dir: string, key: string): Promise<Lab | null> {
  try {
    return JSON.parse(await readFile(join(dir, `${key}.json`), 'utf8')) as Lab;
  } catch {
    return null;
  }
}

/** Keeps a checked lab; best effort (a read-only or missing state directory just means no cache). */
export async function storeLab(dir: string, key: string, lab: Lab): Promise<void> {
  const json = JSON.stringify(lab);
  // Only what JSON gives back exactly (no undefined members, no special numbers) is kept.
  if (!isDeepStrictEqual(JSON.parse(json), lab)) return;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.${key}.${process.pid}.tmp`);
    await writeFile(tmp, json);
    await rename(tmp, join(dir, `${key}.json`));
    const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
    if (names.length <= MAX_ENTRIES) return;
    const aged = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(dir, n)).catch(() => null))?.mtimeMs ?? 0 })));
    aged.sort((a, b) => a.t - b.t);
    await Promise.all(aged.slice(0, aged.length - MAX_ENTRIES).map((a) => rm(join(dir, a.n), { force: true })));
  } catch {
    // no cache this time
  }
}
