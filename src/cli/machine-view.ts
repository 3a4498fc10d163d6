// The hidden `netlab machine ...` commands that look at, or work inside, a machine's part of a lab
// across machines: status, inspect, the hosts it holds, the responders of assertions that start on
// another machine, and exec/shell/logs/capture for a user on the coordinator. Each acts on this
// machine's own records only, never on a record of machines, so the local machine of a lab is
// never sent across again.
import { createInterface } from 'node:readline';
import { RealDriver } from '../driver/real.js';
import { startResponder, stopResponders, type Responder } from '../assert/run.js';
import { waitForServers } from '../assert/settle.js';
import { store } from '../apply/store.js';
import { UsageError } from '../errors.js';
import { HOST_NAME_PATTERN } from '../lab/names.js';
import { checkLabName } from '../state/files.js';
import { findHost, labHosts } from './labinfo.js';
import { inspectLab } from './inspect.js';
import { statusRow } from './status.js';
import { answering } from './machine.js';

export async function status(o: { lab: string }): Promise<number> {
  const lab = checkLabName(o.lab, '--lab');
  return answering(async () => ({
    row: (await store.readRecord(lab)) || (await store.readJournal(lab)) ? await statusRow(lab, false) : null,
  }));
}

export async function inspect(o: { lab: string }): Promise<number> {
  const lab = checkLabName(o.lab, '--lab');
  return answering(async () => {
    if (!(await store.readRecord(lab))) return { report: null };
    const l = await labHosts(lab, undefined, false);
    const live = await new RealDriver().observe({ lab, namespaces: l.record!.scope });
    return { report: inspectLab(l.record!, l.hosts, live.state) };
  });
}

export async function hosts(o: { lab: string }): Promise<number> {
  const lab = checkLabName(o.lab, '--lab');
  return answering(async () => ({ hosts: (await store.readRecord(lab)) ? (await labHosts(lab, undefined, false)).hosts : [] }));
}

/** What the coordinator asks a machine to run for the user, as one word of the safe alphabet. */
export type HereRequest =
  | { cmd: 'exec'; lab: string; host: string; argv: string[] }
  | { cmd: 'shell'; lab: string; host: string }
  | { cmd: 'logs'; lab: string; host: string; name: string | null; follow: boolean }
  | { cmd: 'capture'; lab: string; endpoint: string; filter: string[]; count: string | null; summary: boolean };

/** base64url of the JSON: no quoting of the user's words for the remote shell is ever needed. */
export function encodeRequest(r: HereRequest): string {
  return Buffer.from(JSON.stringify(r)).toString('base64url');
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** The request, checked like any input: names by their rules, argv as strings. */
export function decodeRequest(word: string): HereRequest {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(Buffer.from(word, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new UsageError('the request is not base64url JSON');
  }
  if (typeof r !== 'object' || r === null || typeof r.lab !== 'string') throw new UsageError('the request names no lab');
  checkLabName(r.lab, 'the request');
  const host = (v: unknown) => {
    if (typeof v !== 'string' || !HOST_NAME_PATTERN.test(v))
      throw new UsageError(`the request's host ${JSON.stringify(v)} is not a host name`);
    return v;
  };
  switch (r.cmd) {
    case 'exec':
      if (!isStrings(r.argv) || !r.argv.length) throw new UsageError('the request has no command');
      return { cmd: 'exec', lab: r.lab, host: host(r.host), argv: r.argv };
    case 'shell':
      return { cmd: 'shell', lab: r.lab, host: host(r.host) };
    case 'logs':
      if (r.name !== null && typeof r.name !== 'string') throw new UsageError('the request has a bad process name');
      return { cmd: 'logs', lab: r.lab, host: host(r.host), name: r.name, follow: r.follow === true };
    case 'capture':
      if (typeof r.endpoint !== 'string' || !isStrings(r.filter)) throw new UsageError('the request has no endpoint');
      if (r.count !== null && typeof r.count !== 'string') throw new UsageError('the request has a bad count');
      return { cmd: 'capture', lab: r.lab, endpoint: r.endpoint, filter: r.filter, count: r.count, summary: r.summary === true };
    default:
      throw new UsageError(`the request's command ${JSON.stringify(r.cmd)} is not exec, shell, logs or capture`);
  }
}

/**
 * Runs a request for the user here. A capture or a followed log ends when its stdin does: the
 * coordinator's ssh closing the session is how a Ctrl-C there reaches this machine.
 */
export async function here(word: string): Promise<number | void> {
  const r = decodeRequest(word);
  const { runInHost, shellIn } = await import('./labcmds.js');
  if (r.cmd === 'exec') return runInHost(r.lab, findHost(await labHosts(r.lab), r.host), r.argv);
  if (r.cmd === 'shell') return shellIn(r.lab, findHost(await labHosts(r.lab), r.host));
  const stopOnEof = () => {
    process.stdin.on('end', () => process.emit('SIGINT')).resume();
  };
  if (r.cmd === 'logs') {
    if (r.follow) stopOnEof();
    const { logsHere } = await import('./logs.js');
    await logsHere(r.lab, r.host, r.name ?? undefined, { follow: r.follow });
    process.stdin.destroy();
    return;
  }
  stopOnEof();
  const { captureHere } = await import('./capture.js');
  await captureHere(r.lab, r.endpoint, r.filter, { count: r.count ?? undefined, summary: r.summary });
  process.stdin.destroy();
}

/**
 * Responders for assertions that start on another machine: the request (one JSON line on stdin,
 * `{ "hosts": [{ "host", "tcp": [], "udp": [] }] }`), one answer line once they listen, and they
 * stop when stdin ends.
 */
export async function respond(o: { lab: string }): Promise<number> {
  const lab = checkLabName(o.lab, '--lab');
  const rs: Responder[] = [];
  const lines = createInterface({ input: process.stdin });
  const it = lines[Symbol.asyncIterator]();
  const code = await answering(async () => {
    const first = await it.next();
    const req = JSON.parse(first.done ? '{}' : first.value) as { hosts?: { host: string; tcp: number[]; udp: number[] }[] };
    const l = await labHosts(lab, undefined, false);
    // As a machine's own run does: a lab's servers still starting keep their ports.
    await waitForServers(lab, new Set((req.hosts ?? []).map((w) => String(w.host))));
    const ports = (v: unknown) => (Array.isArray(v) && v.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535) ? (v as number[]) : []);
    for (const want of req.hosts ?? []) {
      const h = findHost(l, String(want.host));
      rs.push(await startResponder(h.name, h.ns, ports(want.tcp), ports(want.udp), () => undefined));
    }
    return { listening: rs.map((r) => r.host) };
  }, true);
  // Until the coordinator's assertions are done: it ends stdin (or its connection drops).
  while (!(await it.next()).done);
  await stopResponders(rs);
  return code;
}
