// status, inspect, test, exec, shell, logs and capture of a lab across machines: the coordinator
// asks each machine for its part (the hidden commands of src/cli/machine-view.ts) over the run's
// one ssh connection per machine, and gives one answer with machine names and one exit code.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { constants as osConstants } from 'node:os';
import pc from 'picocolors';
import { store } from '../apply/store.js';
import type { AssertionResult, LabResult } from '../assert/report.js';
import { destinations } from '../assert/targets.js';
import { EXIT_OK, EXIT_PENDING, MachineError, UsageError } from '../errors.js';
import type { Lab, Machine } from '../lab/types.js';
import { didYouMean } from '../lab/suggest.js';
import { call, openSession, underlays, type Answer, type Session } from '../machines/coordinator.js';
import { sliceLab } from '../machines/slice.js';
import type { Transport } from '../machines/transport.js';
import { netlabVersion } from '../machines/version.js';
import { checkLabName } from '../state/files.js';
import { recordedMachines } from './across.js';
import { formatInspect, type InspectReport } from './inspect.js';
import type { HostNs } from './labinfo.js';
import { encodeRequest, type HereRequest } from './machine-view.js';
import { out } from './output.js';
import { statusPending, statusWords, type StatusRow } from './status.js';
import { stringify } from 'yaml';
import type { RawLab } from '../lab/raw.js';

async function withMachines<T>(machines: Machine[], work: (s: Session) => Promise<T>): Promise<T> {
  const session = await openSession(machines, netlabVersion());
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}

/** Asks every machine at once; a machine that fails to answer fails the command, named. */
async function askAll(s: Session, step: string, args: string[]): Promise<Answer[]> {
  const answers = await Promise.all(s.transports.map((t) => call(t, step, args)));
  const failed = s.transports.flatMap((t, i) => (answers[i]!.ok ? [] : [`${t.label}: ${step}: ${answers[i]!.message ?? 'failed'}`]));
  if (failed.length) throw new MachineError(failed.join('\n'));
  return answers;
}

export interface AcrossStatus {
  pending: boolean;
  lines: string[];
  json: object;
}

/** Each machine's part of the lab, drift on any of them being drift of the lab. */
export async function statusAcross(lab: string): Promise<AcrossStatus> {
  const machines = (await recordedMachines(lab))!;
  return withMachines(machines, async (s) => {
    const answers = await askAll(s, 'status', ['status', '--lab', lab]);
    const rows = s.transports.map((t, i) => ({ t, row: (answers[i]!.row as StatusRow | null) ?? null }));
    const pending = rows.some((r) => r.row !== null && statusPending(r.row));
    const drifted = rows.reduce((n, r) => n + (r.row?.drift.length ?? 0), 0);
    const lines = [
      `${pc.bold(lab)}  across ${machines.length} machines  ${pending ? pc.yellow(`drifted (${drifted})`) : pc.green('in sync')}`,
    ];
    for (const { t, row } of rows) {
      if (!row) {
        lines.push(`  ${pc.bold(t.label)}  ${pc.dim('no part of the lab')}`);
        continue;
      }
      lines.push(`  ${pc.bold(t.label)}  ${statusWords(row)}  ${row.objects} objects  ${row.appliedAt ?? ''}`);
      for (const x of row.drift) lines.push(`      ${x}`);
    }
    const json = { lab, pending, machines: rows.map(({ t, row }) => ({ machine: t.machine.name, label: t.label, status: row })) };
    return { pending, lines, json };
  });
}

/** `netlab inspect LAB` of a lab across machines: each machine's report under its name. */
export async function inspectAcross(lab: string, o: { json?: boolean }): Promise<number> {
  const machines = (await recordedMachines(lab))!;
  return withMachines(machines, async (s) => {
    const answers = await askAll(s, 'inspect', ['inspect', '--lab', lab]);
    const reports = s.transports.map((t, i) => ({ t, report: (answers[i]!.report as InspectReport | null) ?? null }));
    const inSync = reports.every((r) => r.report === null || r.report.inSync);
    if (o.json)
      out.json({
        lab,
        inSync,
        machines: reports.map(({ t, report }) => ({ machine: t.machine.name, label: t.label, report })),
      });
    else
      for (const { t, report } of reports) {
        out.line(`${pc.bold(`machine ${t.label}`)}${report ? '' : `  ${pc.dim('no part of the lab')}`}`);
        if (report) for (const l of formatInspect(report)) out.line(l ? `  ${l}` : l);
        out.line('');
      }
    return inSync ? EXIT_OK : EXIT_PENDING;
  });
}

