// `netlab status`: the labs recorded on this machine and how the kernel drifted from each.
import pc from 'picocolors';
import { store } from '../apply/store.js';
import { RealDriver } from '../driver/real.js';
import { EXIT_OK, EXIT_PENDING } from '../errors.js';
import { diffStates, stateOf } from '../model/objects.js';
import { notApplied } from './labinfo.js';
import { out } from './output.js';

export interface StatusOptions {
  lab?: string;
  json?: boolean;
}

export async function status(o: StatusOptions): Promise<number> {
  const names = o.lab ? [o.lab] : await store.labs();
  const d = new RealDriver();
  const rows = [];
  for (const name of names) {
    const record = await store.readRecord(name);
    const journal = await store.readJournal(name);
    if (!record) {
      // A lab asked for by name that is not here is an error: a monitoring check must not see green.
      if (o.lab && !journal) throw await notApplied(name);
      rows.push({ lab: name, file: null, appliedAt: null, objects: 0, drift: [] as string[], unfinished: Boolean(journal) });
      continue;
    }
    const live = await d.observe({ lab: name, namespaces: record.scope });
    const desired = stateOf(record.desired);
    const mine = new Map([...live.state].filter(([, x]) => x.kind !== 'sysctl' || desired.has(x.id)));
    rows.push({
      lab: name,
      file: record.file,
      appliedAt: record.appliedAt,
      objects: desired.size,
      drift: diffStates(desired, mine),
      unfinished: Boolean(journal),
    });
  }
  if (o.json) out.json({ labs: rows });
  else if (!rows.length) out.line('no labs on this machine');
  else
    for (const r of rows) {
      const state = r.unfinished
        ? pc.red('unfinished run (netlab gc)')
        : r.drift.length
          ? pc.yellow(`drifted (${r.drift.length})`)
          : pc.green('in sync');
      out.line(`${pc.bold(r.lab)}  ${state}  ${r.objects} objects  ${r.file ?? ''}  ${r.appliedAt ?? ''}`);
      for (const x of r.drift) out.line(`    ${x}`);
    }
  return rows.some((r) => r.drift.length || r.unfinished) ? EXIT_PENDING : EXIT_OK;
}
