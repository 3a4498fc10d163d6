// gc: finish interrupted runs, then remove what labs without a record left behind
// (after a crash, a lost state directory or a killed process). Only marked objects are touched.
import type { Driver, NsQuery } from '../driver/driver.js';
import { ROOT_NS } from '../spec/names.js';
import { destroyLab, planDestroy } from './engine.js';
import { store } from './store.js';

export interface GcOptions {
  dryRun: boolean;
  confirm(question: string): Promise<boolean>;
  warn(message: string): void;
  recover(lab: string): Promise<boolean>;
}

export async function gc(driver: Driver, opts: GcOptions): Promise<{ lines: string[]; pending: boolean }> {
  const lines: string[] = [];
  let pending = false;
  for (const lab of await store.labs()) {
    if (!(await store.readJournal(lab))) continue;
    if (opts.dryRun) {
      lines.push(`${lab}: interrupted run would be rolled back`);
      pending = true;
    } else if (await opts.recover(lab)) lines.push(`${lab}: interrupted run rolled back`);
  }

  // Labs seen in the kernel (namespace marks, altnames in shared namespaces) with no record.
  const known = new Set(
    await store
      .labs()
      .then(async (labs) =>
        (await Promise.all(labs.map(async (l) => ((await store.readRecord(l)) ? l : null)))).filter((l): l is string => l !== null),
      ),
  );
  const orphans = new Map<string, NsQuery[]>();
  const seen = (lab: string, q?: NsQuery) => {
    if (known.has(lab)) return;
    const list = orphans.get(lab) ?? [];
    if (q) list.push(q);
    orphans.set(lab, list);
  };
  // Asked all at once: the real driver reads every namespace through one runner.
  const names = [ROOT_NS, ...(await driver.listNetns())];
  const allMarks = await Promise.all(names.map((ns) => driver.labMarks(ns)));
  for (const [k, ns] of names.entries()) {
    const marks = allMarks[k]!;
    if (marks.created) seen(marks.created);
    for (const lab of marks.altnameLabs)
      seen(lab, { ns, mode: 'shared', sysctls: [], nftTables: [], ipv6Routes: false, bridgeVlans: false });
  }
  for (const [lab, extra] of orphans) {
    const p = await planDestroy(driver, lab, null, extra);
    if (!p.plan.steps.length) continue;
    pending = true;
    if (opts.dryRun) {
      lines.push(`${lab}: ${p.plan.steps.length} leftover objects would be removed`);
      continue;
    }
    if (!(await opts.confirm(`Remove ${p.plan.steps.length} leftover objects of lab "${lab}"?`))) continue;
    const r = await destroyLab(driver, lab, null, {}, extra);
    lines.push(`${lab}: removed ${r.steps.length} leftover objects`);
  }
  if (!lines.length) lines.push('nothing to collect');
  return { lines, pending };
}