/** The machine holding a host: the one whose record has it, a lab namespace rather than a machine's own namespace. */
export async function locate(s: Session, lab: string, host: string): Promise<Transport> {
  const answers = await askAll(s, 'hosts', ['hosts', '--lab', lab]);
  const found = s.transports.flatMap((t, i) => {
    const h = ((answers[i]!.hosts as HostNs[]) ?? []).find((x) => x.name === host);
    return h ? [{ t, h }] : [];
  });
  // A slice's overlay host is the machine's own namespace under a name the lab does not use there.
  const inLab = found.filter((f) => f.h.ns !== '');
  const pick = inLab.length ? inLab : found;
  if (pick.length === 1) return pick[0]!.t;
  if (pick.length > 1)
    throw new UsageError(`host "${host}" of lab "${lab}" is on several machines: ${pick.map((f) => f.t.label).join(', ')}`);
  const names = [...new Set(answers.flatMap((a) => ((a.hosts as HostNs[]) ?? []).map((h) => h.name)))].sort();
  const err = new UsageError(`host "${host}" is not on any machine of lab "${lab}"${didYouMean(host, names)}`);
  err.hints.push(names.length ? `hosts of lab "${lab}": ${names.join(', ')}` : `lab "${lab}" has no hosts on its machines`);
  throw err;
}

const signalCode = (signal: NodeJS.Signals | null) => 128 + ((signal && (osConstants.signals as Record<string, number>)[signal]) || 1);

/**
 * Runs a request on the machine that holds its host, the user's terminal attached (`tty`: ssh
 * -t); null when the lab is not across machines here. A capture or a followed log gets a stdin
 * that only ends at Ctrl-C, which is how the machine learns to stop.
 */
export async function runAcross(r: HereRequest, tty: boolean, output?: NodeJS.WritableStream): Promise<number | null> {
  const machines = await recordedMachines(checkLabName(r.lab, 'lab'));
  if (!machines) return null;
  const host = r.cmd === 'capture' ? r.endpoint.slice(0, Math.max(0, r.endpoint.indexOf(':'))) : r.host;
  return withMachines(machines, async (s) => {
    const t = await locate(s, r.lab, host);
    const [cmd, args] = t.command(['machine', 'here', encodeRequest(r)], tty);
    const held = r.cmd === 'capture' || (r.cmd === 'logs' && r.follow);
    const child = spawn(cmd, args, { stdio: [held ? 'pipe' : 'inherit', output ? 'pipe' : 'inherit', 'inherit'] });
    if (output) child.stdout!.pipe(output);
    // The child has the terminal: a Ctrl-C reaches it (and, for a held stdin, ends that).
    const onInt = () => child.stdin?.end();
    process.on('SIGINT', onInt).on('SIGTERM', onInt);
    try {
      return await new Promise<number>((resolve, reject) => {
        child.once('error', (e) => reject(new MachineError(`${t.label}: cannot run ssh: ${e.message}`)));
        child.once('close', (code, signal) => resolve(code ?? signalCode(signal)));
      });
    } finally {
      process.off('SIGINT', onInt).off('SIGTERM', onInt);
    }
  });
}

/** `netlab capture` to a host on another machine: the pcap comes back over ssh into the file here. */
export async function captureAcross(
  lab: string,
  endpoint: string,
  filter: string[],
  o: { write?: string; count?: string },
): Promise<number | null> {
  if (!(await store.readMachines(checkLabName(lab, 'lab')))) return null;
  const toFile = o.write !== undefined && o.write !== '-';
  const summary = o.write === undefined && Boolean(process.stdout.isTTY);
  const file = toFile ? createWriteStream(o.write!) : undefined;
  const code = await runAcross({ cmd: 'capture', lab, endpoint, filter, count: o.count ?? null, summary }, false, file);
  if (file) await new Promise<void>((resolve) => file.end(resolve));
  return code;
}

