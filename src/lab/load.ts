// Loading lab files: reading them, the cache of checked labs, the check itself (check.ts) for
// the others, and the rules across labs. Bad input of any kind comes back as issues, never as an
// exception.
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { LabIssue } from '../errors.js';
import { checkAcrossLabs } from './across.js';
import { cachedLab, cacheKey, storeLab } from './cache.js';
import type { LabSummary } from './check.js';
import type { Lab } from './types.js';
import { decodeLabBytes, MAX_LAB_BYTES, tooBig } from './read.js';
import { appendAll } from '../append.js';

export interface LoadResult {
  labs: Lab[];
  issues: LabIssue[];
  /** How many files came from the cache of checked labs, and how many were parsed and checked. */
  checked: { cached: number; parsed: number };
}

const IO_WORDS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory, not a lab file',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'file name too long',
  ENOTDIR: 'a part of the path is not a directory',
};

function ioIssue(file: string, err: unknown): LabIssue {
  const code = (err as { code?: string }).code;
  const why = (code && IO_WORDS[code]) ?? (err instanceof Error ? err.message : String(err));
  return { file, line: 1, col: 1, path: '', message: `cannot read file: ${why}` };
}

/** Reads a lab file; refuses non-regular and oversized files before reading them. */
export async function readLabFile(file: string): Promise<{ text: string | null; issues: LabIssue[] }> {
  let handle;
  try {
    handle = await open(file, 'r');
    const stat = await handle.stat();
    if (stat.isDirectory()) return { text: null, issues: [ioIssue(file, { code: 'EISDIR' })] };
    // FIFOs and devices could block or never end.
    if (!stat.isFile())
      return { text: null, issues: [{ file, line: 1, col: 1, path: '', message: 'cannot read file: not a regular file' }] };
    if (stat.size > MAX_LAB_BYTES) return { text: null, issues: [tooBig(file, stat.size)] };
    return decodeLabBytes(file, await handle.readFile());
  } catch (err) {
    return { text: null, issues: [ioIssue(file, err)] };
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** A lab file as readLabFile read it: its text, or null and why not. */
export type ReadLab = Awaited<ReturnType<typeof readLabFile>>;

/**
 * Reads, parses, validates and normalises each file, then checks across labs. Never throws for
 * bad input. With `cacheDir`, a file checked before with the same name and text is taken from
 * the cache (see cache.ts). `read`: files the caller has read already (readLabFile), by name.
 */
export async function loadLabs(
  files: string[],
  opts: { cacheDir?: string; read?: ReadonlyMap<string, ReadLab> } = {},
): Promise<LoadResult> {
  const labs: Lab[] = [];
  const issues: LabIssue[] = [];
  const checked = { cached: 0, parsed: 0 };
  // The same file named twice is one lab, not two labs with the same name.
  const seen = new Set<string>();
  for (const file of files) {
    if (seen.has(resolve(file))) continue;
    seen.add(resolve(file));
    const read = opts.read?.get(file) ?? (await readLabFile(file));
    appendAll(issues, read.issues);
    if (read.text === null) continue;
    const key = opts.cacheDir === undefined ? '' : cacheKey(file, read.text);
    const cached = opts.cacheDir === undefined ? null : await cachedLab(opts.cacheDir, key);
    if (cached) {
      checked.cached++;
      labs.push(cached);
      continue;
    }
    const { loadLabText } = await import('./check.js');
    const result = loadLabText(file, read.text);
    checked.parsed++;
    appendAll(issues, result.issues);
    if (result.lab) labs.push(result.lab);
    if (result.lab && !result.issues.length && opts.cacheDir !== undefined) await storeLab(opts.cacheDir, key, result.lab);
  }
  appendAll(issues, checkAcrossLabs(labs));
  return { labs, issues, checked };
}

/**
 * What `netlab validate` needs: the issues and each valid lab's name and size. One lab alone is
 * checked without building the engine's model (only the rules across labs read a model), which
 * is most of the memory and a third of the time of a big lab.
 */
export async function checkLabs(files: string[]): Promise<{ labs: LabSummary[]; issues: LabIssue[] }> {
  if (new Set(files.map((f) => resolve(f))).size !== 1) {
    const { labs, issues } = await loadLabs(files);
    return { labs: labs.map((l) => ({ name: l.name, file: l.file, hosts: l.hosts.length })), issues };
  }
  const read = await readLabFile(files[0]!);
  if (read.text === null) return { labs: [], issues: read.issues };
  const { loadLabText } = await import('./check.js');
  const { summary, issues } = loadLabText(files[0]!, read.text, { model: false });
  return { labs: summary ? [summary] : [], issues: [...read.issues, ...issues] };
}
