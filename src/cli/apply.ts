// `netlab plan`, `apply`, `destroy` and `gc`: the commands that run the engine. Each returns
// its exit code.
import pc from 'picocolors';
import { readFile, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import {
  applyLab,
  destroyLab,
  planDestroy,
  planLab,
  recoverIfNeeded,
  type ApplyResult,
  type EarlyObservation,
  type EngineEvents,
} from '../apply/engine.js';
import { gc as collect } from '../apply/gc.js';
import { store } from '../apply/store.js';
import { checkLabName } from '../state/files.js';
import { RealDriver } from '../driver/real.js';
import { EXIT_ERROR, EXIT_OK, EXIT_PENDING, exitCodeOf, UsageError } from '../errors.js';
import type { Lab } from '../lab/types.js';
import { loadValidLabs, observeDeclaredLabs, readInputs, type LabInputs } from './labs.js';
import { formatSteps, markdownPlan, out, printError, stepJson, summarise } from './output.js';
import { runJobs } from './progress.js';
import { listenForInterrupt } from './interrupt.js';
import { counted } from '../words.js';
import { acrossMachinesFile } from './across-detect.js';

// The coordinator and what it loads (ssh transport, execa, the YAML writer) only for a lab across machines.
const across = () => import('./across.js');

/** Whether a person can be asked: without a terminal (CI) netlab never waits for input. */
function interactive(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY);
}

