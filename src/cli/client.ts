// The CLI's side of `netlab serve`: when a server is listening, an engine command (apply, plan,
// destroy, status, validate) is handed to it and its output and exit code come back, so the run
// skips loading netlab and a cold JIT. Anything else, or no server, or a busy or stale one: the
// command runs in this process as usual (null).
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { codeIdentity, FrameReader, requestEnv, serveSocketPath, type Request } from './wire.js';

const SERVED = new Set(['apply', 'plan', 'destroy', 'status', 'validate']);
/** Commands that ask before changing anything when run on a terminal; the server cannot ask. */
const ASKING = new Set(['apply', 'destroy']);
const NOT_ASKING = new Set(['-y', '--yes', '--json', '--dry-run']);

export function servable(args: string[], interactive: boolean): boolean {
  const command = args.find((a) => !a.startsWith('-'));
  if (command === undefined || !SERVED.has(command)) return false;
  return !(ASKING.has(command) && interactive && !args.some((a) => NOT_ASKING.has(a)));
}

/** Runs the command line through a running `netlab serve`; its exit code, or null to run it here. */
export async function delegate(argv: string[]): Promise<number | null> {
  const args = argv.slice(2);
  const path = serveSocketPath();
  if (process.env.NETLAB_SERVE === '0' || !servable(args, Boolean(process.stdin.isTTY && process.stdout.isTTY)) || !existsSync(path))
    return null;
  const request: Request = { id: codeIdentity(), args, cwd: process.cwd(), env: requestEnv(process.env) };
  return new Promise((resolve) => {
    const socket = connect(path);
    const reader = new FrameReader();
    let started = false;
    let done = false;
    const forward = (signal: string) => () => socket.write(`${JSON.stringify({ signal })}\n`);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    const finish = (code: number | null) => {
      if (done) return;
      done = true;
      process.off('SIGINT', onInt).off('SIGTERM', onTerm);
      socket.destroy();
      resolve(code);
    };
    // Once the run has begun it is not run again here: the server's last word stands.
    const lost = () => {
      if (done) return;
      if (!started) return finish(null);
      process.stderr.write('netlab: the netlab serve process ended during the run; run the command again\n');
      finish(1);
    };
    socket.on('connect', () => {
      socket.write(`${JSON.stringify(request)}\n`);
      process.on('SIGINT', onInt).on('SIGTERM', onTerm);
    });
    socket.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        if (f.kind === 'o' || f.kind === 'e') {
          started = true;
          (f.kind === 'o' ? process.stdout : process.stderr).write(f.payload);
        } else if (f.kind === 'x') finish(Number(f.payload.toString()));
        else finish(null);
      }
    });
    socket.on('error', lost);
    socket.on('close', lost);
  });
}
