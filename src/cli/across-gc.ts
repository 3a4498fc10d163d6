// The part of `netlab gc` on a coordinator: every lab across machines whose last transaction did
// not end is finished on every machine its record lists (src/machines/finish.ts).
import { store } from '../apply/store.js';
import { EXIT_ROLLBACK_INCOMPLETE, MachineError } from '../errors.js';
import { finishAcross } from '../machines/finish.js';
import { readMachinesRecord, unfinished } from '../machines/record.js';
import { netlabVersion } from '../machines/version.js';

export interface AcrossGc {
  lines: string[];
  pending: boolean;
  /** Thrown after the rest of gc ran: the machines that could not be finished, by name. */
  error: MachineError | null;
}

export async function gcAcross(o: { dryRun: boolean }): Promise<AcrossGc> {
  const lines: string[] = [];
  const stuck: string[] = [];
  let pending = false;
  for (const lab of await store.machineLabs()) {
    const r = await readMachinesRecord(lab);
    if (!r || !unfinished(r)) continue;
    const how = r.phase === 'committing' ? 'committed' : 'rolled back';
    if (o.dryRun) {
      lines.push(`${lab}: interrupted apply across ${r.machines.map((m) => m.name).join(', ')} would be ${how}`);
      pending = true;
      continue;
    }
    const f = await finishAcross(r, netlabVersion());
    lines.push(...f.lines);
    stuck.push(...f.stuck.map((s) => `${lab}: ${s}`));
  }
  let error: MachineError | null = null;
  if (stuck.length) {
    error = new MachineError(`the interrupted run could not be finished on:\n${stuck.join('\n')}`, EXIT_ROLLBACK_INCOMPLETE);
    error.hints.push('its journal stays on that machine: run `netlab gc` again once it is reachable');
  }
  return { lines, pending, error };
}
