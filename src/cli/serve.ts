// `netlab serve`: one warm netlab process that runs the engine commands other netlab invocations
// hand it (client.ts), one at a time, as Bazel's or Gradle's servers do. A fresh process pays
// Node's start, loading netlab and a cold JIT on every run (most of a small change to a large
// lab); here they are paid once. The run is the same code as in-process: the same locks, the
// same checks, the same output (plain lines: the server has no terminal), the same exit code.
import { AsyncLocalStorage } from 'node:async_hooks';
import { statSync } from 'node:fs';
import { chmod, link, mkdir, rm, stat } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { UsageError } from '../errors.js';
import { parseDuration } from './duration.js';
import { interrupt, resetInterrupt } from './interrupt.js';
import { stripColour } from './output.js';
import {
  CHANGING,
  codeIdentity,
  directoryProblem,
  frame,
  LineReader,
  MAX_REQUEST_BYTES,
  requestEnv,
  requestProblem,
  servedCommand,
  serveSocketPath,
  type Request,
} from './wire.js';

/** The server's own log line, on its stderr (never a client's: see routeOutput). */
const log = (text: string) => process.stderr.write(`netlab serve: ${text}\n`);

export interface ServeOptions {
  idle?: string;
}

/** One client's run. Its output goes to its client while it runs, and nowhere after. */
export interface Run {
  socket: Pick<Socket, 'write' | 'end' | 'destroyed'>;
  req: Request;
  ended: boolean;
  /** The client was let go before the run ended (Ctrl-C on a command that only reads). */
  released: boolean;
}

/** The run whose code is executing: async work a run starts carries it along. */
export const currentRun = new AsyncLocalStorage<Run>();

type Write = (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;

/**
 * Sends what a run writes to stdout and stderr to its client, by the run it comes from: output a
 * run makes after it ended (a late timer) is dropped, never shown to the next client; output of
 * no run (the server's own) goes where it went before.
 */
export function routeOutput(streams: { stdout: { write: Write }; stderr: { write: Write } }): void {
  const route =
    (kind: 'o' | 'e', before: Write): Write =>
    (chunk, ...rest) => {
      const run = currentRun.getStore();
      if (!run) return before(chunk, ...rest);
      // Plain text: colours were decided when the server started, for its own terminal.
      if (!run.ended && !run.released && !run.socket.destroyed)
        run.socket.write(frame(kind, typeof chunk === 'string' ? stripColour(chunk) : Buffer.from(chunk)));
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    };
  streams.stdout.write = route('o', streams.stdout.write.bind(streams.stdout));
  streams.stderr.write = route('e', streams.stderr.write.bind(streams.stderr));
}

/** Whether a server answers on the socket. */
function answering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

/** Answers a request the server will not run, says why, and lets the connection go. */
function refuse(socket: Socket, why: string): void {
  log(`refused a request: ${why}`);
  // Nothing more is read from it; it goes once the answer is out.
  socket.pause();
  socket.end(frame('f', why), () => socket.destroy());
}

/** Whether the server's own code is still what it started with (a rebuild rewrites main.js). */
function sameCode(identity: string): boolean {
  try {
    return codeIdentity() === identity;
  } catch {
    return false; // main.js is gone (mid-rebuild or uninstalled)
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Runs one request in its client's environment (NETLAB_* and colour switches: the client's, not
 * the server's) and directory, and puts the server's back afterwards, whatever happened.
 */
async function runFor(run: Run, exec: (argv: string[]) => Promise<number>): Promise<number> {
  const savedEnv = requestEnv(process.env);
  const env = requestEnv(run.req.env);
  const cwd = process.cwd();
  try {
    for (const k of Object.keys(savedEnv)) delete process.env[k];
    Object.assign(process.env, env);
    process.chdir(run.req.cwd);
    return await currentRun.run(run, () => exec(['node', 'netlab', ...run.req.args]));
  } catch (err) {
    currentRun.run(run, () => process.stderr.write(`netlab serve: ${err instanceof Error ? err.message : String(err)}\n`));
    return 1;
  } finally {
    run.ended = true;
    // A command may set the process's exit code; the server's own is not the run's.
    process.exitCode = undefined;
    for (const k of Object.keys(env)) delete process.env[k];
    Object.assign(process.env, savedEnv);
    try {
      process.chdir(cwd);
    } catch {
      // the server's directory is gone: it keeps the client's
    }
    resetInterrupt();
  }
}

/**
 * Listens on the socket path, root-only from the start. Two servers started at once must not
 * both take it (the second would unlink the first's socket, leaving it listening on nothing):
 * each binds a name of its own and links it to the path, which only one link can create; a
 * socket already there is replaced only when nothing answers on it. Gives the socket's inode.
 */
async function claimSocket(server: Server, path: string): Promise<number> {
  const own = `${path}.${process.pid}`;
  await rm(own, { force: true });
  const umask = process.umask(0o077);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(own, resolve);
    });
  } finally {
    process.umask(umask);
  }
  try {
    await chmod(own, 0o600);
    for (let attempt = 0; ; attempt++) {
      try {
        await link(own, path);
        return (await stat(path)).ino;
      } catch (err) {
        // Anything but a name already taken (a read-only directory, say) is said as it is.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (attempt > 0 || (await answering(path))) throw new UsageError(`netlab serve is already running on ${path}`);
        await rm(path, { force: true }); // a dead server's socket
      }
    }
  } catch (err) {
    server.close();
    throw err;
  } finally {
    await rm(own, { force: true });
  }
}

