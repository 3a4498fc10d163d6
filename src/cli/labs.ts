// Loading labs for a command: expands directories, validates, and turns issues into one SpecError.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SpecError, UsageError } from '../errors.js';
import { loadLabs } from '../spec/load.js';
import { profile } from '../apply/profile.js';
import { specCacheDir } from '../apply/store.js';
import type { Lab } from '../spec/types.js';

/** FILES may name directories: their *.yaml / *.yml files are taken, sorted. */
export async function expandInputs(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const i of inputs) {
    const s = await stat(i).catch(() => null);
    if (s?.isDirectory()) {
      const names = (await readdir(i)).filter((n) => /\.ya?ml$/.test(n)).sort();
      files.push(...names.map((n) => join(i, n)));
    } else files.push(i);
  }
  if (!files.length) throw new UsageError('no lab files given (pass FILES or a directory of *.yaml)');
  return files;
}

export async function loadValidLabs(inputs: string[]): Promise<Lab[]> {
  const files = await expandInputs(inputs);
  const { labs, issues } = await profile.time('spec', () => loadLabs(files, { cacheDir: specCacheDir() }));
  if (issues.length) throw new SpecError(issues);
  return labs;
}
