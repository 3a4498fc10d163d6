// How the coordinator runs netlab on each machine of a lab: the system ssh for the others (batch
// mode, never a prompt; one multiplexed connection per machine per run, its socket in a private
// directory), a child process for the local one. Arguments go to ssh as an argv array; the
// remote command line is built only from words of a checked alphabet, each single-quoted.
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InternalError } from '../errors.js';
import type { Machine } from '../lab/types.js';

/** Words that may reach the remote shell: names, addresses, paths and flags netlab itself built. */
const SAFE_WORD = /^[A-Za-z0-9_./:@=,+-]+$/;

export function quoteWord(word: string): string {
  if (!SAFE_WORD.test(word)) throw new InternalError(`refusing to pass ${JSON.stringify(word)} to a remote shell`);
  return `'${word}'`;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** ssh's own failures (connection refused, lost, authentication) exit 255, never the remote command. */
export const SSH_FAILED = 255;

export interface Transport {
  machine: Machine;
  /** Who it is, for messages: `m2 (root@192.0.2.2)`. */
  label: string;
  /** Opens the connection (the check that the machine is reachable at all). */
  connect(): Promise<RunResult>;
  /** Runs `netlab ARGS` there, `input` on its stdin. */
  netlab(args: string[], input?: string): Promise<RunResult>;
  close(): Promise<void>;
}

/** The command that runs this netlab: the same node and script, which each machine must have at the same path. */
export function netlabCommand(): string[] {
  return [process.execPath, realpathSync(process.argv[1]!)];
}

async function run(cmd: string, args: string[], input: string | undefined): Promise<RunResult> {
  // Its own process group: a Ctrl-C reaches the coordinator, which then rolls back in order,
  // rather than cutting every connection at once.
  const r = await execa(cmd, args, { reject: false, input: input ?? '', detached: true, stripFinalNewline: false });
  return { code: r.exitCode ?? SSH_FAILED, stdout: r.stdout, stderr: r.stderr };
}

function localTransport(machine: Machine): Transport {
  const [node, script] = netlabCommand();
  return {
    machine,
    label: `${machine.name} (local)`,
    connect: async () => ({ code: 0, stdout: '', stderr: '' }),
    netlab: (args, input) => run(node!, [script!, ...args], input),
    close: async () => undefined,
  };
}

/**
 * ssh options: from the file NETLAB_SSH_CONFIG names when set (tests, or a team's own), else the
 * user's configuration as ssh reads it; host key checking is whatever that says.
 */
function sshBase(machine: Machine, socket: string): string[] {
  const ssh = machine.ssh!;
  const config = process.env.NETLAB_SSH_CONFIG;
  return [
    ...(config ? ['-F', config] : []),
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'ServerAliveInterval=5',
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    `ControlPath=${socket}`,
    ...(ssh.port !== null ? ['-p', String(ssh.port)] : []),
    ...(ssh.identity !== null ? ['-i', ssh.identity, '-o', 'IdentitiesOnly=yes'] : []),
    ...(ssh.user !== null ? ['-l', ssh.user] : []),
  ];
}

function sshTransport(machine: Machine, dir: string): Transport {
  const ssh = machine.ssh!;
  const socket = join(dir, machine.name);
  const base = sshBase(machine, socket);
  const remote = netlabCommand().map(quoteWord);
  return {
    machine,
    label: `${machine.name} (${ssh.user ? `${ssh.user}@` : ''}${ssh.host})`,
    // The master goes to the background once authenticated (-f) and lives at most a minute
    // after its last session, so a killed coordinator leaves no connection behind for long.
    connect: () => run('ssh', [...base, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=60', '-N', '-f', '--', ssh.host], undefined),
    netlab: (args, input) =>
      run('ssh', [...base, '-o', 'ControlMaster=no', '--', ssh.host, [...remote, ...args.map(quoteWord)].join(' ')], input),
    close: async () => {
      await run('ssh', [...base, '-O', 'exit', '--', ssh.host], undefined);
    },
  };
}

/** Transports to every machine; `close` ends their connections and removes the socket directory. */
export async function openTransports(machines: Machine[]): Promise<{ transports: Transport[]; close: () => Promise<void> }> {
  // mkdtemp makes the directory 0700: only this user can reach the connections through it.
  const dir = await mkdtemp(join(tmpdir(), 'netlab-ssh-'));
  const transports = machines.map((m) => (m.ssh ? sshTransport(m, dir) : localTransport(m)));
  return {
    transports,
    close: async () => {
      await Promise.all(transports.map((t) => t.close().catch(() => undefined)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