export async function serve(o: ServeOptions): Promise<number> {
  const path = serveSocketPath();
  const idleMs = o.idle ? parseDuration(o.idle) : 0;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Clients would not use a socket there (see checkServeSocket): say so now, not on every run.
  const uid = process.getuid?.() ?? -1;
  const unsafe = directoryProblem(dirname(path), uid);
  if (unsafe)
    throw new UsageError(
      `netlab serve cannot offer a socket in ${dirname(path)}: ${unsafe.why ?? `it belongs to another user`}; ${unsafe.fix}`,
    );
  if (await answering(path)) throw new UsageError(`netlab serve is already running on ${path}`);
  const identity = codeIdentity();
  // Runs never see a terminal, whatever the server was started on: they never ask, never animate.
  for (const stream of [process.stdin, process.stdout, process.stderr]) stream.isTTY = false;
  routeOutput(process as unknown as Parameters<typeof routeOutput>[0]);
  const { run } = await import('./main.js');
  // Loaded now, so the first request is as quick as the rest.
  await Promise.all([import('./apply.js'), import('./status.js'), import('./validate.js'), import('../lab/check.js')]);

  let active: Run | null = null;
  /** The run in progress (settled when none): the server ends only after it. */
  let running: Promise<void> = Promise.resolve();
  let idleTimer: NodeJS.Timeout | null = null;
  let stop: (why: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const idle = (on: boolean) => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = on && idleMs > 0 ? setTimeout(() => stop(`idle for ${o.idle}`), idleMs) : null;
  };

  /**
   * Stops a run for its client (Ctrl-C, or the client gone): apply stops at its next step
   * boundary and rolls back, or before its first step when it has not begun. A command that only
   * reads runs to its end, but its client is let go at once, as a Ctrl-C would end it at home.
   */
  const stopRun = (r: Run, signal: NodeJS.Signals) => {
    if (r.ended || interrupt(signal)) return;
    if (CHANGING.has(servedCommand(r.req.args) ?? '')) return;
    r.released = true;
    if (!r.socket.destroyed) r.socket.end(frame('x', String(128 + constants.signals[signal])));
  };

  const handle = async (socket: Socket, req: Request) => {
    if (req.id !== identity) {
      // Another build is stale only when this server's own code has changed since it started:
      // any other id (another installation, a forged request) is refused, and serving goes on.
      if (sameCode(identity))
        return refuse(socket, 'the request comes from another netlab than this server runs; run the command without it');
      // A run in progress still ends first: the server stops listening now and exits after it.
      socket.end(frame('s'));
      stop('netlab was rebuilt or upgraded since this server started');
      return;
    }
    // Busy, or a directory the server cannot enter: the client runs the command itself.
    if (active || !isDirectory(req.cwd)) {
      socket.end(frame('b'));
      return;
    }
    const r: Run = { socket, req, ended: false, released: false };
    active = r;
    idle(false);
    socket.write(frame('r'));
    log(`${req.args.join(' ')}: running`);
    const started = performance.now();
    // A client gone mid-run (killed) stops the run as SIGTERM would.
    const gone = () => stopRun(r, 'SIGTERM');
    socket.on('close', gone);
    let code = 1;
    try {
      code = await runFor(r, run);
    } finally {
      socket.off('close', gone);
      active = null;
      if (!socket.destroyed && !r.released) socket.end(frame('x', String(code)));
      log(`${req.args.join(' ')}: exit ${code} in ${Math.round(performance.now() - started)} ms`);
      idle(true);
    }
  };

  /** Every open connection: the server ends them when it stops, or they would keep it alive. */
  const connections = new Set<Socket>();
  const server = createServer((socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => undefined);
    const lines = new LineReader(MAX_REQUEST_BYTES);
    let request: Request | null = null;
    const onLine = (line: string): boolean => {
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        // A later line that is not JSON is not a signal: ignored, as any other.
        if (request === null) refuse(socket, 'the request is not JSON');
        return request !== null;
      }
      if (request === null) {
        const problem = requestProblem(message);
        if (problem !== null) {
          refuse(socket, problem);
          return false;
        }
        request = message as Request;
        const done = handle(socket, request).catch((err: unknown) => {
          log(err instanceof Error ? err.message : String(err));
        });
        if (active?.socket === socket) running = done;
      } else {
        // Only the client whose command runs can stop it.
        const { signal } = message as { signal?: unknown };
        if (active?.socket === socket && (signal === 'SIGINT' || signal === 'SIGTERM')) stopRun(active, signal);
      }
      return true;
    };
    const onData = (chunk: Buffer) => {
      const got = lines.push(chunk);
      if (got === null) {
        socket.off('data', onData);
        refuse(socket, `a line of more than ${MAX_REQUEST_BYTES} bytes`);
        return;
      }
      for (const line of got) {
        if (!onLine(line)) {
          socket.off('data', onData);
          return;
        }
      }
    };
    socket.on('data', onData);
  });

  const ino = await claimSocket(server, path);
  const onSignal = (sig: NodeJS.Signals) => stop(sig);
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  log(`listening on ${path} (pid ${process.pid})${idleMs ? `; stops after ${o.idle} without a request` : ''}`);
  idle(true);
  const why = await stopped;
  server.close();
  if (active) log(`stopping (${why}) after the run in progress`);
  // The socket's name, unless another server has taken it since (after this one went stale).
  if ((await stat(path).catch(() => null))?.ino === ino) await rm(path, { force: true });
  // A run in progress ends first (a real signal reached its own handler too: it stops at a step
  // boundary and rolls back).
  await running;
  for (const socket of connections) socket.destroy();
  process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  idle(false);
  log(`stopped (${why})`);
  return 0;
}
