// Whether a command's inputs are a lab across machines: kept apart from across.ts so that a lab
// on this machine alone does not load the coordinator, ssh transport and execa to find out.
import { store } from '../apply/store.js';
import { UsageError } from '../errors.js';
import { checkLabName } from '../state/files.js';
import type { LabInputs } from './labs.js';

const MACHINES_KEY = /^machines\s*:/m;

/** The one file of a lab across machines among the inputs, or null when none has `machines:`. */
export function acrossMachinesFile({ files, read }: LabInputs): string | null {
  const across = files.filter((f) => MACHINES_KEY.test(read.get(f)?.text ?? ''));
  if (!across.length) return null;
  if (files.length > 1)
    throw new UsageError(`${across[0]} is a lab across machines: plan, apply or destroy it on its own, not with other files`);
  return across[0]!;
}

/** The labs across machines this machine coordinates: `lab` alone when given and one of them. */
export async function acrossLabs(lab?: string, label = '--lab'): Promise<string[]> {
  if (lab !== undefined) return (await store.readMachines(checkLabName(lab, label))) ? [lab] : [];
  return store.machineLabs();
}

/** Whether this machine coordinates `lab` across machines: only then is across-view.ts loaded. */
export const coordinates = async (lab: string) => (await acrossLabs(lab, 'lab')).length > 0;
