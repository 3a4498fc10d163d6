// The command line: every command's arguments, options and help, so that `--help` and shell
// completion know them all. No command's code is here: each action imports the module that
// implements its command when the command runs (see `lazy`), so a run loads only its own
// command's modules and start-up, a large part of a small apply, stays short.
import { Argument, Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { EXIT_ERROR, EXIT_OK, exitCodeOf } from '../errors.js';
import { out, printError } from './output.js';

const EXIT_CODES_HELP = `
Exit codes:
  0  success, nothing pending
  1  error; the kernel is as it was before the run (invalid input, failed apply rolled back, lock busy)
  2  changes pending (plan, apply --dry-run, status or inspect with drift)
  3  a failure whose rollback did not complete; run "netlab gc" or re-run to finish the undo
  exec and shell exit with the command's own code (127: command not found); test exits 1 when an assertion fails`;

let exitCode = EXIT_OK;

/**
 * The action of a command implemented by the function `name` of a module that is imported only
 * when the command runs. The function gets the command's arguments and options; what it returns
 * is the exit code (nothing: 0).
 */
function lazy<M, K extends keyof M>(load: () => Promise<M>, name: K) {
  type Run = Extract<M[K], (...args: never[]) => Promise<number | void> | number | void>;
  return async (...args: Parameters<Run>): Promise<void> => {
    const run = (await load())[name] as Run;
    exitCode = (await run(...args)) ?? EXIT_OK;
  };
}

/** A whole-number option value. */
function count(what: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${what} must be a whole number`);
    return Number(v);
  };
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
    .action(lazy(() => import('./validate.js'), 'validate'));

  program
    .command('schema')
    .description('print the JSON Schema of lab files')
    .action(lazy(() => import('./validate.js'), 'schema'));

  program
    .command('plan')
    .description('read live state and print the steps apply would run')
    .argument('<files...>', 'lab files or directories')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'markdown'] as const).default('text' as const))
    .option('--json', 'same as --format json')
    .option('-o, --out <file>', 'also write the JSON plan document to a file (for apply --plan)')
    .addHelpText('after', '\nExit codes: 0 no changes, 2 changes pending, 1 error.')
    .action(lazy(() => import('./apply.js'), 'plan'));

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
    .action(lazy(() => import('./apply.js'), 'apply'));

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
    .action(lazy(() => import('./apply.js'), 'destroy'));

  program
    .command('status')
    .description('labs present on this machine, their objects, and drift from the last apply')
    .option('--lab <name>', 'only this lab')
    .option('--json', 'machine-readable result')
    .addHelpText('after', '\nExit codes: 0 no drift, 2 a lab has drifted (or has an unfinished run), 1 error.')
    .action(lazy(() => import('./status.js'), 'status'));

  program
    .command('gc')
    .description('finish interrupted runs and remove leftovers of labs whose state is gone or broken')
    .option('-y, --yes', 'do not ask for confirmation on a terminal')
    .option('--dry-run', 'only report')
    .option('--json', 'machine-readable result: { pending, lines }')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(lazy(() => import('./apply.js'), 'gc'));

  program
    .command('gen')
    .description(
      'generate a scale lab: N hosts on veths to a hub bridge (several, chained, above 1023 hosts), with optional DNAT rules and a service',
    )
    .requiredOption('--hosts <n>', 'number of hosts besides the hub', count('--hosts'))
    .option('--name <name>', 'lab name (namespace prefix)', 'scale')
    .option('--dnat <n>', 'published ports (DNAT rules) on the hub', count('--dnat'), 0)
    .option('--backends <n>', 'backends of one load-balanced service (VIP 10.96.0.10:80) on the hub', count('--backends'), 0)
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .addHelpText(
      'after',
      '\nHost i gets 10.10.x.y/16 (from 10.10.0.2 up), the hub 10.10.0.1/16 on br0. The output passes `netlab validate`.',
    )
    .action(lazy(() => import('./gen.js'), 'gen'));

  program
    .command('watch')
    .description('reconcile loop: apply lab files whenever they change or the kernel drifts from them')
    .argument('<inputs...>', 'lab files or directories')
    .option('--interval <duration>', 'also re-plan this often (drift)', '30s')
    .option('--debounce <duration>', 'wait this long after a file event', '300ms')
    .option('--dry-run', 'only report what would change')
    .option('--json', 'one JSON object per line: time, lab, event, steps, result')
    .addHelpText('after', '\nRuns until SIGTERM/SIGINT, which stop it at a step boundary (a run in progress is rolled back) with exit 0.')
    .action(lazy(() => import('./watch.js'), 'watch'));

  program
    .command('serve')
    .description(
      'keep one netlab process warm: apply, plan, destroy, status and validate run by other netlab invocations are handed to it (fastest for repeated small changes)',
    )
    .option('--idle <duration>', 'stop after this long without a request (default: run until stopped)')
    .addHelpText(
      'after',
      "\nListens on the .serve.sock socket in netlab's state directory (root only). A command that would ask for confirmation on a terminal, NETLAB_SERVE=0, or a server busy with another run or started from another build: the command runs in its own process as usual. Runs until SIGTERM/SIGINT; a run in progress finishes (or is rolled back) first.",
    )
    .action(lazy(() => import('./serve.js'), 'serve'));

  program
    .command('link')
    .description(
      'change a link of an applied lab right now (up/down, rate, delay, loss, ...) for demonstrations: a runtime override that status and plan show as drift and the next apply reverts',
    )
    .argument('<lab>', 'lab name (or lab file)')
    .argument('<endpoint>', 'HOST:IF, the interface as written in the lab')
    .argument('[state]', 'up or down')
    .option('--rate <rate>', 'rate limit, e.g. 5mbit (off removes it)')
    .option('--burst <size>', 'token bucket size, e.g. 32kb')
    .option('--delay <duration>', 'added delay, e.g. 100ms')
    .option('--jitter <duration>', 'random variation of the delay, e.g. 10ms')
    .option('--loss <percent>', 'random loss, e.g. 5%')
    .option('--duplicate <percent>', 'duplicated packets, e.g. 1%')
    .option('--reorder <percent>', 'reordered packets, e.g. 25% (needs a delay)')
    .option('--corrupt <percent>', 'corrupted packets, e.g. 0.1%')
    .option('--limit <packets>', 'queue length in packets')
    .option('--clear', 'remove every condition first (then apply the flags given)')
    .option('--json', 'machine-readable result')
    .addHelpText(
      'after',
      '\nWithout a state or a flag, shows the link and its conditions. Values given change only those conditions;\n"off" removes one. Exit codes: 0 done, 1 error (nothing was changed).',
    )
    .action(lazy(() => import('./link.js'), 'link'));

  program
    .command('capture')
    .description('capture packets on an interface of an applied lab (tcpdump in its namespace)')
    .argument('<lab>', 'lab name (or lab file)')
    .argument('<endpoint>', 'HOST:IF, the interface as written in the lab')
    .argument('[filter...]', 'tcpdump filter, after --, e.g. -- icmp or -- tcp port 80')
    .option('-w, --write <file>', 'write a pcap file; "-" writes pcap to stdout (the default when stdout is not a terminal)')
    .option('-c, --count <n>', 'stop after this many packets')
    .addHelpText(
      'after',
      '\nExamples:\n  netlab capture docker web:eth0 -w web.pcap -c 100 -- tcp port 80\n  netlab capture docker web:eth0 | wireshark -k -i -\n' +
        'Ctrl-C ends the capture; the number of packets captured goes to stderr. Exit codes: 0 done, 1 error.',
    )
    .action(lazy(() => import('./capture.js'), 'capture'));

  program
    .command('logs')
    .description("print the output of a host's processes (run and exec)")
    .argument('<lab>', 'lab name')
    .argument('<host>', 'host name')
    .argument('[name]', 'process name (default: every process of the host)')
    .option('-f, --follow', 'keep printing new output until interrupted')
    .addHelpText(
      'after',
      '\nLogs live in /run/netlab/<lab>/logs/<host>-<name>.log until the lab is destroyed.\nExit codes: 0 printed, 1 unknown lab, host or process.',
    )
    .action(lazy(() => import('./logs.js'), 'logs'));

  program
    .command('exec')
    .description("run a command inside a host's network namespace (like ip netns exec / nsenter -n)")
    .argument('<lab>', 'lab name (as applied on this machine)')
    .argument('<host>', 'host of the lab')
    .argument('<command...>', 'the command and its arguments (after HOST, or after --)')
    .option('--file <file>', 'take the hosts from this lab file instead of the state record')
    .addHelpText(
      'after',
      '\nExample: netlab exec docker web ping -c1 172.17.0.3 (or: netlab exec docker web -- ping -c1 172.17.0.3)\n' +
        'Options of exec (--file) go before the command: everything after HOST is the command.\n' +
        'The command sees NETLAB_LAB, NETLAB_HOST and NETLAB_NETNS.\n' +
        "Exit codes: the command's own (128+N when killed by signal N); 127 command not found; 1 unknown lab or host, or lab not applied.",
    )
    .action(lazy(() => import('./labcmds.js'), 'exec'));

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
    .action(lazy(() => import('./labcmds.js'), 'shell'));

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
    .action(lazy(() => import('./inspect.js'), 'inspect'));

  program
    .command('graph')
    .description('draw a lab file: hosts, bridges, links (interface names, VLANs), addresses, NAT, as Mermaid, DOT or SVG')
    .argument('<file>', 'lab file')
    .addOption(
      new Option('--format <format>', 'output format').choices(['mermaid', 'dot', 'svg', 'json'] as const).default('mermaid' as const),
    )
    .option('--json', 'same as --format json (the nodes and edges)')
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .addHelpText(
      'after',
      '\nsvg runs Graphviz (`dot -Tsvg`); without it: apt-get install graphviz.\nExit codes: 0 drawn, 1 invalid lab file or Graphviz missing.',
    )
    .action(lazy(() => import('./graph.js'), 'graph'));

  program
    .command('ui')
    .description('show the applied labs live in a browser: graph, link state and traffic, conditions, drift, processes; act on links')
    .argument('[labs...]', 'lab names (default: every applied lab)')
    .option('--listen <address:port>', 'where to listen; an address other than loopback needs this flag (default 127.0.0.1:8080)')
    .option('--read-only', 'refuse every action (link down/up, conditions, capture)')
    .addHelpText(
      'after',
      "\nPrints the page's URL with its access token. Reads are open on loopback; off loopback every request needs the token,\n" +
        'and actions need it everywhere. Viewing changes nothing in the kernel. Exit codes: 0 stopped, 1 a lab not applied, a port in use.',
    )
    .action(lazy(() => import('./ui.js'), 'ui'));

  program
    .command('test')
    .description("run the labs' reachability assertions (expect:) against the applied labs")
    .argument('<files...>', 'lab files or directories')
    .option('--junit <file>', 'also write the results as JUnit XML')
    .option('--tap', 'print TAP version 13 instead of the text report')
    .option('--json', 'machine-readable result')
    .option('--timeout <duration>', 'wait this long for each answer (connect, reply, ping)', '1s')
    .addHelpText(
      'after',
      '\nTCP/UDP assertions start a small responder (answering with its host name) at the destination: the host owning the\n' +
        'address, or the DNAT targets of a published port or service VIP; netlab stops it afterwards. ICMP uses ping.\n' +
        'Exit codes: 0 every assertion passed, 1 an assertion failed or could not run (lab not applied, invalid file).',
    )
    .action(lazy(() => import('./test.js'), 'test'));

  // Run by the coordinator of a lab across machines on each machine, over ssh; not for people.
  const machine = program.command('machine', { hidden: true }).description('commands a coordinator runs on each machine of a lab');
  machine
    .command('probe')
    .option('--to <address...>', "the other machines' underlay addresses")
    .action(lazy(() => import('./machine.js'), 'probe'));
  machine
    .command('plan')
    .option('--remove <lab>', "remove this machine's part of the lab instead (no slice)")
    .action(lazy(() => import('./machine.js'), 'plan'));
  machine
    .command('apply')
    .option('--remove <lab>', "remove this machine's part of the lab instead (no slice)")
    .action(lazy(() => import('./machine.js'), 'apply'));
  machine
    .command('commit')
    .requiredOption('--lab <name>', 'the lab')
    .action(lazy(() => import('./machine.js'), 'commit'));
  machine
    .command('rollback')
    .requiredOption('--lab <name>', 'the lab')
    .action(lazy(() => import('./machine.js'), 'rollback'));
  machine
    .command('destroy')
    .requiredOption('--lab <name>', 'the lab')
    .action(lazy(() => import('./machine.js'), 'destroy'));
  machine
    .command('test')
    .option('--timeout <duration>', 'per assertion', '1s')
    .action(lazy(() => import('./machine.js'), 'test'));
  machine
    .command('status')
    .requiredOption('--lab <name>', 'the lab')
    .action(lazy(() => import('./machine-view.js'), 'status'));
  machine
    .command('inspect')
    .requiredOption('--lab <name>', 'the lab')
    .action(lazy(() => import('./machine-view.js'), 'inspect'));
  machine
    .command('watch')
    .requiredOption('--lab <name>', 'the lab')
    .action(lazy(() => import('../ui/watch-here.js'), 'watch'));
  machine
    .command('hosts')
    .requiredOption('--lab <name>', 'the lab')
    .action(lazy(() => import('./machine-view.js'), 'hosts'));
  machine
    .command('respond')
    .requiredOption('--lab <name>', 'the lab')
    .action(lazy(() => import('./machine-view.js'), 'respond'));
  machine
    .command('here')
    .argument('<request>', 'what to run, as base64url JSON')
    .action(lazy(() => import('./machine-view.js'), 'here'));

  program
    .command('completion')
    .description('print a shell completion script (commands, options, lab and host names)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh'] as const))
    .addHelpText(
      'after',
      '\nbash: source <(netlab completion bash)   (or save it to /etc/bash_completion.d/netlab)\n' +
        'zsh:  source <(netlab completion zsh)    (after compinit)\n' +
        'Exit codes: 0 printed, 1 unknown shell.',
    )
    .action(lazy(() => import('./completion.js'), 'completion'));

  return program;
}

/** Runs one command line; gives its exit code (`netlab serve` runs many in one process). */
export async function run(argv: string[]): Promise<number> {
  exitCode = EXIT_OK;
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(withExecSeparator(argv));
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT_OK;
    if (e.code?.startsWith('commander.')) return EXIT_ERROR;
    printError(err);
    return exitCodeOf(err);
  }
  return exitCode;
}

/**
 * `netlab exec LAB HOST ip -br addr`, typed as `ip netns exec` and `kubectl exec` users type it:
 * the command after HOST is the command, options and all, so a `--` is put before it when the
 * user wrote none (commander would take `-br` for an option of exec).
 */
export function withExecSeparator(argv: string[]): string[] {
  let i = 2;
  while (i < argv.length && argv[i]!.startsWith('-')) i++;
  if (argv[i] !== 'exec') return argv;
  let positionals = 0;
  for (let j = i + 1; j < argv.length; j++) {
    const a = argv[j]!;
    if (a === '--') return argv;
    if (a === '--file') j++;
    else if (!a.startsWith('-') && ++positionals === 2)
      return j + 1 < argv.length && argv[j + 1] !== '--' ? [...argv.slice(0, j + 1), '--', ...argv.slice(j + 1)] : argv;
  }
  return argv;
}

/**
 * Runs the command line of this process. Node exits on its own once the output has drained: a
 * process.exit() here would cut off what stdout still holds for a pipe.
 */
export async function main(argv: string[]): Promise<void> {
  process.exitCode = await run(argv);
}
