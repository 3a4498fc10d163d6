// `netlab serve`: one warm netlab process that runs the engine commands other netlab invocations
// hand it (client.ts), one at a time, as Bazel's or Gradle's servers do. A fresh process pays
// Node's start, loading netlab and a cold JIT on every run (most of a small change to a large
// lab); here they are paid once. The run is the same code as in-process: the same locks, the
// same checks, the same output (plain lines: the server has no terminal), the same exit code.
import { chmod, mkdir, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { UsageError } from '../errors.js';
import { parseDuration } from './duration.js';
import { stripColour } from './output.js';
import { codeIdentity, frame, requestEnv, serveSocketPath, type Request } from './wire.js';

/** The server's own log line, on its stderr (never a client's: runs restore it first). */
const log = (text: string) => process.stderr.write(`netlab serve: ${text}\n`);

export interface ServeOptions {
  idle?: string;
}

/** Whether a server answers on the socket. */
function answering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

/**
 * Runs one request with this process's stdout and stderr sent to the client, its environment
 * (NETLAB_* and colour switches: the client's, not the server's) and its directory.
 */
async function runFor(socket: Socket, req: Request, run: (argv: string[]) => Promise<number>): Promise<number> {
  const send =
    (kind: 'o' | 'e') =>
    (chunk: string | Uint8Array, ...rest: unknown[]) => {
      // Plain text: colours were decided when the server started, for its own terminal.
      if (!socket.destroyed) socket.write(frame(kind, typeof chunk === 'string' ? stripColour(chunk) : Buffer.from(chunk)));
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    };
  const writes = { out: process.stdout.write, err: process.stderr.write };
  const savedEnv = requestEnv(process.env);
  const cwd = process.cwd();
  for (const k of Object.keys(savedEnv)) delete process.env[k];
  Object.assign(process.env, req.env);
  process.stdout.write = send('o') as typeof process.stdout.write;
  process.stderr.write = send('e') as typeof process.stderr.write;
  // The run has no terminal, whatever the server was started on: it never asks, never animates.
  const ttys = [process.stdin, process.stdout, process.stderr].map((s) => [s, s.isTTY] as const);
  for (const [stream] of ttys) stream.isTTY = false;
  try {
    process.chdir(req.cwd);
    return await run(['node', 'netlab', ...req.args]);
  } catch (err) {
    process.stderr.write(`netlab serve: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    for (const [stream, was] of ttys) stream.isTTY = was;
    // A command may set the process's exit code; the server's own is not the run's.
    process.exitCode = undefined;
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    for (const k of Object.keys(req.env)) delete process.env[k];
    Object.assign(process.env, savedEnv);
    process.chdir(cwd);
  }
}

export async function serve(o: ServeOptions): Promise<number> {
  const path = serveSocketPath();
  const idleMs = o.idle ? parseDuration(o.idle) : 0;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  if (await answering(path)) throw new UsageError(`netlab serve is already running on ${path}`);
  await rm(path, { force: true });
  const identity = codeIdentity();
  const { run } = await import('./main.js');
  // Loaded now, so the first request is as quick as the rest.
  await Promise.all([import('./apply.js'), import('./status.js'), import('./validate.js'), import('../spec/check.js')]);

  let busy = false;
  let current: Promise<void> = Promise.resolve();
  let idleTimer: NodeJS.Timeout | null = null;
  let stop: (why: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const idle = () => {
    if (idleTimer) clearTimeout(idleTimer);
    if (idleMs > 0) idleTimer = setTimeout(() => stop(`idle for ${o.idle}`), idleMs);
  };
  // Signals the server forwards to a run are emitted, not received: only real ones stop it.
  let forwarding = false;

  const server = createServer((socket) => {
    const lines = createInterface({ input: socket });
    let request: Request | null = null;
    lines.on('line', (line) => {
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        socket.destroy();
        return;
      }
      if (request === null) {
        request = message as Request;
        current = handle(socket, request);
      } else if (busy) {
        const { signal } = message as { signal?: string };
        if (signal === 'SIGINT' || signal === 'SIGTERM') {
          forwarding = true;
          process.emit(signal, signal);
          forwarding = false;
        }
      }
    });
    socket.on('error', () => undefined);
  });

  const handle = async (socket: Socket, req: Request) => {
    if (req.id !== identity) {
      socket.end(frame('s'));
      stop('netlab was rebuilt or upgraded since this server started');
      return;
    }
    if (busy) {
      socket.end(frame('b'));
      return;
    }
    busy = true;
    const started = performance.now();
    // A client gone mid-run (killed) stops the run as SIGTERM would: at a step boundary, rolled back.
    const gone = () => {
      if (!busy) return;
      forwarding = true;
      process.emit('SIGTERM', 'SIGTERM');
      forwarding = false;
    };
    socket.on('close', gone);
    const code = await runFor(socket, req, run);
    socket.off('close', gone);
    busy = false;
    if (!socket.destroyed) socket.end(frame('x', String(code)));
    log(`${req.args.join(' ')}: exit ${code} in ${Math.round(performance.now() - started)} ms`);
    idle();
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  await chmod(path, 0o600);
  const onSignal = (sig: NodeJS.Signals) => {
    if (!forwarding) stop(sig);
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  log(`listening on ${path} (pid ${process.pid})${idleMs ? `; stops after ${o.idle} without a request` : ''}`);
  idle();
  const why = await stopped;
  server.close();
  await rm(path, { force: true });
  // A run in progress ends first (a real signal reached its own handler too: it stops at a step
  // boundary and rolls back).
  await current;
  process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  if (idleTimer) clearTimeout(idleTimer);
  log(`stopped (${why})`);
  return 0;
}
