// Reachability assertions (`expect:`): the syntax of one assertion string, the rules that check
// its host references, and its normalised form. `netlab test` runs them (src/assert).
//
//   SRC -> TARGET [tcp|udp|icmp|ping] VERDICT
//   TARGET  = HOST | HOST:PORT | ADDRESS | ADDRESS:PORT | [IPV6]:PORT
//   VERDICT = reachable | unreachable | reaches [HOST, HOST...]
//
// Without a protocol, a target with a port is tested with TCP and one without with ping.
import { familyOf, parseIp } from './addr.js';
import type { LabContext } from './context.js';
import type { Path } from './locate.js';
import { HOST_NAME_PATTERN } from './names.js';
import { firstAddress } from './semantic-nat.js';
import { checkMatrix } from './expect-matrix.js';
import { closest } from './suggest.js';
import type { Expectation, ExpectProto } from './types.js';
import { InternalError } from '../errors.js';

export interface ParsedTarget {
  /** A lab host name, or null when an address was written. */
  host: string | null;
  /** Canonical address when one was written. */
  address: string | null;
  port: number | null;
}

export interface ParsedExpectation {
  from: string;
  target: ParsedTarget;
  targetText: string;
  proto: ExpectProto;
  verdict: Expectation['verdict'];
  backends: string[];
}

const VERDICTS = ['reachable', 'unreachable', 'reaches'];
const PROTOS = ['tcp', 'udp', 'icmp', 'ping'];
export const EXPECT_EXAMPLE =
  'e.g. "web -> db:5432 tcp reachable", "web -> internet unreachable" or "client -> 10.96.0.10:80 reaches [pod1, pod2]"';

function hint(word: string, candidates: string[]): string {
  const c = closest(word, candidates);
  return c ? ` (did you mean "${c}"?)` : '';
}

export function parseTarget(text: string): ParsedTarget | string {
  const bracket = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text);
  if (bracket) {
    const ip = parseIp(bracket[1]!);
    if (!ip || familyOf(ip) !== 6) return `"${bracket[1]}" in brackets must be an IPv6 address`;
    return port(bracket[2]!, { host: null, address: ip.toString(), port: null });
  }
  const bare = parseIp(text);
  if (bare) return { host: null, address: bare.toString(), port: null };
  const m = /^([^:]+):([^:]*)$/.exec(text);
  const name = m ? m[1]! : text;
  const base = parseIp(name);
  const target: ParsedTarget = base ? { host: null, address: base.toString(), port: null } : { host: name, address: null, port: null };
  if (!base && !HOST_NAME_PATTERN.test(name))
    return `"${name}" is neither a host name nor an IP address (IPv6 with a port is written [fd00::1]:80)`;
  return m ? port(m[2]!, target) : target;
}

function port(text: string, target: ParsedTarget): ParsedTarget | string {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) return `port "${text}" must be a number 1..65535`;
  return { ...target, port: Number(text) };
}

