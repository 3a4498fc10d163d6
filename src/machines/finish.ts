// Finishing a transaction across machines that its coordinator did not end (killed, or a
// machine out of reach): while `applying` every machine rolls its part back, once `committing`
// every machine commits its held part. Each machine is reached on its own, so the ones that can
// be are finished even when another cannot.
import type { MachinesRecord } from '../apply/store.js';
import { EXIT_ROLLBACK_INCOMPLETE } from '../errors.js';
import { call, openSession } from './coordinator.js';
import { asMachines, markCommitted, markRolledBack } from './record.js';

export interface FinishResult {
  lines: string[];
  /** One line per machine that could not be finished, naming it. */
  stuck: string[];
  code: number;
}

export async function finishAcross(r: MachinesRecord, version: string): Promise<FinishResult> {
  const commit = r.phase === 'committing';
  const step = commit ? 'commit' : 'rollback';
  const results = await Promise.all(
    asMachines(r.machines).map(async (m) => {
      try {
        const session = await openSession([m], version);
        try {
          const t = session.transports[0]!;
          const a = await call(t, step, [step, '--lab', r.lab]);
          if (!a.ok) return { line: null, stuck: `${t.label}: ${step}: ${a.message ?? 'failed'}` };
          const done = Boolean(commit ? a.committed : a.rolledBack);
          const what = commit ? 'its held part committed' : 'interrupted apply rolled back';
          return { line: `${r.lab}: ${t.label}: ${done ? what : 'nothing to finish'}`, stuck: null };
        } finally {
          await session.close();
        }
      } catch (e) {
        return { line: null, stuck: (e as Error).message };
      }
    }),
  );
  const lines = results.flatMap((x) => (x.line ? [x.line] : []));
  const stuck = results.flatMap((x) => (x.stuck ? [x.stuck] : []));
  if (!stuck.length) {
    if (commit) await markCommitted(r.lab, r.machines);
    else await markRolledBack(r.lab);
  }
  return { lines, stuck, code: stuck.length ? EXIT_ROLLBACK_INCOMPLETE : 0 };
}
