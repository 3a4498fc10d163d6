// The CLI's side of `netlab serve`: when a server is listening, an engine command (apply, plan,
// destroy, status, validate) is handed to it and its output and exit code come back, so the run
// skips loading netlab and a cold JIT. Anything else, or no server, or a busy or stale one: the
// command runs in this process as usual (null).
import { connect } from 'node:net';
import { constants } from 'node:os';
import { CHANGING, checkServeSocket, codeIdentity, FrameReader, requestEnv, servedCommand, serveSocketPath, type Request } from './wire.js';

/** Options with which a command that changes the kernel does not ask first; the server cannot ask. */
const NOT_ASKING = new Set(['-y', '--yes', '--json', '--dry-run']);

export function servable(args: string[], interactive: boolean): boolean {
  const command = servedCommand(args);
  if (command === undefined) return false;
  return !(CHANGING.has(command) && interactive && !args.some((a) => NOT_ASKING.has(a)));
}

/** Runs the command line through a running `netlab serve`; its exit code, or null to run it here. */
export async function delegate(argv: string[]): Promise<number | null> {
  const args = argv.slice(2);
  const path = serveSocketPath();
  if (process.env.NETLAB_SERVE === '0' || !servable(args, Boolean(process.stdin.isTTY && process.stdout.isTTY))) return null;
  const check = checkServeSocket(path);
  if (!check.use) {
    if (check.why !== null)
      process.stderr.write(`netlab: not using the serve socket ${path}: ${check.why}; the command runs in this process; ${check.fix}\n`);
    return null;
  }
  let cwd: string;
  try {
    cwd = process.cwd();
  } catch {
    return null; // a directory deleted under the shell: no server can enter it
  }
  const request: Request = { id: codeIdentity(), args, cwd, env: requestEnv(process.env) };
  return new Promise((resolve) => {
    const socket = connect(path);
    const reader = new FrameReader();
    let started = false;
    let done = false;
    let signals = 0;
    // The first Ctrl-C (or SIGTERM) goes to the run: apply stops at a step boundary and rolls
    // back, a command that only reads lets this client go. A second one leaves at once (the server
    // then stops the run as if this client were killed), as does one before the run has begun.
    const onSignal = (signal: NodeJS.Signals) => () => {
      if (started && ++signals === 1 && socket.writable) socket.write(`${JSON.stringify({ signal })}\n`);
      else finish(128 + constants.signals[signal]);
    };
    const onInt = onSignal('SIGINT');
    const onTerm = onSignal('SIGTERM');
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
      // Listening first: a Ctrl-C the moment the server has the request must reach onSignal, not
      // end this process by the default action while the run goes on without its client.
      process.on('SIGINT', onInt).on('SIGTERM', onTerm);
      socket.write(`${JSON.stringify(request)}\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        if (f.kind === 'r') started = true;
        else if (f.kind === 'o' || f.kind === 'e') (f.kind === 'o' ? process.stdout : process.stderr).write(f.payload);
        else if (f.kind === 'x') finish(Number(f.payload.toString()));
        else if (started) lost();
        else finish(null);
      }
    });
    socket.on('error', lost);
    socket.on('close', lost);
  });
}
