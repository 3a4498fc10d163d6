// `netlab test` of a lab across machines: which machine runs which assertion, and where the
// responders listen. An assertion runs on the machine of its source host; a truth table is cut
// into the rows that start on each machine. A responder listens on its host's machine: started by
// that machine's own run when only its own assertions need it, else by the coordinator (`netlab
// machine respond`) before any machine probes, so one port never gets two responders.
import { destinations } from '../assert/targets.js';
import { parseIp } from '../lab/addr.js';
import { HOST_NAME_PATTERN } from '../lab/names.js';
import type { Expectation, Lab, MatrixExpectation } from '../lab/types.js';
import { UsageError } from '../errors.js';

export interface Ports {
  host: string;
  tcp: number[];
  udp: number[];
}

/** What one machine is asked to run: the part of the lab's assertions that starts on its hosts. */
export interface TestRequest {
  expect: Expectation[];
  /** Each truth table with rows here, cut down to those rows. */
  matrices: MatrixExpectation[];
  /** The responders its own run starts (none but these: others run already, or elsewhere). */
  responders: Ports[];
}

export interface MachineTests {
  request: TestRequest;
  /** Index in the lab's `expect:` of each of `request.expect`. */
  expectAt: number[];
  /** Per matrix of `request.matrices`: its index in the lab's matrices and the rows it has. */
  matrixAt: { at: number; rows: number[] }[];
  /** Responders the coordinator starts on this machine for assertions of other machines. */
  forOthers: Ports[];
}

type Wanted = Map<string, Map<string, { tcp: Set<number>; udp: Set<number>; from: Set<string> }>>;

function want(w: Wanted, machine: string, host: string, proto: 'tcp' | 'udp', port: number, from: string): void {
  const hosts = w.get(machine) ?? new Map<string, { tcp: Set<number>; udp: Set<number>; from: Set<string> }>();
  w.set(machine, hosts);
  const p = hosts.get(host) ?? { tcp: new Set<number>(), udp: new Set<number>(), from: new Set<string>() };
  hosts.set(host, p);
  p[proto].add(port);
  p.from.add(from);
}

const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);

/** Splits the lab's assertions by machine (only machines with something to run or to answer). */
export function testsByMachine(lab: Lab): Map<string, MachineTests> {
  const machineOf = new Map(lab.hosts.map((h) => [h.name, h.machine!]));
  const out = new Map<string, MachineTests>();
  const of = (m: string): MachineTests => {
    let t = out.get(m);
    if (!t) out.set(m, (t = { request: { expect: [], matrices: [], responders: [] }, expectAt: [], matrixAt: [], forOthers: [] }));
    return t;
  };
  // Per destination machine, host and protocol: the ports and the machines whose probes need them.
  const wanted: Wanted = new Map();
  for (const [i, e] of lab.expect.entries()) {
    const m = machineOf.get(e.from)!;
    of(m).request.expect.push(e);
    of(m).expectAt.push(i);
    for (const d of destinations(lab, e)) want(wanted, machineOf.get(d.host)!, d.host, d.proto, d.port, m);
  }
  for (const [at, mx] of (lab.matrices ?? []).entries()) {
    const rowsOn = new Map<string, number[]>();
    for (const [i, f] of mx.from.entries()) {
      const m = machineOf.get(f)!;
      rowsOn.set(m, [...(rowsOn.get(m) ?? []), i]);
      for (const t of mx.to) want(wanted, machineOf.get(t.host)!, t.host, mx.proto, mx.port, m);
    }
    for (const [m, rows] of rowsOn) {
      of(m).request.matrices.push({ ...mx, from: rows.map((r) => mx.from[r]!), want: rows.map((r) => mx.want[r]!) });
      of(m).matrixAt.push({ at, rows });
    }
  }
  for (const [m, hosts] of wanted) {
    for (const [host, p] of [...hosts].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const ports = { host, tcp: sorted(p.tcp), udp: sorted(p.udp) };
      // Needed by another machine's probes: the coordinator starts it, before anyone probes.
      if ([...p.from].some((f) => f !== m)) of(m).forOthers.push(ports);
      else of(m).request.responders.push(ports);
    }
  }
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;

function bad(what: string): never {
  throw new UsageError(`the test request's ${what} is not valid`);
}

function hostName(v: unknown, what: string): string {
  if (typeof v !== 'string' || !HOST_NAME_PATTERN.test(v)) bad(what);
  return v;
}

function address(v: unknown, what: string): string {
  const ip = typeof v === 'string' ? parseIp(v) : null;
  if (!ip) bad(what);
  return ip.toString();
}

function ports(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every(isPort)) bad(what);
  return v;
}

