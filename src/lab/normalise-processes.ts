// Normalisation of a host's `exec` and `run` processes (semantic-processes.ts already checked them).
import type { HostEntry, LabContext } from './context.js';
import type { RawExec } from './raw.js';
import type { HostProcess } from './types.js';

/** Default seconds an `exec` command may take. */
export const EXEC_TIMEOUT = 60;

/** `exec` entries as objects: a string is `{ name: execN, command }` (N its position from 1). */
export function execEntries(host: HostEntry): RawExec[] {
  return (host.raw.exec ?? []).map((x, i) => (typeof x === 'string' ? { name: `exec${i + 1}`, command: x } : x));
}

export function normaliseProcesses(ctx: LabContext, host: HostEntry): HostProcess[] | undefined {
  const out: HostProcess[] = [];
  for (const [i, x] of execEntries(host).entries())
    out.push({
      name: x.name,
      mode: 'exec',
      command: x.command,
      timeout: x.timeout ?? EXEC_TIMEOUT,
      seq: i,
      pos: ctx.locator.source([...host.path, 'exec', i]),
    });
  for (const [i, r] of (host.raw.run ?? []).entries())
    out.push({ name: r.name, mode: 'run', command: r.command, timeout: null, seq: i, pos: ctx.locator.source([...host.path, 'run', i]) });
  return out.length ? out : undefined;
}