/** Starts the responders of assertions whose target is on `t`'s machine; resolves once they listen. */
async function startRemoteResponders(t: Transport, lab: string, hosts: { host: string; tcp: number[]; udp: number[] }[]) {
  const [cmd, args] = t.command(['machine', 'respond', '--lab', lab]);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.stdin!.write(`${JSON.stringify({ hosts })}\n`);
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve) => {
    lines.once('line', resolve);
    void done.then(() => resolve(''));
  });
  const stop = async () => {
    child.stdin!.end();
    await done;
  };
  let a: Answer | null = null;
  try {
    a = JSON.parse(first) as Answer;
  } catch {
    // No answer: the connection or netlab there failed.
  }
  if (!a?.ok) {
    await stop();
    throw new MachineError(`${t.label}: responders: ${a?.message ?? (stderr.trim() || 'no answer')}`);
  }
  return stop;
}

/**
 * `netlab test FILE` of a lab across machines: each machine runs the assertions that start on its
 * hosts, at once, over its connection; a TCP/UDP target on another machine gets its responder
 * there first. The results come back in the order of the lab's `expect:`.
 */
export async function testAcross(raw: RawLab, lab: Lab, timeout: string): Promise<LabResult> {
  const started = Date.now();
  const timestamp = new Date(started).toISOString().replace(/\.\d{3}Z$/, '');
  return withMachines(lab.machines!, async (s) => {
    const slices = sliceLab(raw, lab, await underlays(s, lab));
    const machineOf = new Map(lab.hosts.map((h) => [h.name, h.machine!]));
    const wanted = new Map<string, Map<string, { tcp: Set<number>; udp: Set<number> }>>();
    for (const e of lab.expect) {
      if (e.proto === 'icmp') continue;
      for (const d of destinations(lab, e)) {
        const m = machineOf.get(d.host)!;
        if (m === machineOf.get(e.from)) continue;
        const hosts = wanted.get(m) ?? new Map<string, { tcp: Set<number>; udp: Set<number> }>();
        wanted.set(m, hosts);
        const ports = hosts.get(d.host) ?? { tcp: new Set<number>(), udp: new Set<number>() };
        hosts.set(d.host, ports);
        ports[d.proto].add(d.port);
      }
    }
    const stops: (() => Promise<void>)[] = [];
    try {
      const listening = await Promise.allSettled(
        s.transports
          .filter((t) => wanted.has(t.machine.name))
          .map((t) =>
            startRemoteResponders(
              t,
              lab.name,
              [...wanted.get(t.machine.name)!].map(([host, p]) => ({ host, tcp: [...p.tcp], udp: [...p.udp] })),
            ),
          ),
      );
      for (const r of listening) if (r.status === 'fulfilled') stops.push(r.value);
      const failed = listening.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const withSlice = s.transports.filter((t) => slices.slices.get(t.machine.name)?.expect?.length);
      const answers = await Promise.all(
        withSlice.map((t) => call(t, 'test', ['test', '--timeout', timeout], stringify(slices.slices.get(t.machine.name)! as RawLab))),
      );
      const results: (AssertionResult | undefined)[] = lab.expect.map(() => undefined);
      for (const [i, t] of withSlice.entries()) {
        const a = answers[i]!;
        if (!a.ok) throw new MachineError(`${t.label}: test: ${a.message ?? 'failed'}`);
        const got = (a.result as LabResult).results;
        for (const [j, at] of slices.expectFrom.get(t.machine.name)!.entries()) {
          const e = lab.expect[at]!;
          const r = got[j];
          if (r) results[at] = { ...r, lab: lab.name, text: e.text, pos: e.pos, message: `${r.message} (from ${t.machine.name})` };
        }
      }
      return {
        lab: lab.name,
        file: lab.file,
        error: null,
        results: lab.expect.map(
          (e, i) =>
            results[i] ?? {
              lab: lab.name,
              text: e.text,
              pos: e.pos,
              status: 'error' as const,
              message: slices.notes.find((n) => n.startsWith(`"${e.text}"`)) ?? 'not run on any machine',
              details: [],
              seconds: 0,
            },
        ),
        seconds: (Date.now() - started) / 1000,
        timestamp,
      };
    } finally {
      await Promise.all(stops.map((stop) => stop()));
    }
  });
}