/** A source host must be one of this machine's slice, which says its namespace. */
function source(v: unknown, slice: Lab, what: string): string {
  const name = hostName(v, what);
  if (!slice.hosts.some((h) => h.name === name)) throw new UsageError(`the test request's ${what} "${name}" is not a host of this slice`);
  return name;
}

function expectation(v: unknown, slice: Lab, i: number): Expectation {
  const at = `expect[${i}]`;
  if (!isObject(v) || typeof v.text !== 'string' || !isObject(v.to) || !Array.isArray(v.backends)) bad(at);
  const to = v.to;
  if (typeof to.text !== 'string' || (to.port !== null && !isPort(to.port))) bad(`${at}.to`);
  if (v.proto !== 'icmp' && v.proto !== 'tcp' && v.proto !== 'udp') bad(`${at}.proto`);
  if (v.verdict !== 'reachable' && v.verdict !== 'unreachable' && v.verdict !== 'reaches') bad(`${at}.verdict`);
  if ((v.proto === 'icmp') !== (to.port === null)) bad(`${at}.to.port`);
  return {
    text: v.text,
    from: source(v.from, slice, `${at}.from`),
    to: {
      text: to.text,
      host: to.host === null ? null : hostName(to.host, `${at}.to.host`),
      address: address(to.address, `${at}.to.address`),
      port: to.port as number | null,
    },
    proto: v.proto,
    verdict: v.verdict,
    backends: v.backends.map((b, j) => hostName(b, `${at}.backends[${j}]`)),
    pos: { file: slice.file, line: 0, col: 0, path: at },
  };
}

function matrix(v: unknown, slice: Lab, i: number): MatrixExpectation {
  const at = `matrices[${i}]`;
  if (!isObject(v) || !Array.isArray(v.from) || !Array.isArray(v.to) || !Array.isArray(v.want) || !isPort(v.port)) bad(at);
  if (v.proto !== 'tcp' && v.proto !== 'udp') bad(`${at}.proto`);
  const to = v.to.map((t, j) => {
    if (!isObject(t)) bad(`${at}.to[${j}]`);
    return { host: hostName(t.host, `${at}.to[${j}].host`), address: address(t.address, `${at}.to[${j}].address`) };
  });
  const want = v.want.map((row, j) => {
    if (!Array.isArray(row) || row.length !== to.length || !row.every((c) => typeof c === 'boolean')) bad(`${at}.want[${j}]`);
    return row as boolean[];
  });
  if (want.length !== v.from.length) bad(`${at}.want`);
  return {
    from: v.from.map((f, j) => source(f, slice, `${at}.from[${j}]`)),
    to,
    proto: v.proto,
    port: v.port,
    want,
    pos: { file: slice.file, line: 0, col: 0, path: at },
  };
}

/** The request as sent by a coordinator, checked like any input against this machine's slice. */
export function parseTestRequest(v: unknown, slice: Lab): TestRequest {
  if (!isObject(v) || !Array.isArray(v.expect) || !Array.isArray(v.matrices) || !Array.isArray(v.responders)) bad('shape');
  return {
    expect: v.expect.map((e, i) => expectation(e, slice, i)),
    matrices: v.matrices.map((m, i) => matrix(m, slice, i)),
    responders: v.responders.map((r, i) => {
      if (!isObject(r)) bad(`responders[${i}]`);
      return {
        host: source(r.host, slice, `responders[${i}].host`),
        tcp: ports(r.tcp, `responders[${i}].tcp`),
        udp: ports(r.udp, `responders[${i}].udp`),
      };
    }),
  };
}