async function confirm(question: string, yes: boolean): Promise<boolean> {
  if (yes || !interactive()) return true;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

async function planAll(labs: Lab[]) {
  const d = new RealDriver();
  return Promise.all(labs.map((l) => planLab(d, l)));
}

type Plans = Awaited<ReturnType<typeof planAll>>;

function planDocument(plans: Plans) {
  return {
    version: 1,
    createdAt: new Date().toISOString(),
    labs: plans.map((p) => ({
      lab: p.lab,
      fingerprint: p.plan.fingerprint,
      conflicts: p.plan.conflicts,
      advice: p.advice,
      steps: p.plan.steps.map(stepJson),
    })),
  };
}

function printPlans(plans: Plans, verbose: boolean): void {
  for (const p of plans) {
    if (!p.plan.steps.length && !p.plan.conflicts.length) {
      out.line(`${pc.bold(p.lab)}: no changes`);
      continue;
    }
    out.line(`${pc.bold(p.lab)}: ${summarise(p.plan.steps)}`);
    for (const l of formatSteps(p.plan.steps, verbose)) out.line(l);
    for (const c of p.plan.conflicts) out.line(`  ${pc.red('! conflict')} ${c}`);
    for (const a of p.advice) out.line(`  ${pc.cyan('note:')} ${a}`);
  }
}

/** Labs of the same owner recorded on this machine whose file is not among the inputs. */
async function pruneCandidates(labs: Lab[], ownerFlag: string | undefined): Promise<string[]> {
  const owners = new Set(labs.map((l) => l.owner));
  const owner = ownerFlag ?? (owners.size === 1 ? [...owners][0] : null);
  if (!owner) {
    const err = new UsageError('--prune needs an owner: set `owner:` in every lab file (the same one) or pass --owner NAME');
    err.hints.push('without an owner, prune could remove labs another repository applied on this machine; nothing was changed');
    throw err;
  }
  const inputs = new Set(labs.map((l) => l.name));
  const out: string[] = [];
  for (const name of await store.labs()) {
    const r = await store.readRecord(name);
    if (r && r.owner === owner && !inputs.has(name)) out.push(name);
  }
  return out;
}

export interface PlanOptions {
  format: 'text' | 'json' | 'markdown';
  json?: boolean;
  out?: string;
}

export async function plan(files: string[], o: PlanOptions): Promise<number> {
  const inputs = await readInputs(files);
  const acrossFile = acrossMachinesFile(inputs);
  if (acrossFile) return (await across()).planFile(acrossFile, { json: o.json || o.format === 'json' });
  const labs = await loadValidLabs(inputs);
  const plans = await planAll(labs);
  const doc = planDocument(plans);
  if (o.out) await writeFile(o.out, JSON.stringify(doc, null, 2));
  const format = o.json ? 'json' : o.format;
  if (format === 'json') out.json(doc);
  else if (format === 'markdown') out.line(markdownPlan(plans));
  else printPlans(plans, out.verbose);
  const conflicts = plans.some((p) => p.plan.conflicts.length);
  return conflicts ? EXIT_ERROR : plans.some((p) => p.plan.steps.length) ? EXIT_PENDING : EXIT_OK;
}

export interface ApplyOptions {
  plan?: string;
  dryRun?: boolean;
  keepFailed?: boolean;
  yes?: boolean;
  json?: boolean;
  prune?: boolean;
  owner?: string;
}

export async function apply(files: string[], o: ApplyOptions): Promise<number> {
  const inputs = await readInputs(files);
  const acrossFile = acrossMachinesFile(inputs);
  if (acrossFile) return (await across()).applyFile(acrossFile, o, (q) => confirm(q, Boolean(o.yes || o.json)));
  const d = new RealDriver();
  // Straight to apply (no plan shown first): the labs the files declare are observed while the
  // files are checked. Each early observation holds its lab's lock until applyLab takes it over.
  const direct = !o.dryRun && !(interactive() && !o.yes && !o.json);
  const early = direct ? await observeDeclaredLabs(d, inputs) : [];
  const handed = new Set<EarlyObservation>();
  const hand = (lab: string) => {
    const e = early.find((x) => x.lab === lab) ?? null;
    if (e) handed.add(e);
    return e;
  };
  try {
    return await applyFiles(inputs, o, d, hand);
  } finally {
    for (const e of early) if (!handed.has(e)) await e.unlock();
  }
}

async function applyFiles(
  inputs: LabInputs,
  o: ApplyOptions,
  d: RealDriver,
  hand: (lab: string) => EarlyObservation | null,
): Promise<number> {
  const labs = (await loadValidLabs(inputs)).map((l) => (o.owner ? { ...l, owner: o.owner } : l));
  const prune = o.prune ? await pruneCandidates(labs, o.owner) : [];
  let fingerprints = new Map<string, string>();
  if (o.plan) {
    const doc = JSON.parse(await readFile(o.plan, 'utf8')) as { labs: { lab: string; fingerprint: string }[] };
    fingerprints = new Map(doc.labs.map((l) => [l.lab, l.fingerprint]));
    for (const l of labs) if (!fingerprints.has(l.name)) throw new UsageError(`plan ${o.plan} has no lab "${l.name}"`);
  }
  if (o.dryRun || (interactive() && !o.yes && !o.json)) {
    const d0 = new RealDriver();
    const plans = [...(await planAll(labs)), ...(await Promise.all(prune.map((name) => planDestroy(d0, name, null))))];
    if (o.json && o.dryRun) out.json(planDocument(plans));
    else printPlans(plans, out.verbose);
    const pending = plans.some((p) => p.plan.steps.length);
    if (o.dryRun) return plans.some((p) => p.plan.conflicts.length) ? EXIT_ERROR : pending ? EXIT_PENDING : EXIT_OK;
    if (!pending) return EXIT_OK;
    if (!(await confirm('Apply these changes?', false))) {
      out.info('nothing was changed');
      return EXIT_ERROR;
    }
  }
  const stop = { requested: null as string | null };
  const onSignal = (sig: string) => () => {
    stop.requested = sig;
    out.warn(`${sig}: stopping at the next step boundary, then rolling back`);
  };
  const sigint = onSignal('SIGINT');
  const sigterm = onSignal('SIGTERM');
  process.on('SIGINT', sigint).on('SIGTERM', sigterm);
  const unlisten = listenForInterrupt((sig) => onSignal(sig)());
  const started = Date.now();
  let results;
  try {
    results = await runJobs<ApplyResult>(
      [
        ...labs.map((lab) => ({
          lab: lab.name,
          run: (events: EngineEvents) =>
            applyLab(d, lab, {
              events,
              keepFailed: o.keepFailed,
              stop,
              expectFingerprint: fingerprints.get(lab.name),
              early: hand(lab.name),
            }),
        })),
        ...prune.map((name) => ({
          lab: name,
          run: async (events: EngineEvents): Promise<ApplyResult> => {
            const r = await destroyLab(d, name, null, { events, stop });
            return { lab: name, steps: r.steps, changed: r.steps.length > 0, pruned: true };
          },
        })),
      ],
      { json: Boolean(o.json) },
    );
  } finally {
    process.off('SIGINT', sigint).off('SIGTERM', sigterm);
    unlisten();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(2);
  if (o.json) {
    out.json({
      seconds: Number(seconds),
      labs: results.map((r) =>
        r.ok
          ? { lab: r.lab, ok: true, steps: r.value.steps.map(stepJson) }
          : { lab: r.lab, ok: false, error: (r.error as Error).message, exitCode: exitCodeOf(r.error) },
      ),
    });
  }
  let code = EXIT_OK;
  for (const r of results) {
    if (r.ok) {
      const v = r.value;
      if (!o.json) {
        if (v.pruned) out.line(`${pc.bold(r.lab)}: pruned (${counted(v.steps.length, 'step')})`);
        else if (v.changed)
          out.line(
            `${pc.bold(r.lab)}: applied ${counted(v.steps.length, 'step')} (${summarise(v.steps)}) and verified in ${seconds}s${
              // The lab was recorded before the signal could stop it: it stays applied, and says so.
              stop.requested ? `; ${stop.requested} came after it was recorded, so it was kept, not rolled back` : ''
            }`,
          );
        else out.line(`${pc.bold(r.lab)}: no changes`);
      }
      if (out.verbose) for (const l of formatSteps(v.steps, true)) out.line(l);
    } else {
      if (!o.json) printError(r.error);
      code = Math.max(code, exitCodeOf(r.error));
    }
  }
  if (results.length > 1 && results.some((r) => !r.ok) && !o.json) {
    out.line(
      `summary: ${
        results
          .filter((r) => r.ok)
          .map((r) => r.lab)
          .join(', ') || 'none'
      } applied; ${results
        .filter((r) => !r.ok)
        .map((r) => r.lab)
        .join(', ')} failed`,
    );
  }
  return code;
}

export interface DestroyOptions {
  lab?: string[];
  all?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
}

export async function destroy(files: string[], o: DestroyOptions): Promise<number> {
  const inputs = files.length ? await readInputs(files) : null;
  const acrossFile = inputs && acrossMachinesFile(inputs);
  if (acrossFile) return (await across()).destroyFile(acrossFile, o);
  // A lab across machines named by --lab: the coordinator's record says where its parts are.
  if (!files.length && o.lab?.length === 1 && (await store.readMachines(checkLabName(o.lab[0]!, '--lab'))))
    return (await across()).destroyAcrossLab(o.lab[0]!, null, o);
  const byName = new Map<string, Lab | null>();
  if (inputs) for (const l of await loadValidLabs(inputs)) byName.set(l.name, l);
  // A name becomes a path in the state directory: only a lab name, never "", ".." or "a/b".
  for (const n of o.lab ?? []) byName.set(checkLabName(n, '--lab'), null);
  if (o.all) for (const n of await store.labs()) if (!byName.has(n)) byName.set(n, null);
  if (!byName.size && o.all) {
    // Nothing applied is nothing to destroy: a CI cleanup step after a run that never applied succeeds.
    if (o.json) out.json({ labs: [] });
    else out.line('nothing to destroy: no lab is applied on this machine');
    return EXIT_OK;
  }
  if (!byName.size) throw new UsageError('name what to destroy: FILES, --lab NAME or --all');
  const d = new RealDriver();
  if (o.dryRun || (!o.yes && interactive() && !o.json)) {
    // Planned here only to be shown: destroyLab observes and plans again under the lab's lock.
    const plans = await Promise.all([...byName].map(([name, lab]) => planDestroy(d, name, lab)));
    const total = plans.reduce((n, p) => n + p.plan.steps.length, 0);
    printPlans(plans, out.verbose);
    if (o.dryRun) return total ? EXIT_PENDING : EXIT_OK;
    if (total && !(await confirm('Destroy these objects?', false))) return EXIT_ERROR;
  }
  const results = await runJobs(
    [...byName].map(([name, lab]) => ({ lab: name, run: (events) => destroyLab(d, name, lab, { events }) })),
    { json: Boolean(o.json) },
  );
  if (o.json)
    out.json({
      labs: results.map((r) =>
        r.ok
          ? { lab: r.lab, ok: true, removed: r.value.steps.length, strangers: r.value.strangers }
          : { lab: r.lab, ok: false, error: (r.error as Error).message },
      ),
    });
  let code = EXIT_OK;
  for (const r of results) {
    if (r.ok && !o.json)
      out.line(
        r.value.steps.length
          ? `${pc.bold(r.lab)}: destroyed (${counted(r.value.steps.length, 'step')})`
          : `${pc.bold(r.lab)}: nothing to destroy`,
      );
    if (!r.ok) {
      if (!o.json) printError(r.error);
      code = Math.max(code, exitCodeOf(r.error));
    }
  }
  return code;
}

export interface GcOptions {
  yes?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export async function gc(o: GcOptions): Promise<number> {
  // Labs across machines first: their machines' journals here are then finished by the coordinator's decision.
  const acrossGc = (await store.machineLabs()).length
    ? await (await import('./across-gc.js')).gcAcross({ dryRun: Boolean(o.dryRun) })
    : { lines: [], pending: false, error: null };
  const d = new RealDriver();
  const local = await collect(d, {
    dryRun: Boolean(o.dryRun),
    confirm: (q) => confirm(q, Boolean(o.yes || o.json)),
    warn: (m) => out.warn(m),
    recover: (lab) => recoverIfNeeded(d, lab, { events: { warn: (l, m) => out.warn(`${l}: ${m}`) } }),
  });
  const localLines = acrossGc.lines.length && local.lines.join() === 'nothing to collect' ? [] : local.lines;
  const report = { lines: [...acrossGc.lines, ...localLines], pending: acrossGc.pending || local.pending };
  if (o.json) out.json(report);
  else for (const l of report.lines) out.line(l);
  if (acrossGc.error) throw acrossGc.error;
  return o.dryRun && report.pending ? EXIT_PENDING : EXIT_OK;
}
