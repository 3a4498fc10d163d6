// `netlab watch`: the reconcile loop. Re-plans when a lab file changes (debounced) and at every
// interval (drift), applies when the plan is not empty, logs one line per event. An invalid file
// is never applied: its last good version stays in force.
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { applyLab, planLab } from '../apply/engine.js';
import { labCacheDir } from '../apply/store.js';
import { RealDriver } from '../driver/real.js';
import { formatLabIssue } from '../errors.js';
import { loadLabs } from '../lab/load.js';
import type { Lab } from '../lab/types.js';
import { parseDuration } from './duration.js';
import { expandInputs } from './labs.js';

interface Event {
  time: string;
  lab: string;
  event: 'start' | 'invalid' | 'in-sync' | 'changes' | 'applied' | 'failed' | 'stop';
  trigger?: 'file' | 'interval' | 'start';
  steps?: number;
  result?: string;
}

export interface WatchOptions {
  interval: string;
  debounce: string;
  dryRun?: boolean;
  json?: boolean;
}

/** Runs until SIGTERM or SIGINT. */
export async function watch(inputs: string[], o: WatchOptions): Promise<void> {
  const interval = parseDuration(o.interval);
  const debounce = parseDuration(o.debounce);
  const log = (e: Omit<Event, 'time'>) => {
    const ev: Event = { time: new Date().toISOString(), ...e };
    if (o.json) process.stdout.write(`${JSON.stringify(ev)}\n`);
    else
      process.stdout.write(
        `${ev.time} ${ev.lab} ${ev.event}${ev.trigger ? ` (${ev.trigger})` : ''}${ev.steps !== undefined ? ` steps=${ev.steps}` : ''}${ev.result ? ` ${ev.result}` : ''}\n`,
      );
  };
  const driver = new RealDriver();
  const stop = { requested: null as string | null };
  const lastGood = new Map<string, Lab>();
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;

  const reconcile = async (trigger: Event['trigger']) => {
    const files = await expandInputs(inputs).catch(() => [] as string[]);
    for (const file of files) {
      if (stop.requested) return;
      const { labs, issues } = await loadLabs([file], { cacheDir: (await labCacheDir()) ?? undefined });
      if (issues.length) {
        log({ lab: lastGood.get(file)?.name ?? file, event: 'invalid', trigger, result: issues.map(formatLabIssue).join('; ') });
      } else if (labs[0]) lastGood.set(file, labs[0]);
      const lab = lastGood.get(file);
      if (!lab) continue;
      try {
        // Applying plans under the lab's lock: one observation, and no other run in between.
        const steps = o.dryRun ? (await planLab(driver, lab)).plan.steps : (await applyLab(driver, lab, { stop })).steps;
        if (!steps.length) {
          if (trigger !== 'interval') log({ lab: lab.name, event: 'in-sync', trigger, steps: 0 });
          continue;
        }
        log({ lab: lab.name, event: 'changes', trigger, steps: steps.length });
        if (!o.dryRun) log({ lab: lab.name, event: 'applied', trigger, steps: steps.length, result: 'ok' });
      } catch (e) {
        log({ lab: lab.name, event: 'failed', trigger, result: (e as Error).message.split('\n').join(' | ') });
      }
    }
  };
  const schedule = (trigger: Event['trigger'], delay: number) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(() => reconcile(trigger));
    }, delay);
  };

  log({ lab: '-', event: 'start', result: `watching ${inputs.join(' ')} every ${o.interval}${o.dryRun ? ' (dry run)' : ''}` });
  running = reconcile('start');
  const dirs = new Set<string>();
  for (const i of inputs) dirs.add(resolve(i).endsWith('.yaml') || resolve(i).endsWith('.yml') ? dirname(resolve(i)) : resolve(i));
  // Editors save by rename, so directories are watched, not files.
  const watchers: FSWatcher[] = [...dirs].map((d) =>
    fsWatch(d, (_event, name) => {
      if (name && /\.ya?ml$/.test(String(name))) schedule('file', debounce);
    }),
  );
  const tick = setInterval(() => {
    running = running.then(() => reconcile('interval'));
  }, interval);

  await new Promise<void>((done) => {
    const finish = (sig: string) => {
      stop.requested = sig;
      clearInterval(tick);
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
      void running.then(() => {
        log({ lab: '-', event: 'stop', result: sig });
        done();
      });
    };
    process.once('SIGTERM', () => finish('SIGTERM'));
    process.once('SIGINT', () => finish('SIGINT'));
  });
}
