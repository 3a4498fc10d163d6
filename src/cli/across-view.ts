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
import { judgeMatrix, matrixText } from '../assert/matrix.js';
import { EXIT_OK, EXIT_PENDING, MachineError, UsageError } from '../errors.js';
import type { Lab, Machine } from '../lab/types.js';
import { didYouMean } from '../lab/suggest.js';
import { call, openReachable, openSession, REACH_HINT, underlays, type Answer, type Session } from '../machines/coordinator.js';
import { testsByMachine, type Ports } from '../machines/assertions.js';
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

/** One machine's part as status and inspect report it: its answer, or why there is none. */
interface Part {
  t: Transport;
  answer: Answer | null;
  /** `out of reach: ssh's message`, or the step and the machine's error. */
  error: string | null;
}

/**
 * Asks every machine at once; one out of reach, or failing to answer, is a part with its error
 * rather than the end of the command, so the others are still reported.
 */
async function askParts<T>(machines: Machine[], step: string, args: string[], work: (parts: Part[]) => T): Promise<T> {
  const { session, unreachable } = await openReachable(machines, netlabVersion());
  try {
    const answers = await Promise.all(session.transports.map((t) => call(t, step, args)));
    const parts: Part[] = [
      ...session.transports.map((t, i) => {
        const a = answers[i]!;
        return { t, answer: a.ok ? a : null, error: a.ok ? null : `${step}: ${a.message ?? 'failed'}` };
      }),
      ...unreachable.map((u) => ({ t: u.transport, answer: null, error: `out of reach: ${u.reason}` })),
    ];
    return work(parts.sort((x, y) => machines.indexOf(x.t.machine) - machines.indexOf(y.t.machine)));
  } finally {
    await session.close();
  }
}

/** The error a command exits with, after its report, when some machine's part is missing from it. */
function partsError(lab: string, parts: Part[]): MachineError | null {
  const missing = parts.filter((p) => p.error !== null);
  if (!missing.length) return null;
  const err = new MachineError(
    `${missing.map((p) => `${p.t.label}: ${p.error!}`).join('\n')}\nthe other machines of lab "${lab}" are reported`,
  );
  if (missing.some((p) => p.error!.startsWith('out of reach'))) err.hints.push(REACH_HINT);
  return err;
}

export interface AcrossStatus {
  pending: boolean;
  lines: string[];
  json: object;
  /** Set when a machine's part could not be had: the command exits 1 after its report. */
  error: MachineError | null;
}

/** Each machine's part of the lab, drift on any of them being drift of the lab. */
export async function statusAcross(lab: string): Promise<AcrossStatus> {
  const machines = (await recordedMachines(lab))!;
  return askParts(machines, 'status', ['status', '--lab', lab], (parts) => {
    const rows = parts.map((p) => ({ ...p, row: (p.answer?.row as StatusRow | null | undefined) ?? null }));
    const pending = rows.some((r) => r.row !== null && statusPending(r.row));
    const drifted = rows.reduce((n, r) => n + (r.row?.drift.length ?? 0), 0);
    const missing = rows.filter((r) => r.error !== null).map((r) => r.t.machine.name);
    const state = [
      ...(missing.length ? [pc.red(`not known on ${missing.join(', ')}`)] : []),
      pending ? pc.yellow(`drifted (${drifted})`) : missing.length ? '' : pc.green('in sync'),
    ].filter(Boolean);
    const lines = [`${pc.bold(lab)}  across ${machines.length} machines  ${state.join(', ')}`];
    for (const { t, row, error } of rows) {
      if (error !== null) lines.push(`  ${pc.bold(t.label)}  ${pc.red(error)}`);
      else if (!row) lines.push(`  ${pc.bold(t.label)}  ${pc.dim('no part of the lab')}`);
      else {
        lines.push(`  ${pc.bold(t.label)}  ${statusWords(row)}  ${row.objects} objects  ${row.appliedAt ?? ''}`);
        for (const x of row.drift) lines.push(`      ${x}`);
      }
    }
    const json = {
      lab,
      pending,
      machines: rows.map(({ t, row, error }) => ({ machine: t.machine.name, label: t.label, status: row, error })),
    };
    return { pending, lines, json, error: partsError(lab, rows) };
  });
}

/**
 * `netlab inspect LAB` of a lab across machines: each machine's report under its name. A machine
 * whose report is missing makes the lab not known to be in sync, and the command exits 1.
 */
