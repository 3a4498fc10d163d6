// `netlab status`: the labs recorded on this machine and how the kernel drifted from each; a lab
// across machines is asked of each of its machines (src/cli/across-view.ts).
import pc from 'picocolors';
import { store } from '../apply/store.js';
import { RealDriver } from '../driver/real.js';
import { EXIT_OK, EXIT_PENDING, MachineError } from '../errors.js';
import { diffStates, stateOf } from '../model/objects.js';
import { acrossLabs } from './across-detect.js';
import type { AcrossStatus } from './across-view.js';
import { notApplied } from './labinfo.js';
import { out } from './output.js';

export interface StatusOptions {
  lab?: string;
  json?: boolean;
}

export interface StatusRow {
  lab: string;
  file: string | null;
  appliedAt: string | null;
  objects: number;
  drift: string[];
  unfinished: boolean;
}

/** One lab's status on this machine; `asked`: named by the user, so a lab not here is an error. */
export async function statusRow(name: string, asked: boolean, d = new RealDriver()): Promise<StatusRow> {
  const record = await store.readRecord(name);
  const journal = await store.readJournal(name);
  if (!record) {
    // A lab asked for by name that is not here is an error: a monitoring check must not see green.
    if (asked && !journal) throw await notApplied(name);
    return { lab: name, file: null, appliedAt: null, objects: 0, drift: [], unfinished: Boolean(journal) };
  }
  const live = await d.observe({ lab: name, namespaces: record.scope });
  const desired = stateOf(record.desired);
  const mine = new Map([...live.state].filter(([, x]) => x.kind !== 'sysctl' || desired.has(x.id)));
  return {
    lab: name,
    file: record.file,
    appliedAt: record.appliedAt,
    objects: desired.size,
    drift: diffStates(desired, mine),
    unfinished: Boolean(journal),
  };
}

/** `drifted (3)`, `in sync`, ...: one row's state in words. */
export function statusWords(r: StatusRow): string {
  return r.unfinished
    ? pc.red('unfinished run (netlab gc)')
    : r.drift.length
      ? pc.yellow(`drifted (${r.drift.length})`)
      : pc.green('in sync');
}

export const statusPending = (r: StatusRow) => r.drift.length > 0 || r.unfinished;

export async function status(o: StatusOptions): Promise<number> {
  const across = await acrossLabs(o.lab);
  const names = (o.lab ? [o.lab] : await store.labs()).filter((n) => !across.includes(n));
  const d = new RealDriver();
  const rows: StatusRow[] = [];
  for (const name of names) rows.push(await statusRow(name, Boolean(o.lab), d));
  const spanning: AcrossStatus[] = [];
  if (across.length) {
    const { statusAcross } = await import('./across-view.js');
    for (const name of across) spanning.push(await statusAcross(name));
  }
  if (o.json) out.json({ labs: rows, ...(spanning.length ? { across: spanning.map((s) => s.json) } : {}) });
  else if (!rows.length && !spanning.length) out.line('no labs on this machine');
  else {
    for (const r of rows) {
      out.line(`${pc.bold(r.lab)}  ${statusWords(r)}  ${r.objects} objects  ${r.file ?? ''}  ${r.appliedAt ?? ''}`);
      for (const x of r.drift) out.line(`    ${x}`);
    }
    for (const s of spanning) for (const l of s.lines) out.line(l);
  }
  // After the report: a machine that could not be asked is an error, neither green nor drift.
  const failed = spanning.flatMap((s) => (s.error ? [s.error] : []));
  if (failed.length === 1) throw failed[0]!;
  if (failed.length) {
    const err = new MachineError(failed.map((e) => e.message).join('\n'));
    err.hints.push(...new Set(failed.flatMap((e) => e.hints)));
    throw err;
  }
  return rows.some(statusPending) || spanning.some((s) => s.pending) ? EXIT_PENDING : EXIT_OK;
}
