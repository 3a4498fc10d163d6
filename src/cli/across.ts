// `netlab plan|apply|destroy` for a lab across machines: the CLI side of the coordinator
// (src/machines/coordinator.ts). One lab file with `machines:` is run alone, never beside others.
import { resolve } from 'node:path';
import pc from 'picocolors';
import { store } from '../apply/store.js';
import { EXIT_ERROR, EXIT_OK, EXIT_PENDING, LabError, MachineError, UsageError } from '../errors.js';
import { loadLabText } from '../lab/index.js';
import { readLabFile } from '../lab/load.js';
import type { RawLab } from '../lab/raw.js';
import type { Lab, Machine } from '../lab/types.js';
import {
  applyAcross,
  destroyAcross,
  openSession,
  planAcross,
  type AcrossPlan,
  type Session,
  type StepJson,
  type Stop,
} from '../machines/coordinator.js';
import { netlabVersion } from '../machines/version.js';
import { formatSteps, out, summarise } from './output.js';
import type { Step } from '../plan/plan.js';
import { listenForInterrupt } from './interrupt.js';
import { counted } from '../words.js';
import {
  asMachines,
  beginApply,
  machinesToReach,
  markCommitted,
  markCommitting,
  markRolledBack,
  readMachinesRecord,
  recorded,
} from '../machines/record.js';

export async function loadAcross(file: string): Promise<{ raw: RawLab; lab: Lab }> {
  const { text, issues } = await readLabFile(file);
  if (text === null) throw new LabError(issues);
  const r = loadLabText(file, text);
  if (!r.lab || !r.raw) throw new LabError(r.issues);
  return { raw: r.raw, lab: r.lab };
}

async function withSession<T>(machines: Machine[], work: (s: Session) => Promise<T>): Promise<T> {
  const session = await openSession(machines, netlabVersion());
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}

/** Steps as they came from a machine, in the shape formatSteps prints (commands are text already). */
const asSteps = (steps: StepJson[]) => steps.map((s) => ({ ...s, commands: [] })) as unknown as Step[];

function printPlan(p: AcrossPlan): void {
  out.line(`${pc.bold(p.lab)}: across ${counted(p.placement.size, 'machine')}`);
  for (const [machine, hosts] of p.placement) out.line(`  placement ${machine}: ${hosts.join(', ')}`);
  for (const s of p.slices.segments)
    out.line(
      `  segment vxlan ${s.vni} (${s.members.join(', ')}) spans ${s.machines.join(', ')}: MTU ${s.mtu} ` +
        `(underlay ${s.dev} on ${s.machine} has MTU ${s.underlayMtu}, VXLAN takes ${s.underlayMtu - s.mtu})`,
    );
  for (const m of p.plans) {
    if (!m.steps.length && !m.conflicts.length) {
      out.line(`${pc.bold(m.label)}: no changes`);
      continue;
    }
    out.line(`${pc.bold(m.label)}: ${summarise(asSteps(m.steps))}`);
    for (const l of formatSteps(asSteps(m.steps), false)) out.line(l);
    for (const c of m.conflicts) out.line(`  ${pc.red('! conflict')} ${c}`);
    for (const a of m.advice) out.line(`  ${pc.cyan('note:')} ${a}`);
  }
}

function planCode(p: AcrossPlan): number {
  if (p.plans.some((m) => m.conflicts.length)) return EXIT_ERROR;
  return p.plans.some((m) => m.steps.length) ? EXIT_PENDING : EXIT_OK;
}

function planJson(p: AcrossPlan) {
  return {
    lab: p.lab,
    placement: Object.fromEntries(p.placement),
    segments: p.slices.segments,
    machines: p.plans.map((m) => ({ machine: m.machine, steps: m.steps, conflicts: m.conflicts, advice: m.advice })),
  };
}

export async function planFile(file: string, o: { json?: boolean }): Promise<number> {
  const { raw, lab } = await loadAcross(file);
  return withSession(lab.machines!, async (s) => {
    const p = await planAcross(s, raw, lab);
    if (o.json) out.json(planJson(p));
    else printPlan(p);
    return planCode(p);
  });
}

