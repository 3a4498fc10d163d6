// Progress with listr2: one task per lab, its title showing the stage. Plain line output when
// stdout is not a terminal, in CI, or with --json/--quiet.
import { Listr } from 'listr2';
import type { EngineEvents } from '../apply/engine.js';
import { out } from './output.js';

export interface LabJob<R> {
  lab: string;
  run(events: EngineEvents): Promise<R>;
}

export type JobResult<R> = { lab: string; ok: true; value: R } | { lab: string; ok: false; error: unknown };

/** Runs jobs concurrently (labs are independent units) and returns every outcome. */
export async function runJobs<R>(jobs: LabJob<R>[], opts: { json: boolean }): Promise<JobResult<R>[]> {
  const plain = opts.json || out.quiet || !process.stdout.isTTY || Boolean(process.env.CI);
  const results: JobResult<R>[] = [];
  const list = new Listr(
    jobs.map((job) => ({
      title: job.lab,
      task: async (_ctx: unknown, task: { title: string | undefined; output: string | undefined }) => {
        const events: EngineEvents = {
          stage: (lab, stage, detail) => {
            task.title = `${lab}: ${stage}${detail ? ` (${detail})` : ''}`;
          },
          progress: (lab, done, total) => {
            task.output = `${lab}: ${done}/${total} commands`;
          },
          warn: (lab, message) => out.warn(`${lab}: ${message}`),
        };
        try {
          results.push({ lab: job.lab, ok: true, value: await job.run(events) });
          task.title = `${job.lab}: done`;
        } catch (error) {
          results.push({ lab: job.lab, ok: false, error });
          task.title = `${job.lab}: failed`;
        }
      },
    })),
    {
      concurrent: true,
      exitOnError: false,
      renderer: opts.json || out.quiet ? 'silent' : plain ? 'simple' : 'default',
      fallbackRenderer: 'simple',
      rendererOptions: {},
    },
  );
  await list.run();
  return jobs.map((j) => results.find((r) => r.lab === j.lab)!);
}
