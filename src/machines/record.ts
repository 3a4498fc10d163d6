// The coordinator's record of a lab across machines (in its state directory, beside the labs):
// which machines hold a part, and where the last transaction stands, so that `gc`, `apply` and
// `destroy` on the coordinator reach every machine and finish a run the coordinator did not.
import { store, type MachinesRecord, type RecordedMachine } from '../apply/store.js';
import { StateDirError } from '../errors.js';
import type { Machine } from '../lab/types.js';

const PHASES = new Set(['applying', 'committing', 'committed']);

export const recorded = (m: Machine): RecordedMachine => ({ name: m.name, ssh: m.ssh });

/** Machines from a record: each target is checked again before ssh sees it (openTransports). */
export function asMachines(list: RecordedMachine[]): Machine[] {
  return list.map((m) => ({ name: m.name, ssh: m.ssh, underlay: null, pos: { file: '<record>', line: 1, col: 1, path: '' } }));
}

function checked(r: MachinesRecord): MachinesRecord {
  const list = (l: unknown) => Array.isArray(l) && l.every((m) => typeof (m as RecordedMachine)?.name === 'string');
  const fileOk = r.file === undefined || (typeof r.file === 'string' && r.file.startsWith('/'));
  if (!list(r.machines) || (r.phase !== undefined && !PHASES.has(r.phase)) || (r.previous != null && !list(r.previous)) || !fileOk)
    throw new StateDirError(`the record of the machines of lab "${r.lab}" is not one netlab wrote: remove it by hand`);
  return r;
}

export async function readMachinesRecord(lab: string): Promise<MachinesRecord | null> {
  const r = await store.readMachines(lab);
  return r ? checked(r) : null;
}

/** Whether the last transaction of the record did not end (the coordinator was killed or a machine was out of reach). */
export const unfinished = (r: MachinesRecord) => r.phase === 'applying' || r.phase === 'committing';

/** The lab's machines and, after them, those of the record the lab no longer names: they hold a part to remove. */
export function machinesToReach(machines: Machine[], r: MachinesRecord | null): Machine[] {
  const named = new Set(machines.map((m) => m.name));
  return [...machines, ...asMachines((r?.machines ?? []).filter((m) => !named.has(m.name)))];
}

/** Before anything changes on any machine: a crash from here on leaves a record gc can finish. */
export async function beginApply(lab: string, machines: Machine[], before: MachinesRecord | null): Promise<void> {
  const previous = before ? (unfinished(before) ? (before.previous ?? null) : before.machines) : null;
  await store.writeMachines({
    lab,
    machines: machines.map(recorded),
    phase: 'applying',
    previous,
    ...(before?.file ? { file: before.file } : {}),
  });
}

/** Every machine applied and holds its part: from here on an interrupted run is committed, not undone. */
export async function markCommitting(lab: string): Promise<void> {
  const r = await readMachinesRecord(lab);
  if (r) await store.writeMachines({ ...r, phase: 'committing' });
}

/** `file`: the lab file applied (absolute), which `netlab ui` draws the lab from. */
export async function markCommitted(lab: string, machines: RecordedMachine[], file?: string): Promise<void> {
  await store.writeMachines({ lab, machines, phase: 'committed', ...(file ? { file } : {}) });
}

/** Every machine rolled back: the record of the apply before, or none when there was none. */
export async function markRolledBack(lab: string): Promise<void> {
  const r = await readMachinesRecord(lab);
  if (r?.previous) await store.writeMachines({ lab, machines: r.previous, phase: 'committed', ...(r.file ? { file: r.file } : {}) });
  else await store.removeMachines(lab);
}