export async function inspectAcross(lab: string, o: { json?: boolean }): Promise<number> {
  const machines = (await recordedMachines(lab))!;
  const { code, error } = await askParts(machines, 'inspect', ['inspect', '--lab', lab], (parts) => {
    const reports = parts.map((p) => ({ ...p, report: (p.answer?.report as InspectReport | null | undefined) ?? null }));
    const inSync = reports.every((r) => r.error === null && (r.report === null || r.report.inSync));
    if (o.json)
      out.json({
        lab,
        inSync,
        machines: reports.map(({ t, report, error }) => ({ machine: t.machine.name, label: t.label, report, error })),
      });
    else
      for (const { t, report, error } of reports) {
        const note = error !== null ? `  ${pc.red(error)}` : report ? '' : `  ${pc.dim('no part of the lab')}`;
        out.line(`${pc.bold(`machine ${t.label}`)}${note}`);
        if (report) for (const l of formatInspect(report)) out.line(l ? `  ${l}` : l);
        out.line('');
      }
    return { code: inSync ? EXIT_OK : EXIT_PENDING, error: partsError(lab, reports) };
  });
  if (error) throw error;
  return code;
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

/** The machine a lab file places `host` on, before anything connects. */
function placedOn(file: Lab, host: string): string {
  const h = file.hosts.find((x) => x.name === host);
  if (h) return h.machine!;
  const names = file.hosts.map((x) => x.name);
  const err = new UsageError(`host "${host}" is not in lab "${file.name}" (${file.file})${didYouMean(host, names)}`);
  err.hints.push(`hosts of lab "${file.name}": ${names.join(', ')}`);
  throw err;
}

const signalCode = (signal: NodeJS.Signals | null) => 128 + ((signal && (osConstants.signals as Record<string, number>)[signal]) || 1);

/**
 * Runs a request on the machine that holds its host, the user's terminal attached (`tty`: ssh
 * -t); null when the lab is not across machines here. With the lab's `file`, its placement
 * names the machine and its `machines:` how to reach it; else this machine's record does. A capture or a followed log gets a stdin
 * that only ends at Ctrl-C, which is how the machine learns to stop.
 */
export async function runAcross(r: HereRequest, tty: boolean, output?: NodeJS.WritableStream, file?: Lab): Promise<number | null> {
  const machines = file ? file.machines! : await recordedMachines(checkLabName(r.lab, 'lab'));
  if (!machines) return null;
  const host = r.cmd === 'capture' ? r.endpoint.slice(0, Math.max(0, r.endpoint.indexOf(':'))) : r.host;
  const placed = file ? placedOn(file, host) : null;
  return withMachines(machines, async (s) => {
    const t = placed ? s.transports.find((x) => x.machine.name === placed)! : await locate(s, r.lab, host);
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
async function startRemoteResponders(t: Transport, lab: string, hosts: Ports[]) {
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

/** A result as the machine's own run gave it, placed at its assertion in the lab file. */
type Outcome = Omit<AssertionResult, 'lab' | 'text' | 'pos'>;

/**
 * `netlab test FILE` of a lab across machines: each machine runs the assertions that start on its
 * hosts (src/machines/assertions.ts), at once, over its connection; a responder needed by probes
 * of another machine is started on its host's machine first. A truth table's rows run on their
 * hosts' machines and come back as one table. The results are in the order of one machine's
 * `netlab test`: the lab's assertions, then its tables.
 */
export async function testAcross(raw: RawLab, lab: Lab, timeout: string): Promise<LabResult> {
  const started = Date.now();
  const timestamp = new Date(started).toISOString().replace(/\.\d{3}Z$/, '');
  return withMachines(lab.machines!, async (s) => {
    const slices = sliceLab(raw, lab, await underlays(s, lab));
    const tests = testsByMachine(lab);
    const stops: (() => Promise<void>)[] = [];
    try {
      const listening = await Promise.allSettled(
        s.transports
          .filter((t) => tests.get(t.machine.name)?.forOthers.length)
          .map((t) => startRemoteResponders(t, lab.name, tests.get(t.machine.name)!.forOthers)),
      );
      for (const r of listening) if (r.status === 'fulfilled') stops.push(r.value);
      const failed = listening.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const running = s.transports.filter((t) => {
        const r = tests.get(t.machine.name)?.request;
        return r && (r.expect.length || r.matrices.length);
      });
      const answers = await Promise.all(
        running.map((t) => {
          const sent = { slice: stringify(slices.slices.get(t.machine.name)!), request: tests.get(t.machine.name)!.request };
          return call(t, 'test', ['test', '--timeout', timeout], JSON.stringify(sent));
        }),
      );
      const results: (Outcome | undefined)[] = lab.expect.map(() => undefined);
      const matrices = (lab.matrices ?? []).map((m) => ({
        got: m.from.map(() => m.to.map((): boolean | null => null)),
        machines: [] as string[],
        errors: [] as string[],
        seconds: 0,
      }));
      for (const [i, t] of running.entries()) {
        const a = answers[i]!;
        if (!a.ok) throw new MachineError(`${t.label}: test: ${a.message ?? 'failed'}`);
        const mt = tests.get(t.machine.name)!;
        const got = (a.result as LabResult).results;
        for (const [j, at] of mt.expectAt.entries()) {
          const r = got[j];
          if (r) results[at] = { ...r, message: `${r.message} (from ${t.machine.name})` };
        }
        const cells = a.cells as (boolean[][] | null)[];
        for (const [j, { at, rows }] of mt.matrixAt.entries()) {
          const r = got[mt.expectAt.length + j];
          const m = matrices[at]!;
          m.machines.push(t.machine.name);
          m.seconds = Math.max(m.seconds, r?.seconds ?? 0);
          const c = cells[j];
          if (c) for (const [k, row] of rows.entries()) m.got[row] = c[k]!;
          else m.errors.push(`${t.machine.name}: ${r?.message ?? 'not run'}`);
        }
      }
      const notRun = (text: string, pos: Lab['expect'][number]['pos']): AssertionResult => ({
        lab: lab.name,
        text,
        pos,
        status: 'error',
        message: 'not run on any machine',
        details: [],
        seconds: 0,
      });
      return {
        lab: lab.name,
        file: lab.file,
        error: null,
        results: [
          ...lab.expect.map((e, i) => {
            const r = results[i];
            return r ? { ...r, lab: lab.name, text: e.text, pos: e.pos } : notRun(e.text, e.pos);
          }),
          ...(lab.matrices ?? []).map((m, i) => {
            const { got, machines, errors, seconds } = matrices[i]!;
            const base = { lab: lab.name, text: matrixText(m), pos: m.pos, seconds };
            if (errors.length) return { ...base, status: 'error' as const, message: errors.join('; '), details: [] };
            const r = judgeMatrix(m, got);
            return { ...base, ...r, message: `${r.message} (from ${machines.join(', ')})` };
          }),
        ],
        seconds: (Date.now() - started) / 1000,
        timestamp,
      };
    } finally {
      await Promise.all(stops.map((stop) => stop()));
    }
  });
}
