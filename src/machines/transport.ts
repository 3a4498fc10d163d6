// How the coordinator runs netlab on each machine of a lab: the system ssh for the others (batch
// mode, never a prompt; one multiplexed connection per machine per run, its socket in a private
// directory, its master a child that ends with this process), a child process for the local one. Arguments go to ssh as an argv array; the
// remote command line is built only from words of a checked alphabet, each single-quoted.
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { existsSync, realpathSync, watch } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { InternalError, MachineError } from '../errors.js';
import { frame } from './frame.js';
import { identityProblem, parseSshDestination } from '../lab/machines.js';
import type { Machine, SshTarget } from '../lab/types.js';

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
  /** The ssh control socket, or null for the local machine. */
  socket: string | null;
  /** Opens the connection (the check that the machine is reachable at all). */
  connect(): Promise<RunResult>;
  /** Runs `netlab ARGS` there, `input` on its stdin. */
  netlab(args: string[], input?: string): Promise<RunResult>;
  /** The command and arguments that run `netlab ARGS` there, for a caller that wires its own stdio; `tty`: ssh -t. */
  command(args: string[], tty?: boolean): [string, string[]];
  close(): Promise<void>;
}

/** The command that runs this netlab: the same node and script, which each machine must have at the same path. */
export function netlabCommand(): string[] {
  return [process.execPath, realpathSync(process.argv[1]!)];
}

async function run(cmd: string, args: string[], input: string | undefined): Promise<RunResult> {
  // Its own process group: a Ctrl-C reaches the coordinator, which then rolls back in order,
  // rather than cutting every connection at once.
  const child = execa(cmd, args, { reject: false, stdin: 'pipe', detached: true, stripFinalNewline: false });
  // A slice goes framed and stdin stays open until the answer: if this process dies, the
  // machine sees stdin end and stops its run (see src/machines/frame.ts).
  if (input === undefined) child.stdin.end();
  else child.stdin.write(frame(input));
  child.stdin.on('error', () => undefined);
  const r = await child;
  child.stdin.destroy();
  return { code: r.exitCode ?? SSH_FAILED, stdout: r.stdout, stderr: r.stderr };
}

function localTransport(machine: Machine): Transport {
  const [node, script] = netlabCommand();
  return {
    machine,
    label: `${machine.name} (local)`,
    socket: null,
    connect: async () => ({ code: 0, stdout: '', stderr: '' }),
    netlab: (args, input) => run(node!, [script!, ...args], input),
    command: (args) => [node!, [script!, ...args]],
    close: async () => undefined,
  };
}

/**
 * ssh options: from the file NETLAB_SSH_CONFIG names when set (tests, or a team's own), else the
 * user's configuration as ssh reads it; host key checking is whatever that says.
 */
