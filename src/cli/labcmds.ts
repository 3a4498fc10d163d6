// Working inside an applied lab: `netlab exec` and `netlab shell`.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { NETNS_DIR } from '../driver/real.js';
import { UsageError } from '../errors.js';
import { acrossMachinesFile, coordinates } from './across-detect.js';
import { findHost, labHosts, type HostNs } from './labinfo.js';
import { loadValidLabs, readInputs } from './labs.js';
import type { HereRequest } from './machine-view.js';
import { out } from './output.js';

/** Exit code when the command to run does not exist (as shells do). */
export const EXIT_NOT_FOUND = 127;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The command's path on PATH (the host's mount namespace is this process's, so lookups agree). */
export function findCommand(cmd: string, path = process.env.PATH ?? ''): string | null {
  if (cmd.includes('/')) return executable(cmd) ? cmd : null;
  for (const dir of path.split(delimiter)) {
    if (dir && executable(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

function where(lab: string, h: HostNs): string {
  return `host "${h.name}" of lab "${lab}" (${h.ns ? `netns ${h.ns}` : 'the root namespace'})`;
}

/** Runs argv inside a host's namespace with the terminal attached; resolves to its exit code. */
export async function runInHost(lab: string, h: HostNs, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  if (h.ns && !existsSync(join(NETNS_DIR, h.ns))) {
    const err = new UsageError(`${where(lab, h)}: namespace ${join(NETNS_DIR, h.ns)} does not exist`);
    err.hints.push(`is the lab applied? netlab status --lab ${lab}`);
    throw err;
  }
  if (!findCommand(argv[0]!)) {
    process.stderr.write(`netlab: ${where(lab, h)}: command not found: ${argv[0]}\n`);
    return EXIT_NOT_FOUND;
  }
  const [cmd, args] = h.ns ? ['ip', ['netns', 'exec', h.ns, ...argv]] : [argv[0]!, argv.slice(1)];
  const child = spawn(cmd, args, {
    stdio: 'inherit',
    env: { ...process.env, NETLAB_LAB: lab, NETLAB_HOST: h.name, NETLAB_NETNS: h.ns, ...env },
  });
  // The child owns the terminal: a Ctrl-C reaches it; netlab waits for its exit code.
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (e) => reject(new UsageError(`${where(lab, h)}: cannot run ${argv[0]}: ${e.message}`)));
      child.once('exit', (code, signal) =>
        resolve(code ?? 128 + ((signal && (osConstants.signals as Record<string, number>)[signal]) || 1)),
      );
    });
  } finally {
    process.off('SIGINT', ignore);
  }
}

/**
 * Runs the request on its host's machine when the lab spans machines, known from `file` when
 * given (its placement says the machine) or from this machine's record; null when it does not.
 */
async function onItsMachine(r: HereRequest, file: string | undefined, tty: boolean): Promise<number | null> {
  if (file === undefined) return (await coordinates(r.lab)) ? (await import('./across-view.js')).runAcross(r, tty) : null;
  const inputs = await readInputs([file]);
  if (!acrossMachinesFile(inputs)) return null;
  const [l] = await loadValidLabs(inputs);
  if (!l?.machines) return null;
  if (l.name !== r.lab) throw new UsageError(`${file} defines lab "${l.name}", not "${r.lab}"`);
  return (await import('./across-view.js')).runAcross(r, tty, undefined, l);
}

/** Runs a command in a host of an applied lab; resolves to its exit code. */
export async function exec(lab: string, host: string, argv: string[], o: { file?: string }): Promise<number> {
  const across = await onItsMachine({ cmd: 'exec', lab, host, argv }, o.file, Boolean(process.stdin.isTTY));
  if (across !== null) return across;
  const l = await labHosts(lab, o.file);
  return runInHost(lab, findHost(l, host), argv);
}

/** An interactive shell in a host of an applied lab; resolves to its exit code. */
export async function shell(lab: string, host: string, o: { file?: string }): Promise<number> {
  // A shell needs a terminal there: ssh -t.
  const across = await onItsMachine({ cmd: 'shell', lab, host }, o.file, true);
  if (across !== null) return across;
  return shellIn(lab, findHost(await labHosts(lab, o.file), host));
}

/** The shell in a host of a lab on this machine. */
export async function shellIn(lab: string, h: HostNs): Promise<number> {
  const program = process.env.SHELL || '/bin/sh';
  out.info(`netlab: shell in ${where(lab, h)}; exit to leave`);
  return runInHost(lab, h, [program], { PS1: `[${lab}/${h.name}] \\w \\$ ` });
}
