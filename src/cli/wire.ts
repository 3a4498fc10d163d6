// What the CLI and `netlab serve` say to each other over the serve socket. The client loads this
// before anything else, so it imports nothing heavy.
//
// Client -> server: one JSON line, the request; later JSON lines forward signals.
// Server -> client: frames of a kind byte, a 4-byte big-endian length and the payload:
//   r      the run has begun: from now on the command is the server's, never run again here
//   o / e  bytes for the client's stdout / stderr
//   x      the exit code (decimal text); the run is over
//   b      not here (busy with another client's run, or the client's directory cannot be entered): run it yourself
//   s      stale: the server runs other code than the client's (netlab was rebuilt or upgraded)
//   f      refused: the request is not one this server runs (the payload says why); nothing ran
import { lstatSync, statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { stateDir } from '../state/dir.js';

export interface Request {
  /** The client's code identity (codeIdentity); a server with other code does not run it. */
  id: string;
  /** The command line after `netlab`. */
  args: string[];
  cwd: string;
  /** The client's NETLAB_* variables (and NO_COLOR, FORCE_COLOR): the run sees these, and no others of the server's. */
  env: Record<string, string>;
}

export type FrameKind = 'r' | 'o' | 'e' | 'x' | 'b' | 's' | 'f';

/**
 * The longest line a server reads (the request, or a signal): a command line and netlab's
 * variables fit many times over. A client that sends more is cut off, not buffered.
 */
export const MAX_REQUEST_BYTES = 1024 * 1024;

/** The commands a client hands to a server, and the only ones a server runs. */
export const SERVED = new Set(['apply', 'plan', 'destroy', 'status', 'validate']);

/** Commands that change the kernel: on a terminal they ask first, and a stop rolls them back. */
export const CHANGING = new Set(['apply', 'destroy']);

/** netlab's own options, the only words that may come before the command. */
const GLOBAL_FLAGS = new Set(['-q', '--quiet', '-v', '--verbose']);

/** The command of a command line when it is one a server runs (after netlab's own options only); else undefined. */
export function servedCommand(args: string[]): string | undefined {
  const command = args.find((a) => !GLOBAL_FLAGS.has(a));
  return command !== undefined && SERVED.has(command) ? command : undefined;
}

const isStringMap = (v: unknown): v is Record<string, string> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');

/** What is wrong with a request (null: nothing); a server runs only requests without a problem. */
export function requestProblem(m: unknown): string | null {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return 'a request is a JSON object';
  const r = m as Record<string, unknown>;
  if (typeof r.id !== 'string') return 'the request has no id (a string)';
  if (!Array.isArray(r.args) || !r.args.every((a) => typeof a === 'string')) return "the request's args are not a list of strings";
  if (typeof r.cwd !== 'string' || !isAbsolute(r.cwd)) return "the request's cwd is not an absolute path";
  if (!isStringMap(r.env)) return "the request's env is not a map of strings";
  if (servedCommand(r.args as string[]) === undefined)
    return `netlab serve runs only ${[...SERVED].join(', ')} (with -q or -v before them), not "${(r.args as string[]).join(' ')}"`;
  return null;
}

/** Splits a byte stream into lines of at most `max` bytes; null once a line grows longer (the rest is not kept). */
export class LineReader {
  private pending: Buffer[] = [];
  private size = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): string[] | null {
    const out: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      if (this.size + nl - start > this.max) return this.overflow();
      out.push(Buffer.concat([...this.pending, chunk.subarray(start, nl)]).toString('utf8'));
      this.pending = [];
      this.size = 0;
      start = nl + 1;
    }
    if (this.size + chunk.length - start > this.max) return this.overflow();
    if (start < chunk.length) {
      this.pending.push(chunk.subarray(start));
      this.size += chunk.length - start;
    }
    return out;
  }

  private overflow(): null {
    this.pending = [];
    this.size = 0;
    return null;
  }
}