export function sshBase(ssh: SshTarget, socket: string): string[] {
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

/**
 * The target checked again here, not only in the lab file: destroy takes it from the
 * coordinator's record in the state directory, which is input like any other.
 */
export function checkTarget(name: string, ssh: SshTarget): void {
  const dest = parseSshDestination(ssh.user === null ? ssh.host : `${ssh.user}@${ssh.host}`);
  const portOk = ssh.port === null || (Number.isInteger(ssh.port) && ssh.port >= 1 && ssh.port <= 65535);
  const bad =
    (typeof dest === 'string' ? dest : null) ??
    (ssh.identity !== null ? identityProblem(ssh.identity) : null) ??
    (portOk ? null : `SSH port ${String(ssh.port)} is not a port number`);
  if (bad) throw new MachineError(`machine "${name}": ${bad}`);
}

/** The argv of ssh for the master connection (`connect`) and a remote netlab run. */
export function sshArgv(ssh: SshTarget, socket: string, what: 'connect' | { remote: string[]; tty?: boolean }): string[] {
  const base = sshBase(ssh, socket);
  // The master stays in the foreground as this process's child (no -f, no ControlPersist), so
  // its life is the run's: see startMaster.
  if (what === 'connect') return [...base, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=no', '-N', '--', ssh.host];
  // ssh joins its command words with spaces for the remote shell: one string of quoted words.
  return [...base, '-o', 'ControlMaster=no', ...(what.tty ? ['-t'] : []), '--', ssh.host, what.remote.map(quoteWord).join(' ')];
}

/**
 * The master connection's command line. setpriv gives it a parent-death signal, so it dies with
 * this process even when this one is killed; the shell between checks that this process was
 * still its parent once the signal was set, since a master orphaned before that would live on.
 */
export function masterCommand(ssh: SshTarget, socket: string): [string, string[]] {
  const guard = 'test "$PPID" = "$1" || exit 255; shift; exec "$@"';
  return [
    'setpriv',
    ['--pdeathsig', 'KILL', '--', 'sh', '-c', guard, 'sh', String(process.pid), 'ssh', ...sshArgv(ssh, socket, 'connect')],
  ];
}

/** A unix socket path has at most 107 bytes; ssh would go on without multiplexing rather than fail. */
const MAX_SOCKET_PATH = 107;

/**
 * Starts the master and resolves once it listens on its control socket (ssh creates it, by a
 * link, after authenticating) or when it ends first, with ssh's message. `stop` ends it.
 */
function startMaster(ssh: SshTarget, socket: string): { ready: Promise<RunResult>; stop: () => Promise<void> } {
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH)
    throw new MachineError(`the ssh control socket ${socket} is longer than ${MAX_SOCKET_PATH} bytes: set TMPDIR to a shorter directory`);
  const [cmd, args] = masterCommand(ssh, socket);
  // Its own process group, as for every ssh here: a Ctrl-C reaches the coordinator, which then
  // rolls back over this connection.
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += b.toString();
  });
  const ended = new Promise<number>((resolve) => {
    child.once('error', (e) => {
      stderr += `cannot run ${cmd} (from util-linux): ${e.message}\n`;
      resolve(SSH_FAILED);
    });
    child.once('close', (code) => resolve(code ?? SSH_FAILED));
  });
  const ready = new Promise<RunResult>((resolve) => {
    const dir = dirname(socket);
    const watcher = watch(dir, (_, name) => {
      if (name === basename(socket) && existsSync(socket)) done({ code: 0, stdout: '', stderr: '' });
    });
    // The master's end settles it in any case.
    watcher.on('error', () => undefined);
    let settled = false;
    const done = (r: RunResult) => {
      if (settled) return;
      settled = true;
      watcher.close();
      // Nothing waits on a master that listens: if the run ends without closing it, its
      // parent-death signal ends it.
      child.unref();
      (child.stderr as Socket).unref();
      resolve(r);
    };
    if (existsSync(socket)) done({ code: 0, stdout: '', stderr: '' });
    void ended.then((code) => done({ code: code === 0 ? SSH_FAILED : code, stdout: '', stderr }));
  });
  return {
    ready,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        // Waited on again until it has ended.
        child.ref();
        (child.stderr as Socket).ref();
        child.kill('SIGTERM');
      }
      await ended;
    },
  };
}

function sshTransport(machine: Machine, socket: string): Transport {
  const ssh = machine.ssh!;
  const remote = netlabCommand();
  let master: ReturnType<typeof startMaster> | undefined;
  return {
    machine,
    label: `${machine.name} (${ssh.user ? `${ssh.user}@` : ''}${ssh.host})`,
    socket,
    connect: async () => {
      master ??= startMaster(ssh, socket);
      return master.ready;
    },
    netlab: (args, input) => run('ssh', sshArgv(ssh, socket, { remote: [...remote, ...args] }), input),
    command: (args, tty) => ['ssh', sshArgv(ssh, socket, { remote: [...remote, ...args], tty })],
    close: async () => {
      await master?.stop();
    },
  };
}

/** Transports to every machine; `close` ends their connections and removes the socket directory. */
export async function openTransports(machines: Machine[]): Promise<{ transports: Transport[]; dir: string; close: () => Promise<void> }> {
  for (const m of machines) if (m.ssh) checkTarget(m.name, m.ssh);
  // mkdtemp makes the directory 0700: only this user can reach the connections through it.
  const dir = await mkdtemp(join(tmpdir(), 'netlab-ssh-'));
  // Sockets named by position, not machine name: a unix socket path has at most 107 bytes.
  const transports = machines.map((m, i) => (m.ssh ? sshTransport(m, join(dir, `c${i}`)) : localTransport(m)));
  return {
    transports,
    dir,
    close: async () => {
      await Promise.all(transports.map((t) => t.close().catch(() => undefined)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
