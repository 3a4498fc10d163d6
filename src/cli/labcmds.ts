// Working inside an applied lab: `netlab exec`, `netlab shell` and `netlab inspect`.
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { RealDriver, NETNS_DIR } from '../driver/real.js';
import { UsageError } from '../errors.js';
import { formatInspect, inspectLab } from './inspect.js';
import { findHost, labHosts, type HostNs } from './labinfo.js';
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

export function registerLabCommands<A extends unknown[], O extends OptionValues, G extends OptionValues>(program: Command<A, O, G>): void {
  program
    .command('exec')
    .description("run a command inside a host's network namespace (like ip netns exec / nsenter -n)")
    .argument('<lab>', 'lab name (as applied on this machine)')
    .argument('<host>', 'host of the lab')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('--file <file>', 'take the hosts from this lab file instead of the state record')
    .addHelpText(
      'after',
      '\nExample: netlab exec docker web -- ping -c1 172.17.0.3\n' +
        'The command sees NETLAB_LAB, NETLAB_HOST and NETLAB_NETNS.\n' +
        "Exit codes: the command's own (128+N when killed by signal N); 127 command not found; 1 unknown lab or host, or lab not applied.",
    )
    .action(async (lab, host, argv, o) => {
      const l = await labHosts(lab, o.file);
      process.exitCode = await runInHost(lab, findHost(l, host), argv);
    });

  program
    .command('shell')
    .description("open an interactive shell inside a host's network namespace ($SHELL or /bin/sh)")
    .argument('<lab>', 'lab name (as applied on this machine)')
    .argument('<host>', 'host of the lab')
    .option('--file <file>', 'take the hosts from this lab file instead of the state record')
    .addHelpText(
      'after',
      '\nThe shell sees NETLAB_LAB, NETLAB_HOST and NETLAB_NETNS (for your prompt; PS1 is set for shells that take it from the environment).\n' +
        "Exit codes: the shell's own; 1 unknown lab or host, or lab not applied.",
    )
    .action(async (lab, host, o) => {
      const h = findHost(await labHosts(lab, o.file), host);
      const shell = process.env.SHELL || '/bin/sh';
      out.info(`netlab: shell in ${where(lab, h)}; exit to leave`);
      process.exitCode = await runInHost(lab, h, [shell], { PS1: `[${lab}/${h.name}] \\w \\$ ` });
    });

  program
    .command('inspect')
    .description(
      'show a lab on the kernel now: hosts, interfaces, addresses, routes, sysctls, nft (NAT) rules, each marked live vs desired',
    )
    .argument('<lab>', 'lab name (as applied on this machine)')
    .option('--json', 'machine-readable result')
    .addHelpText(
      'after',
      '\nEach row is ok, drift (field: live -> desired), missing (desired, not live) or extra (live, not desired).\n' +
        'Exit codes: 0 in sync, 2 drifted, 1 error (unknown lab).',
    )
    .action(async (lab, o) => {
      const l = await labHosts(lab);
      const record = l.record!;
      const live = await new RealDriver().observe({ lab, namespaces: record.scope });
      const report = inspectLab(record, l.hosts, live.state);
      if (o.json) out.json(report);
      else for (const line of formatInspect(report)) out.line(line);
      process.exitCode = report.inSync ? 0 : 2;
    });
}
