// What `netlab ui` checks before it answers: the listen address, the access token, the Host header
// (a DNS-rebinding page would send its own name), and the size and shape of request bodies.
// Pure apart from reading a request body.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { UsageError } from '../errors.js';
import { HOST_NAME_PATTERN, IFNAME_PATTERN, LAB_NAME_PATTERN } from '../lab/names.js';

export const DEFAULT_LISTEN = '127.0.0.1:8080';
/** Request bodies are small JSON documents: anything larger is refused unread. */
export const MAX_BODY_BYTES = 4096;

/** The page never loads anything but its own files, and never from a frame. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface Listen {
  host: string;
  port: number;
  loopback: boolean;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** `HOST:PORT` or `[V6]:PORT`; the host must be an IP address or `localhost`. */
export function parseListen(text: string): Listen {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const host = m ? (m[1] ?? m[2]!) : '';
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535 || !(isIP(host) || host === 'localhost') || (m[1] !== undefined && isIP(host) !== 6))
    throw new UsageError(`--listen "${text}" is not ADDRESS:PORT (e.g. 127.0.0.1:8080, or [::1]:8080; port 0 picks a free one)`);
  return { host, port, loopback: isLoopback(host) };
}

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Compares in constant time (for equal lengths; the length of a token is no secret). */
export function tokenMatches(expected: string, given: string | null | undefined): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The names a browser may use for this server: its address, and `localhost` forms on loopback. */
export function allowedHosts(l: Listen, port: number): Set<string> {
  const hosts = new Set<string>();
  const add = (h: string) => hosts.add(`${isIP(h) === 6 ? `[${h}]` : h}:${port}`.toLowerCase());
  add(l.host);
  if (l.loopback) for (const h of ['localhost', '127.0.0.1', '::1']) add(h);
  return hosts;
}

export function hostAllowed(header: string | undefined, allowed: Set<string>): boolean {
  return header !== undefined && allowed.has(header.toLowerCase());
}

/** The token of a request: the X-Netlab-Token header, else the `token` query parameter (EventSource sends no headers). */
export function requestToken(headers: IncomingMessage['headers'], url: URL): string | null {
  const h = headers['x-netlab-token'];
  if (typeof h === 'string') return h;
  return url.searchParams.get('token');
}

export class BadRequest extends UsageError {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** Reads a JSON object body of at most MAX_BODY_BYTES; a larger one is refused as soon as it shows. */
export function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(new BadRequest(`request body over ${limit} bytes`, 413));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new BadRequest(`request body over ${limit} bytes`, 413));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      try {
        const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRequest('the body must be a JSON object');
        resolve(v as Record<string, unknown>);
      } catch (e) {
        reject(e instanceof BadRequest ? e : new BadRequest('the body is not JSON'));
      }
    });
  });
}

/** The condition flags of `netlab link`, by name: values are checked there, by the same parsers. */
export const CONDITION_KEYS = ['rate', 'burst', 'delay', 'jitter', 'loss', 'duplicate', 'reorder', 'corrupt', 'limit'] as const;

export interface LinkAction {
  lab: string;
  /** HOST:NAME, the interface as written in the lab. */
  endpoint: string;
  state?: 'up' | 'down';
  conditions: Partial<Record<(typeof CONDITION_KEYS)[number], string>>;
  clear: boolean;
}

function str(body: Record<string, unknown>, key: string, pattern: RegExp, what: string): string {
  const v = body[key];
  if (typeof v !== 'string' || !pattern.test(v)) throw new BadRequest(`"${key}" must be ${what}`);
  return v;
}

export function parseLinkAction(body: Record<string, unknown>): LinkAction {
  const lab = str(body, 'lab', LAB_NAME_PATTERN, 'a lab name');
  const host = str(body, 'host', HOST_NAME_PATTERN, 'a host name');
  const name = str(body, 'interface', IFNAME_PATTERN, 'an interface name');
  const state = body.state;
  if (state !== undefined && state !== 'up' && state !== 'down') throw new BadRequest('"state" must be up or down');
  const conditions: LinkAction['conditions'] = {};
  const given = body.conditions ?? {};
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw new BadRequest('"conditions" must be an object');
  for (const [k, v] of Object.entries(given)) {
    if (!(CONDITION_KEYS as readonly string[]).includes(k))
      throw new BadRequest(`unknown condition "${k}" (known: ${CONDITION_KEYS.join(', ')})`);
    if (typeof v !== 'string' || v.length > 32 || !/^[A-Za-z0-9.%]+$/.test(v))
      throw new BadRequest(`condition "${k}" must be a value like 5mbit, 100ms, 1% or off`);
    conditions[k as (typeof CONDITION_KEYS)[number]] = v;
  }
  const clear = body.clear === true;
  if (state === undefined && !clear && !Object.keys(conditions).length)
    throw new BadRequest('nothing to do: give a state, conditions or clear');
  return { lab, endpoint: `${host}:${name}`, ...(state ? { state } : {}), conditions, clear };
}

export interface CaptureRequest {
  lab: string;
  endpoint: string;
  count: number;
}

export const MAX_CAPTURE_PACKETS = 200;

export function parseCaptureRequest(q: URLSearchParams): CaptureRequest {
  const body = Object.fromEntries(q);
  const lab = str(body, 'lab', LAB_NAME_PATTERN, 'a lab name');
  const host = str(body, 'host', HOST_NAME_PATTERN, 'a host name');
  const name = str(body, 'interface', IFNAME_PATTERN, 'an interface name');
  const count = Number(body.count ?? 20);
  if (!Number.isInteger(count) || count < 1 || count > MAX_CAPTURE_PACKETS)
    throw new BadRequest(`"count" must be 1 to ${MAX_CAPTURE_PACKETS}`);
  return { lab, endpoint: `${host}:${name}`, count };
}

export function parseHostRequest(q: URLSearchParams): { lab: string; host: string } {
  const body = Object.fromEntries(q);
  return { lab: str(body, 'lab', LAB_NAME_PATTERN, 'a lab name'), host: str(body, 'host', HOST_NAME_PATTERN, 'a host name') };
}
