// The command line. Commands only: every decision is made in spec, plan and apply.
import { Command, Option } from '@commander-js/extra-typings';
import { readFile, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import pc from 'picocolors';
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
import { store } from '../apply/store.js';
import { RealDriver } from '../driver/real.js';
import { EXIT_ERROR, EXIT_OK, EXIT_PENDING, exitCodeOf, SpecError, UsageError } from '../errors.js';
import { diffStates, stateOf } from '../model/objects.js';
import { loadLabs } from '../spec/load.js';
import { readLabSchema } from '../spec/schema-source.js';
import type { Lab } from '../spec/types.js';
import { gc } from '../apply/gc.js';
import { expandInputs, loadValidLabs, observeDeclaredLabs } from './labs.js';
import { formatSteps, issuesJson, markdownPlan, out, printError, stepJson, summarise } from './output.js';
import { runJobs } from './progress.js';
import { registerWatch } from './watch.js';
import { registerGen } from './gen.js';
import { registerWorkCommands } from './work.js';
import { registerLink } from './link.js';
import { registerCapture } from './capture.js';
import { registerLogs } from './logs.js';

const EXIT_CODES_HELP = `
Exit codes:
  0  success, nothing pending
  1  error; the kernel is as it was before the run (invalid input, failed apply rolled back, lock busy)
  2  changes pending (plan, apply --dry-run, status or inspect with drift)
  3  a failure whose rollback did not complete; run "netlab gc" or re-run to finish the undo
  exec and shell exit with the command's own code (127: command not found); test exits 1 when an assertion fails`;

let exitCode = EXIT_OK;

async function confirm(question: string, yes: boolean): Promise<boolean> {
  // Without a terminal (CI) never wait for input.
  if (yes || !process.stdin.isTTY || !process.stdout.isTTY) return true;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

function driver() {
  return new RealDriver();
}

async function planAll(labs: Lab[]) {
  const d = driver();
  return Promise.all(labs.map((l) => planLab(d, l)));
}

function planDocument(plans: Awaited<ReturnType<typeof planAll>>) {
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

function printPlans(plans: Awaited<ReturnType<typeof planAll>>, verbose: boolean): void {
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

export function buildProgram() {
  const program = new Command()
    .name('netlab')
    .description('Declarative network labs on Linux: namespaces, bridges, veth, VLAN, MACVLAN, IPVLAN, VXLAN, NAT and policy.')
    .version('0.1.0')
    .option('-q, --quiet', 'print only errors and requested output')
    .option('-v, --verbose', 'print the commands of each step')
    .addHelpText('after', EXIT_CODES_HELP)
    .hook('preAction', (cmd) => {
      const o = cmd.opts();
      out.quiet = Boolean(o.quiet);
      out.verbose = Boolean(o.verbose);
    });

  program
    .command('validate')
    .description('check lab files against the schema and the semantic rules; change nothing')
    .argument('<files...>', 'lab files or directories')
    .option('--json', 'machine-readable result')
    .addHelpText('after', '\nExit codes: 0 all valid, 1 errors found (every error is listed with file:line:col).')
    .action(async (files, o) => {
      const { labs, issues } = await loadLabs(await expandInputs(files));
      if (o.json)
        out.json({
          valid: issues.length === 0,
          labs: labs.map((l) => ({ name: l.name, file: l.file, hosts: l.hosts.length })),
          issues: issuesJson(issues),
        });
      else if (issues.length) printError(new SpecError(issues));
      else for (const l of labs) out.line(`${l.file}: lab "${l.name}" is valid (${l.hosts.length} hosts)`);
      exitCode = issues.length ? EXIT_ERROR : EXIT_OK;
    });

  program
    .command('schema')
    .description('print the JSON Schema of lab files')
    .action(() => out.json(readLabSchema()));

  program
    .command('plan')
    .description('read live state and print the steps apply would run')
    .argument('<files...>', 'lab files or directories')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'markdown'] as const).default('text' as const))
    .option('--json', 'same as --format json')
    .option('-o, --out <file>', 'also write the JSON plan document to a file (for apply --plan)')
    .addHelpText('after', '\nExit codes: 0 no changes, 2 changes pending, 1 error.')
    .action(async (files, o) => {
      const labs = await loadValidLabs(files);
      const plans = await planAll(labs);
      const doc = planDocument(plans);
      if (o.out) await writeFile(o.out, JSON.stringify(doc, null, 2));
      const format = o.json ? 'json' : o.format;
      if (format === 'json') out.json(doc);
      else if (format === 'markdown') out.line(markdownPlan(plans));
      else printPlans(plans, out.verbose);
      const conflicts = plans.some((p) => p.plan.conflicts.length);
      exitCode = conflicts ? EXIT_ERROR : plans.some((p) => p.plan.steps.length) ? EXIT_PENDING : EXIT_OK;
    });

  program
    .command('apply')
    .description('make the kernel match the labs; roll back on any failure; verify')
    .argument('<files...>', 'lab files or directories')
    .option('--plan <file>', 'apply only if live state still matches this plan (from plan -o)')
    .option('--dry-run', 'print the plan and exit 2 when changes are pending')
    .option('--keep-failed', 'on failure, leave the failed state for debugging (exit 3; gc undoes it)')
    .option('-y, --yes', 'do not ask for confirmation on a terminal')
    .option('--json', 'machine-readable result')
    .option('--prune', 'also destroy labs of the same owner whose file is not among FILES')
    .option('--owner <name>', 'owner of these labs (overrides `owner:` in the files; needed by --prune)')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (files, o) => {
      const d = driver();
      // Straight to apply (no plan shown first): the labs the files declare are observed while
      // the files are checked. Each early observation holds its lab's lock until handed over.
      const direct = !o.dryRun && !(process.stdin.isTTY && process.stdout.isTTY && !o.yes && !o.json);
      const early = direct ? await observeDeclaredLabs(d, await expandInputs(files)) : [];
      const handed = new Set<EarlyObservation>();
      const hand = (name: string) => {
        const e = early.find((x) => x.lab === name) ?? null;
        if (e) handed.add(e);
        return e;
      };
      try {
        const labs = (await loadValidLabs(files)).map((l) => (o.owner ? { ...l, owner: o.owner } : l));
        const prune = o.prune ? await pruneCandidates(labs, o.owner) : [];
        let fingerprints = new Map<string, string>();
        if (o.plan) {
          const doc = JSON.parse(await readFile(o.plan, 'utf8')) as { labs: { lab: string; fingerprint: string }[] };
          fingerprints = new Map(doc.labs.map((l) => [l.lab, l.fingerprint]));
          for (const l of labs) if (!fingerprints.has(l.name)) throw new UsageError(`plan ${o.plan} has no lab "${l.name}"`);
        }
        if (o.dryRun || (process.stdin.isTTY && process.stdout.isTTY && !o.yes && !o.json)) {
          const d0 = driver();
          const plans = [...(await planAll(labs)), ...(await Promise.all(prune.map((name) => planDestroy(d0, name, null))))];
          if (o.json && o.dryRun) out.json(planDocument(plans));
          else printPlans(plans, out.verbose);
          const pending = plans.some((p) => p.plan.steps.length);
          if (o.dryRun) {
            exitCode = plans.some((p) => p.plan.conflicts.length) ? EXIT_ERROR : pending ? EXIT_PENDING : EXIT_OK;
            return;
          }
          if (!pending) return;
          if (!(await confirm('Apply these changes?', false))) {
            out.info('nothing was changed');
            exitCode = EXIT_ERROR;
            return;
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
        const started = Date.now();
        const results = await runJobs<ApplyResult>(
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
        process.off('SIGINT', sigint).off('SIGTERM', sigterm);
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
        for (const r of results) {
          if (r.ok) {
            const v = r.value;
            if (!o.json) {
              if (v.pruned) out.line(`${pc.bold(r.lab)}: pruned (${v.steps.length} steps)`);
              else if (v.changed)
                out.line(`${pc.bold(r.lab)}: applied ${v.steps.length} steps (${summarise(v.steps)}) and verified in ${seconds}s`);
              else out.line(`${pc.bold(r.lab)}: no changes`);
            }
            if (out.verbose) for (const l of formatSteps(v.steps, true)) out.line(l);
          } else {
            if (!o.json) printError(r.error);
            exitCode = Math.max(exitCode, exitCodeOf(r.error));
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
      } finally {
        for (const e of early) if (!handed.has(e)) await e.unlock();
      }
    });

  program
    .command('destroy')
    .description('remove everything a lab owns (works without the lab file, from marks and state)')
    .argument('[files...]', 'lab files or directories')
    .option('--lab <name...>', 'lab name(s) instead of files')
    .option('--all', 'every lab netlab knows on this machine')
    .option('--dry-run', 'print what would be removed and exit 2 when anything would be')
    .option('-y, --yes', 'do not ask for confirmation on a terminal')
    .option('--json', 'machine-readable result')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (files, o) => {
      const byName = new Map<string, Lab | null>();
      if (files.length) for (const l of await loadValidLabs(files)) byName.set(l.name, l);
      for (const n of o.lab ?? []) byName.set(n, null);
      if (o.all) for (const n of await store.labs()) if (!byName.has(n)) byName.set(n, null);
      if (!byName.size) throw new UsageError('name what to destroy: FILES, --lab NAME or --all');
      const d = driver();
      if (o.dryRun || (!o.yes && process.stdin.isTTY && process.stdout.isTTY && !o.json)) {
        // Planned here only to be shown: destroyLab observes and plans again under the lab's lock.
        const plans = await Promise.all([...byName].map(([name, lab]) => planDestroy(d, name, lab)));
        const total = plans.reduce((n, p) => n + p.plan.steps.length, 0);
        printPlans(plans, out.verbose);
        if (o.dryRun) {
          exitCode = total ? EXIT_PENDING : EXIT_OK;
          return;
        }
        if (total && !(await confirm('Destroy these objects?', false))) {
          exitCode = EXIT_ERROR;
          return;
        }
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
      for (const r of results) {
        if (r.ok && !o.json)
          out.line(
            r.value.steps.length ? `${pc.bold(r.lab)}: destroyed (${r.value.steps.length} steps)` : `${pc.bold(r.lab)}: nothing to destroy`,
          );
        if (!r.ok) {
          if (!o.json) printError(r.error);
          exitCode = Math.max(exitCode, exitCodeOf(r.error));
        }
      }
    });

  program
    .command('status')
    .description('labs present on this machine, their objects, and drift from the last apply')
    .option('--lab <name>', 'only this lab')
    .option('--json', 'machine-readable result')
    .addHelpText('after', '\nExit codes: 0 no drift, 2 a lab has drifted (or has an unfinished run), 1 error.')
    .action(async (o) => {
      const names = o.lab ? [o.lab] : await store.labs();
      const d = driver();
      const rows = [];
      for (const name of names) {
        const record = await store.readRecord(name);
        const journal = await store.readJournal(name);
        if (!record) {
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
      exitCode = rows.some((r) => r.drift.length || r.unfinished) ? EXIT_PENDING : EXIT_OK;
    });

  program
    .command('gc')
    .description('finish interrupted runs and remove leftovers of labs whose state is gone or broken')
    .option('-y, --yes', 'do not ask for confirmation on a terminal')
    .option('--dry-run', 'only report')
    .option('--json', 'machine-readable result: { pending, lines }')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (o) => {
      const d = driver();
      const report = await gc(d, {
        dryRun: Boolean(o.dryRun),
        confirm: (q) => confirm(q, Boolean(o.yes || o.json)),
        warn: (m) => out.warn(m),
        recover: (lab) => recoverIfNeeded(d, lab, { events: { warn: (l, m) => out.warn(`${l}: ${m}`) } }),
      });
      if (o.json) out.json(report);
      else for (const l of report.lines) out.line(l);
      if (o.dryRun && report.pending) exitCode = EXIT_PENDING;
    });

  registerGen(program);

  registerWatch(program);
  registerLink(program);
  registerCapture(program);
  registerLogs(program);
  registerWorkCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
    if (e.code?.startsWith('commander.')) process.exit(EXIT_ERROR);
    printError(err);
    process.exit(exitCodeOf(err));
  }
  // Commands registered outside this file (exec, test, inspect...) set process.exitCode.
  process.exit(exitCode || Number(process.exitCode ?? 0));
}
