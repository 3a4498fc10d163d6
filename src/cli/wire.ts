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
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { stateDir } from '../apply/state-dir.js';

export interface Request {
  /** The client's code identity (codeIdentity); a server with other code does not run it. */
  id: string;
  /** The command line after `netlab`. */
  args: string[];
  cwd: string;
  /** The client's NETLAB_* variables (and NO_COLOR, FORCE_COLOR): the run sees these, and no others of the server's. */
  env: Record<string, string>;
}

export type FrameKind = 'r' | 'o' | 'e' | 'x' | 'b' | 's';

/** The command of a command line (its first word that is not an option). */
export const commandOf = (args: string[]): string | undefined => args.find((a) => !a.startsWith('-'));

/** Commands that change the kernel: on a terminal they ask first, and a stop rolls them back. */
export const CHANGING = new Set(['apply', 'destroy']);

/** The request's shape, checked: a server answers only well-formed ones. */
export function isRequest(m: unknown): m is Request {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  return (
    typeof r.id === 'string' &&
    strings(r.args) &&
    typeof r.cwd === 'string' &&
    typeof r.env === 'object' &&
    r.env !== null &&
    Object.values(r.env).every((v) => typeof v === 'string')
  );
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
