// Processes: `run` entries (long-running, started detached once the network is up) and `exec`
// entries (one-shot, run once after the host is created). Both are objects observed from the
// lab's process record (src/driver/processes.ts), diffed and planned like any kernel object:
//
// - desired `run` is `running`; a live one that died (or whose namespace was recreated) is
//   `stopped`, and the plan restarts it (1 step); a changed command restarts it too.
// - desired `exec` is `done`; the record says done only for the namespace it ran in, so a new
//   namespace runs it again, as does a changed command. Rollback records instead of running.
// - deleting stops a `run` process (SIGTERM, SIGKILL after a grace period; never a process the
//   record does not prove netlab started) and forgets an `exec`.
import { dirname, resolve } from 'node:path';
import type { Lab } from '../lab/types.js';
import { PHASE, type Operation, type ProcAction } from './operations.js';
import type { Kind } from './kind.js';
import { ids, nsLabel, type ProcessObj } from './objects.js';

export function desiredProcesses(lab: Lab): ProcessObj[] {
  const out: ProcessObj[] = [];
  // Commands run where the lab file is, so a lab can name files next to it (like compose files).
  const dir = dirname(resolve(lab.file));
  for (const h of lab.hosts)
    for (const p of h.processes ?? [])
      out.push({
        kind: 'process',
        id: ids.process(h.ns, p.name),
        ns: h.ns,
        lab: lab.name,
        host: h.name,
        name: p.name,
        mode: p.mode,
        command: p.command,
        state: p.mode === 'run' ? 'running' : 'done',
        seq: p.seq,
        timeout: p.timeout,
        dir,
      });
  return out;
}

function proc(action: ProcAction, o: ProcessObj): Operation {
  return { op: 'proc', ns: o.ns, action, proc: o, phase: o.mode === 'run' ? PHASE.process : PHASE.exec };
}

/** Starts a `run` process or runs an `exec` one; with `restore`, only records an exec as done (rollback never re-runs one). */
export function createProcess(o: ProcessObj, restore = false): Operation[] {
  if (o.mode === 'run') return [proc('start', o)];
  return [proc(restore ? 'record' : 'exec', o)];
}

/** A stopped or changed `run` process is stopped (its leftovers too) and started again; a changed exec runs again. */
export function modifyProcess(live: ProcessObj, desired: ProcessObj, restore = false): Operation[] {
  if (desired.mode === 'run' && live.mode === 'run') return [proc('stop', live), ...createProcess(desired)];
  if (desired.mode === 'exec' && live.mode === 'run') return [proc('stop', live), ...createProcess(desired, restore)];
  if (desired.mode === 'run' && live.mode === 'exec') return [proc('forget', live), ...createProcess(desired)];
  return createProcess(desired, restore);
}

export function deleteProcess(o: ProcessObj): Operation[] {
  return [proc(o.mode === 'run' ? 'stop' : 'forget', o)];
}

export const processKind: Kind<ProcessObj> = {
  kind: 'process',
  describe: (o) => `${o.mode === 'exec' ? 'exec' : 'process'} ${o.host}/${o.name} in ${nsLabel(o.ns)}`,
  desired: desiredProcesses,
  // Order, timeout and directory are how it runs, not what runs: moving a lab restarts nothing.
  comparable: ({ seq: _seq, timeout: _timeout, dir: _dir, ...rest }) => rest,
  create: (o, ctx) => createProcess(o, ctx.restore),
  modify: (live, desired, ctx) => modifyProcess(live, desired, ctx.restore),
  remove: deleteProcess,
  // A process keeps its namespace alive: it is stopped before the namespace goes.
  outlivesNamespace: true,
};