/** Whether the client may use a serve socket, and if not, why and what to do (no socket: no why). */
export type SocketCheck = { use: true } | { use: false; why: string | null; fix: string };

const mode = (s: Stats) => (s.mode & 0o777).toString(8).padStart(4, '0');

/**
 * Whether a client of user `uid` may hand its command to the serve socket at `path`. Whoever
 * listens there gets the command line, directory and variables and says what ran, so the socket
 * must be this user's own: a socket (not a link to one) of this uid with no group or other bits,
 * in a directory of this uid that nobody else can write (so nobody can swap it after the check).
 * A socket of root's, seen by another user, is root's server: not an attack, so not reported.
 */
export function checkServeSocket(path: string, uid: number = process.getuid?.() ?? -1): SocketCheck {
  let sock: Stats;
  try {
    sock = lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? { use: false, why: null, fix: '' }
      : { use: false, why: `it cannot be read (${code})`, fix: `remove it (rm ${path})` };
  }
  const remove = `remove it (rm ${path}) unless you made it; \`netlab serve\` makes a new one`;
  const dir = dirname(path);
  const d = directoryProblem(dir, uid);
  if (d) return d;
  if (!sock.isSocket())
    return { use: false, why: sock.isSymbolicLink() ? 'it is a symbolic link, not a socket' : 'it is not a socket', fix: remove };
  if (sock.uid !== uid)
    return {
      use: false,
      why: uid !== 0 && sock.uid === 0 ? null : `it belongs to uid ${sock.uid}, not to uid ${uid} who runs netlab`,
      fix: remove,
    };
  if (sock.mode & 0o077)
    return { use: false, why: `its mode is ${mode(sock)}, open to others than its owner (a server makes it 0600)`, fix: remove };
  return { use: true };
}

/** Why a serve socket in `dir` cannot be trusted by user `uid` (null: it can). */
export function directoryProblem(dir: string, uid: number): (SocketCheck & { use: false }) | null {
  let s: Stats;
  try {
    s = statSync(dir);
  } catch (err) {
    return {
      use: false,
      why: `its directory ${dir} cannot be read (${(err as NodeJS.ErrnoException).code})`,
      fix: `make ${dir} readable (or point NETLAB_STATE_DIR elsewhere)`,
    };
  }
  if (s.uid !== uid)
    return {
      use: false,
      why: uid !== 0 && s.uid === 0 ? null : `its directory ${dir} belongs to uid ${s.uid}, not to uid ${uid} who runs netlab`,
      fix: `use a state directory of your own (NETLAB_STATE_DIR), or chown ${uid} ${dir}`,
    };
  if (s.mode & 0o022)
    return { use: false, why: `its directory ${dir} has mode ${mode(s)}: others can replace the socket`, fix: `chmod go-w ${dir}` };
  return null;
}

export function serveSocketPath(): string {
  return join(stateDir(), '.serve.sock');
}

/** The variables a request carries: netlab's own and the colour switches. */
export function requestEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env))
    if (v !== undefined && (k.startsWith('NETLAB_') || k === 'NO_COLOR' || k === 'FORCE_COLOR')) out[k] = v;
  return out;
}

/**
 * Which build of netlab this is: the size and time of the CLI's main module, which every build
 * rewrites. A stat, not a hash: the client pays it on every run.
 */
export function codeIdentity(): string {
  const s = statSync(new URL('./main.js', import.meta.url));
  return `${s.size}:${s.mtimeMs}`;
}

export function frame(kind: FrameKind, payload: string | Uint8Array = ''): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const head = Buffer.alloc(5);
  head.write(kind, 0, 'latin1');
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into frames, however it arrives in chunks. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { kind: FrameKind; payload: Buffer }[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: { kind: FrameKind; payload: Buffer }[] = [];
    while (this.pending.length >= 5) {
      const len = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + len) break;
      out.push({ kind: this.pending.toString('latin1', 0, 1) as FrameKind, payload: this.pending.subarray(5, 5 + len) });
      this.pending = this.pending.subarray(5 + len);
    }
    return out;
  }
}