/** Parses one assertion; returns the parts or a message saying what is wrong. */
export function parseExpectation(text: string): ParsedExpectation | string {
  const arrow = text.indexOf('->');
  if (arrow < 0) return `an assertion reads "SRC -> TARGET [tcp|udp|ping] reachable|unreachable|reaches [HOSTS]", ${EXPECT_EXAMPLE}`;
  const from = text.slice(0, arrow).trim();
  if (!from) return 'the source host is missing before "->"';
  if (!HOST_NAME_PATTERN.test(from)) return `source "${from}" must be a host name of this lab`;
  const rest = text.slice(arrow + 2).trim();
  const open = rest.lastIndexOf('[');
  const list = open > 0 && rest.endsWith(']') ? rest.slice(open + 1, -1) : null;
  const words = (list !== null ? rest.slice(0, open) : rest).trim().split(/\s+/).filter(Boolean);
  const targetText = words.shift();
  if (!targetText) return 'the target is missing after "->"';
  const target = parseTarget(targetText);
  if (typeof target === 'string') return target;
  let proto: ExpectProto | null = null;
  if (words[0] !== undefined && (PROTOS.includes(words[0]) || (words.length > 1 && !VERDICTS.includes(words[0])))) {
    const p = words.shift()!;
    if (!PROTOS.includes(p)) return `"${p}" is not a protocol: write tcp, udp or ping${hint(p, PROTOS)}`;
    proto = p === 'ping' ? 'icmp' : (p as ExpectProto);
  }
  const verdict = words.shift();
  if (verdict === undefined) return `the verdict is missing: end with reachable, unreachable or reaches [HOSTS] (${EXPECT_EXAMPLE})`;
  if (!VERDICTS.includes(verdict))
    return `"${verdict}" is not a verdict: write reachable, unreachable or reaches [HOSTS]${hint(verdict, VERDICTS)}`;
  if (verdict === 'reaches' && list === null) return 'reaches needs the hosts that must answer, in brackets: reaches [pod1, pod2]';
  if (words.length) return `unexpected "${words.join(' ')}" after "${verdict}"`;
  let backends: string[] = [];
  if (list !== null) {
    if (verdict !== 'reaches') return `a list in brackets only follows "reaches"`;
    backends = list
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!backends.length) return 'reaches [] names no host: list the hosts that must answer';
    const bad = backends.find((b) => !HOST_NAME_PATTERN.test(b));
    if (bad) return `"${bad}" in reaches [...] must be a host name of this lab`;
    if (new Set(backends).size !== backends.length) return 'reaches [...] names a host twice';
  }
  if (proto === null) proto = target.port === null ? 'icmp' : 'tcp';
  if (proto === 'icmp' && target.port !== null) return `ping has no ports: drop ":${target.port}" or write tcp or udp`;
  if (proto !== 'icmp' && target.port === null) return `${proto} needs a port: write TARGET:PORT, e.g. ${targetText}:80`;
  if (verdict === 'reaches' && proto === 'icmp')
    return 'reaches [...] counts which hosts answer, which needs a port: write TARGET:PORT (tcp or udp)';
  return { from, target, targetText, proto, verdict: verdict as Expectation['verdict'], backends };
}

/** Checks every assertion of the lab: syntax, then host references (with did-you-mean). */
export function checkExpect(ctx: LabContext): void {
  for (const [i, text] of (ctx.raw.expect ?? []).entries()) {
    const path: Path = ['expect', i];
    if (typeof text !== 'string') {
      checkMatrix(ctx, text, path);
      continue;
    }
    const p = parseExpectation(text);
    if (typeof p === 'string') {
      ctx.report(path, p);
      continue;
    }
    ctx.host(p.from, path);
    if (p.target.host !== null) {
      const h = ctx.host(p.target.host, path);
      if (h && !firstAddress(ctx, h, null)) ctx.report(path, `host "${h.name}" has no address to send traffic to`);
    }
    for (const b of p.backends) ctx.host(b, path);
  }
}

/** The normalised assertions of a lab that passed checkExpect. */
export function normaliseExpect(ctx: LabContext): Expectation[] {
  return (ctx.raw.expect ?? []).flatMap((text, i) => {
    if (typeof text !== 'string') return [];
    const p = parseExpectation(text);
    if (typeof p === 'string') throw new InternalError(`unchecked assertion ${text}`);
    const address = p.target.host === null ? p.target.address! : firstAddress(ctx, ctx.hosts.get(p.target.host)!, null)!.toString();
    return {
      text: text.trim().replace(/\s+/g, ' '),
      from: p.from,
      to: { text: p.targetText, host: p.target.host, address, port: p.target.port },
      proto: p.proto,
      verdict: p.verdict,
      backends: p.backends,
      pos: ctx.locator.source(['expect', i]),
    };
  });
}
