// Loading labs for a command: expands directories, validates, and turns issues into one LabError.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError, UsageError } from '../errors.js';
import { loadLabs, readLabFile, type ReadLab } from '../lab/load.js';
import { declaredName } from '../lab/read.js';
import { observeEarly, type EarlyObservation } from '../apply/engine.js';
import type { Driver } from '../driver/driver.js';
import { profile } from '../profile.js';
import { labCacheDir } from '../apply/store.js';
import type { Lab } from '../lab/types.js';
import { appendAll } from '../append.js';

/** FILES may name directories: their *.yaml / *.yml files are taken, sorted. */
export async function expandInputs(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const i of inputs) {
    const s = await stat(i).catch(() => null);
    if (s?.isDirectory()) {
      const names = (await readdir(i)).filter((n) => /\.ya?ml$/.test(n)).sort();
      appendAll(
        files,
        names.map((n) => join(i, n)),
      );
    } else files.push(i);
  }
  if (!files.length) throw new UsageError('no lab files given (pass FILES or a directory of *.yaml)');
  return files;
}

/** The lab files a command's inputs name, each read once: finding a lab across machines, observing early and checking all use these texts. */
export interface LabInputs {
  files: string[];
  read: ReadonlyMap<string, ReadLab>;
}

export async function readInputs(inputs: string[]): Promise<LabInputs> {
  const files = await expandInputs(inputs);
  const read = new Map<string, ReadLab>();
  for (const f of files) if (!read.has(f)) read.set(f, await readLabFile(f));
  return { files, read };
}

/**
 * Early observations (see observeEarly) of the labs the files declare, started before they are
 * checked. Each holds its lab's lock: hand it to applyLab, or release it.
 */
export async function observeDeclaredLabs(driver: Driver, inputs: LabInputs): Promise<EarlyObservation[]> {
  const names = inputs.files.map((f) => declaredName(inputs.read.get(f)?.text ?? ''));
  const unique = [...new Set(names.filter((n): n is string => n !== null))];
  return (await Promise.all(unique.map((name) => observeEarly(driver, name)))).filter((e): e is EarlyObservation => e !== null);
}

export async function loadValidLabs(inputs: string[] | LabInputs): Promise<Lab[]> {
  const { files, read } = Array.isArray(inputs) ? { files: await expandInputs(inputs), read: undefined } : inputs;
  const cacheDir = (await labCacheDir()) ?? undefined;
  const { labs, issues, checked } = await profile.time('lab', () => loadLabs(files, { cacheDir, read }));
  for (const [how, n] of Object.entries(checked)) if (n) profile.count(`lab ${how}`, n);
  if (issues.length) throw new LabError(issues);
  return labs;
}
