// Progress of lab runs, one task per lab: a live listr2 task list on a terminal; plain lines when
// stdout is a log (not a terminal, or CI); nothing with --json or --quiet. listr2 and its
// dependencies are loaded only for the terminal, so a log pays nothing for them.
import pc from 'picocolors';
import type { EngineEvents } from '../apply/engine.js';
import { out } from './output.js';

export interface LabJob<R> {
  lab: string;
  run(events: EngineEvents): Promise<R>;
}

export type JobResult<R> = { lab: string; ok: true; value: R } | { lab: string; ok: false; error: unknown };

/** The narrowest terminal the live task list is drawn on. */
const MIN_COLUMNS = 20;

const warn = (lab: string, message: string) => out.warn(`${lab}: ${message}`);

/** Runs jobs concurrently (labs are independent units) and returns every outcome, in job order. */
export async function runJobs<R>(jobs: LabJob<R>[], opts: { json: boolean }): Promise<JobResult<R>[]> {
  if (opts.json || out.quiet) return Promise.all(jobs.map((job) => outcome(job, { warn })));
  // A terminal of 0 columns (`script -qec`, some CI runners), or too narrow for a task's title,
  // would get one character per line: it gets plain lines.
  if (process.stdout.isTTY && !process.env.CI && (process.stdout.columns ?? 0) >= MIN_COLUMNS) return withTaskList(jobs);
  return Promise.all(jobs.map(withLines));
}

async function outcome<R>(job: LabJob<R>, events: EngineEvents): Promise<JobResult<R>> {
  try {
    return { lab: job.lab, ok: true, value: await job.run(events) };
  } catch (error) {
    return { lab: job.lab, ok: false, error };
  }
}

/** A log: the lab's start, each batch of commands, its end (the lines listr2's simple renderer wrote). */
async function withLines<R>(job: LabJob<R>): Promise<JobResult<R>> {
  out.line(`${pc.yellow('❯')} ${job.lab}`);
  const r = await outcome(job, { progress: (lab, done, total) => out.line(`› ${lab}: ${done}/${total} commands`), warn });
  out.line(r.ok ? `${pc.green('✔')} ${job.lab}: done` : `${pc.red('✖')} ${job.lab}: failed`);
  return r;
}

/** A terminal: each lab's line shows its current stage and command count, redrawn in place. */
async function withTaskList<R>(jobs: LabJob<R>[]): Promise<JobResult<R>[]> {
  const { Listr } = await import('listr2');
  const results = new Map<LabJob<R>, JobResult<R>>();
  const list = new Listr(
    jobs.map((job) => ({
      title: job.lab,
      task: async (_ctx: unknown, task: { title: string | undefined; output: string | undefined }) => {
        const r = await outcome(job, {
          stage: (lab, stage, detail) => {
            task.title = `${lab}: ${stage}${detail ? ` (${detail})` : ''}`;
          },
          progress: (lab, done, total) => {
            task.output = `${lab}: ${done}/${total} commands`;
          },
          warn,
        });
        results.set(job, r);
        task.title = `${job.lab}: ${r.ok ? 'done' : 'failed'}`;
      },
    })),
    { concurrent: true, exitOnError: false, renderer: 'default', fallbackRenderer: 'simple', rendererOptions: {} },
  );
  await list.run();
  return jobs.map((j) => results.get(j)!);
}
