// gc: finish interrupted runs, then remove what labs without a record left behind
// (after a crash, a lost state directory or a killed process). Only marked objects are touched,
// and never a lab whose run is still going: every step holds the lab's lock.
import type { Driver, NsQuery } from '../driver/driver.js';
import { LockBusyError } from '../errors.js';
import { ROOT_NS } from '../lab/names.js';
import { destroyLab, planDestroy } from './engine.js';
import { lockLab, store } from './store.js';
import { counted } from '../words.js';

export interface GcOptions {
  dryRun: boolean;
  confirm(question: string): Promise<boolean>;
  warn(message: string): void;
  recover(lab: string): Promise<boolean>;
}

/** The line for a lab whose run holds its lock (`e` a LockBusyError; anything else is thrown on). */
function leftAlone(lab: string, e: unknown): string {
  if (!(e instanceof LockBusyError)) throw e;
  return `${lab}: left alone, ${e.message.replace(/^lab "[^"]*" (is |has )?/, '')}`;
}

/** Runs `work` under the lab's lock; a lab whose run is in progress is left alone and said so. */
async function underLock(lab: string, lines: string[], work: () => Promise<void>): Promise<void> {
  let unlock: () => Promise<void>;
  try {
    unlock = await lockLab(lab);
  } catch (e) {
    lines.push(leftAlone(lab, e));
    return;
  }
  try {
    await work();
  } finally {
    await unlock();
  }
}

export async function gc(driver: Driver, opts: GcOptions): Promise<{ lines: string[]; pending: boolean }> {
  const lines: string[] = [];
  let pending = false;
  for (const lab of await store.labs()) {
    if (!(await store.hasJournal(lab))) continue;
    if (opts.dryRun) {
      lines.push(`${lab}: interrupted run would be rolled back`);
      pending = true;
      continue;
    }
    await underLock(lab, lines, async () => {
      if (await opts.recover(lab)) lines.push(`${lab}: interrupted run rolled back`);
    });
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
      lines.push(`${lab}: ${counted(p.plan.steps.length, 'leftover object')} would be removed`);
      continue;
    }
    if (!(await opts.confirm(`Remove ${counted(p.plan.steps.length, 'leftover object')} of lab "${lab}"?`))) continue;
    try {
      const r = await destroyLab(driver, lab, null, { unrecordedOnly: true }, extra);
      lines.push(
        r.leftAlone ? `${lab}: left alone, it was applied meanwhile` : `${lab}: removed ${counted(r.steps.length, 'leftover object')}`,
      );
    } catch (e) {
      lines.push(leftAlone(lab, e));
    }
  }

  // What is left of labs that never got a record (a first apply killed before its journal, a
  // rolled-back run): their directory would list them as labs.
  for (const lab of await store.labs()) {
    if ((await store.hasRecord(lab)) || (await store.hasJournal(lab))) continue;
    if (opts.dryRun) {
      lines.push(`${lab}: the state of a run that never finished would be removed`);
      pending = true;
      continue;
    }
    await underLock(lab, lines, async () => {
      if ((await store.hasRecord(lab)) || (await store.hasJournal(lab))) return;
      await store.removeLab(lab);
      lines.push(`${lab}: removed the state of a run that never finished`);
    });
  }
  if (!lines.length) lines.push('nothing to collect');
  return { lines, pending };
}