export async function applyFile(
  file: string,
  o: { json?: boolean; dryRun?: boolean },
  confirm: (q: string) => Promise<boolean>,
): Promise<number> {
  const { raw, lab } = await loadAcross(file);
  const before = await readMachinesRecord(lab.name);
  const machines = machinesToReach(lab.machines!, before);
  return withSession(machines, async (s) => {
    const p = await planAcross(s, raw, lab);
    if (o.json && o.dryRun) out.json(planJson(p));
    else printPlan(p);
    const code = planCode(p);
    if (o.dryRun || code === EXIT_ERROR) return code;
    if (code === EXIT_PENDING && !(await confirm('Apply these changes on every machine?'))) {
      out.info('nothing was changed');
      return EXIT_ERROR;
    }
    // Before anything changes: gc and destroy --lab then find every machine even after a crash.
    await beginApply(lab.name, machines, before);
    const stop: Stop = { requested: null };
    const onSignal = (sig: string) => () => {
      stop.requested = sig;
      out.warn(`${sig}: waiting for the machines to finish this phase, then rolling every machine back`);
    };
    const sigint = onSignal('SIGINT');
    const sigterm = onSignal('SIGTERM');
    process.on('SIGINT', sigint).on('SIGTERM', sigterm);
    const unlisten = listenForInterrupt((sig) => onSignal(sig)());
    const started = Date.now();
    if (!o.json) out.line(`applying on ${p.plans.map((m) => m.machine).join(', ')}`);
    try {
      let applied;
      try {
        applied = await applyAcross(s, p, stop, () => markCommitting(lab.name));
      } catch (e) {
        // Exit 1: every machine is back where it was. Otherwise the record stays unfinished for gc.
        if (e instanceof MachineError && e.exitCode === EXIT_ERROR) await markRolledBack(lab.name);
        throw e;
      }
      await markCommitted(lab.name, lab.machines!.map(recorded), resolve(file));
      const seconds = ((Date.now() - started) / 1000).toFixed(2);
      if (o.json) out.json({ lab: lab.name, seconds: Number(seconds), machines: applied });
      else
        for (const m of applied)
          out.line(
            m.changed
              ? `${pc.bold(m.label)}: applied ${counted(m.steps.length, 'step')} (${summarise(asSteps(m.steps))}) and verified`
              : `${pc.bold(m.label)}: no changes`,
          );
      if (!o.json) out.line(`${pc.bold(lab.name)}: committed on ${counted(applied.length, 'machine')} in ${seconds}s`);
      return EXIT_OK;
    } finally {
      process.off('SIGINT', sigint).off('SIGTERM', sigterm);
      unlisten();
    }
  });
}

/** Destroys a lab across machines, from its file or from the coordinator's record of its machines. */
export async function destroyAcrossLab(name: string, machines: Machine[] | null, o: { json?: boolean }): Promise<number> {
  // The file's machines and any the record has besides: a machine dropped from the file may still hold a part.
  const known = machines ? machinesToReach(machines, await readMachinesRecord(name)) : await recordedMachines(name);
  if (!known) throw new UsageError(`lab "${name}" has no record of machines here`);
  return withSession(known, async (s) => {
    const results = await destroyAcross(s, name);
    if (o.json) out.json({ lab: name, machines: results });
    const failed = results.filter((r) => r.error);
    if (!o.json)
      for (const r of results.filter((x) => !x.error))
        out.line(
          r.steps.length
            ? `${pc.bold(r.label)}: destroyed (${counted(r.steps.length, 'step')})`
            : `${pc.bold(r.label)}: nothing to destroy`,
        );
    if (failed.length) {
      const err = new MachineError(failed.map((r) => r.error).join('\n'), Math.max(...failed.map((r) => r.exitCode)));
      err.hints.push(`the record of its machines stays: run \`netlab destroy --lab ${name}\` again`);
      throw err;
    }
    await store.removeMachines(name);
    return EXIT_OK;
  });
}

/** `destroy FILE` of a lab across machines. */
export async function destroyFile(file: string, o: { json?: boolean }): Promise<number> {
  const { lab } = await loadAcross(file);
  return destroyAcrossLab(lab.name, lab.machines!, o);
}

/** The machines of a lab from the coordinator's record, or null without one. */
export async function recordedMachines(lab: string): Promise<Machine[] | null> {
  const r = await readMachinesRecord(lab);
  return r ? asMachines(r.machines) : null;
}
