// Rules about a host's processes (run/exec): names unique per host, and a command the kernel can pass.
import type { HostEntry, LabContext } from './context.js';
import type { Path } from './locate.js';
import { execEntries } from './normalise-processes.js';

export function checkProcesses(ctx: LabContext, host: HostEntry): void {
  const seen = new Map<string, string>();
  const claim = (name: string, path: Path, where: string) => {
    const first = seen.get(name);
    if (first)
      ctx.report(path, `process name "${name}" is already used by ${first} in host "${host.name}": run and exec names are unique per host`);
    else seen.set(name, where);
  };
  for (const [i, x] of execEntries(host).entries()) claim(x.name, [...host.path, 'exec', i], `exec[${i}]`);
  for (const [i, r] of (host.raw.run ?? []).entries()) claim(r.name, [...host.path, 'run', i, 'name'], `run[${i}]`);
  for (const [i, x] of (host.raw.exec ?? []).entries())
    checkCommand(ctx, typeof x === 'string' ? x : x.command, [...host.path, 'exec', i, ...(typeof x === 'string' ? [] : ['command'])]);
  for (const [i, r] of (host.raw.run ?? []).entries()) checkCommand(ctx, r.command, [...host.path, 'run', i, 'command']);
}

/** The kernel's limit on one argument string, its terminating NUL included (MAX_ARG_STRLEN, 32 pages of 4 KiB). */
export const MAX_ARG_STRLEN = 131072;

/** A command is one argument of `sh -c`: the kernel cannot pass a NUL in it, nor one longer than MAX_ARG_STRLEN (E2BIG). */
function checkCommand(ctx: LabContext, command: string, path: Path): void {
  const nul = command.indexOf('\0');
  if (nul >= 0) {
    ctx.report(path, `command contains a NUL character (at character ${nul + 1}): a command line cannot carry one; remove it`);
    return;
  }
  const bytes = Buffer.byteLength(command, 'utf8');
  if (bytes + 1 > MAX_ARG_STRLEN)
    ctx.report(
      path,
      `command is ${bytes} bytes: the kernel passes at most ${MAX_ARG_STRLEN - 1} (MAX_ARG_STRLEN, ${MAX_ARG_STRLEN} bytes with its terminating NUL) in one argument; put the script in a file and run that`,
    );
}
