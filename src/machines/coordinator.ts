// The coordinator of a lab across machines: it slices the lab, has every machine plan its slice,
// then apply and hold it, then commit; when any machine fails, a connection drops or the user
// stops the run, every machine rolls back to its checkpoint. Each machine runs this netlab's
// hidden `machine` commands (src/cli/machine.ts), so the engine stays one engine.
import { stringify } from 'yaml';
import { EXIT_ERROR, EXIT_ROLLBACK_INCOMPLETE, type LabIssue, MachineError } from '../errors.js';
import type { RawLab } from '../lab/raw.js';
import type { Lab, Machine } from '../lab/types.js';
import { sliceLab, type Slices, type Underlay } from './slice.js';
import { netlabCommand, openTransports, SSH_FAILED, type RunResult, type Transport } from './transport.js';

/** A machine's JSON answer (see src/cli/machine.ts); `ok: false` carries the error. */
export interface Answer {
  ok: boolean;
  exitCode?: number;
  message?: string;
  hints?: string[];
  issues?: LabIssue[];
  [key: string]: unknown;
}

export interface StepJson {
  op: 'create' | 'modify' | 'delete';
  objects: string[];
  title: string;
  reason: string;
  commands: string[];
}

export interface MachinePlan {
  machine: string;
  label: string;
  steps: StepJson[];
  conflicts: string[];
  advice: string[];
}

export interface AcrossPlan {
  lab: string;
  placement: Map<string, string[]>;
  slices: Slices;
  plans: MachinePlan[];
}

/** Stops the run between phases: the coordinator's Ctrl-C or SIGTERM. */
export interface Stop {
  requested: string | null;
}

/** What a failure on a machine says: which machine, which step, and the machine's own message. */
function failure(t: Transport, step: string, a: Answer): string {
  return `${t.label}: ${step}: ${a.message ?? 'failed'}`;
}

/** Runs `netlab machine ARGS` on one machine and reads its answer; a lost connection is an answer too. */
export async function call(t: Transport, step: string, args: string[], input?: string): Promise<Answer> {
  const r = await t.netlab(['machine', ...args], input);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const a = JSON.parse(last) as Answer;
    if (typeof a === 'object' && a !== null && typeof a.ok === 'boolean') return a;
  } catch {
    // Not an answer: the connection or the remote netlab failed before it could give one.
  }
  const why = r.stderr.trim().split('\n').slice(-3).join('; ') || `exit code ${r.code}`;
  return {
    ok: false,
    lost: true,
    exitCode: EXIT_ERROR,
    message: r.code === SSH_FAILED ? `the ssh connection failed: ${why}` : `netlab gave no answer there: ${why}`,
  };
}

/** A session with every machine of the lab: connected, versions checked. */
export interface Session {
  transports: Transport[];
  close(): Promise<void>;
}

export const REACH_HINT = 'check that sshd runs there and that `ssh -o BatchMode=yes DESTINATION true` works from this machine';

/** A machine the coordinator could not connect to, and ssh's own words for why. */
export interface Unreached {
  transport: Transport;
  reason: string;
}

/** What ssh said when it failed: its last line of stderr, or its exit code. */
const sshReason = (r: RunResult) => r.stderr.trim().split('\n').pop() || `ssh exit code ${r.code}`;

/** Connects to every machine at once; any that cannot be reached, or runs another netlab, is an error before anything changes. */
export async function openSession(machines: Machine[], version: string): Promise<Session> {
  return (await connectAll(machines, version, false)).session;
}

/**
 * Connects to every machine at once and checks the versions of those that answered; the ones
 * out of reach are given apart, for commands that report on the others (status, inspect).
 */
export const openReachable = (machines: Machine[], version: string) => connectAll(machines, version, true);

async function connectAll(machines: Machine[], version: string, partial: boolean): Promise<{ session: Session; unreachable: Unreached[] }> {
  const { transports: all, close } = await openTransports(machines);
  try {
    const connected = await Promise.all(all.map((t) => t.connect()));
    const unreachable = all.flatMap((t, i) => (connected[i]!.code !== 0 ? [{ transport: t, reason: sshReason(connected[i]!) }] : []));
    if (unreachable.length && !partial) {
      const lines = unreachable.map((u) => `${u.transport.label}: ${u.reason}`);
      const err = new MachineError(`cannot reach ${lines.join('; ')}; nothing was changed on any machine`);
      err.hints.push(REACH_HINT);
      throw err;
    }
    const transports = all.filter((_, i) => connected[i]!.code === 0);
    const versions = await Promise.all(transports.map((t) => call(t, 'version check', ['probe'])));
    for (const [i, t] of transports.entries()) {
      const a = versions[i]!;
      if (a.lost) {
        // Reached, but no netlab of this kind answered: none at that path, or one from before labs across machines.
        const err = new MachineError(
          `${t.label} has no netlab ${version} that answers at ${netlabCommand()[1]}: ${a.message ?? 'no answer'}; nothing was changed on any machine`,
        );
        err.hints.push(`install netlab ${version} on ${t.machine.name} at the same path as here, with the same node (${process.execPath})`);
        throw err;
      }
      if (!a.ok) throw new MachineError(`${failure(t, 'version check', a)}; nothing was changed on any machine`);
      if (a.version !== version) {
        const err = new MachineError(
          `${t.label} runs netlab ${String(a.version)}, this machine ${version}: every machine of a lab needs the same netlab; nothing was changed`,
        );
        err.hints.push(`install netlab ${version} on ${t.machine.name} at the same path as here (${process.argv[1] ?? 'netlab'})`);
        throw err;
      }
    }
    return { session: { transports, close }, unreachable };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Each machine's underlay: its address, and the device and MTU its kernel routes the others through. */
export async function underlays(session: Session, lab: Lab): Promise<Map<string, Underlay>> {
  // Only the lab's machines: one that left it carries no tunnel.
  const names = new Set((lab.machines ?? []).map((m) => m.name));
  const transports = session.transports.filter((t) => names.has(t.machine.name));
  const known = transports.map((t) => t.machine.underlay).filter((a): a is string => a !== null);
  const answers = await Promise.all(
    transports.map((t) => {
      const others = known.filter((a) => a !== t.machine.underlay);
      return call(t, 'underlay', ['probe', ...(others.length ? ['--to', ...others] : [])]);
    }),
  );
  const out = new Map<string, Underlay>();
  for (const [i, t] of transports.entries()) {
    const a = answers[i]!;
    if (!a.ok) throw new MachineError(`${failure(t, 'underlay', a)}; nothing was changed on any machine`);
    const routes = a.underlays as Underlay[];
    const narrowest = routes.reduce<Underlay | null>((m, r) => (m && m.mtu <= r.mtu ? m : r), null);
    const address = t.machine.underlay ?? narrowest?.address;
    if (!address) throw new MachineError(`${t.label}: give its underlay address in the lab file (underlay: ADDRESS)`);
    out.set(t.machine.name, { address, dev: narrowest?.dev ?? 'lo', mtu: narrowest?.mtu ?? 1500 });
  }
  return out;
}

/** The slice of one machine as the lab document it checks. */
function sliceText(slices: Slices, machine: string): string | null {
  const s = slices.slices.get(machine);
  return s ? stringify(s as RawLab) : null;
}

/**
 * What a machine is asked in a phase: its slice, or, for a machine without one (its hosts moved
 * to others, or it left the lab's machines), the removal of its part, in the same transaction.
 */
function sliceArgs(slices: Slices, lab: string, t: Transport, step: 'plan' | 'apply'): [string[], string] {
  const text = sliceText(slices, t.machine.name);
  return text === null ? [[step, '--remove', lab], ''] : [[step], text];
}

/** Plans every machine's slice at once: the combined plan, nothing changed. */
export async function planAcross(session: Session, raw: RawLab, lab: Lab): Promise<AcrossPlan> {
  const slices = sliceLab(raw, lab, await underlays(session, lab));
  const placement = new Map<string, string[]>();
  for (const h of lab.hosts) placement.set(h.machine!, [...(placement.get(h.machine!) ?? []), h.name]);
  const involved = session.transports;
  const answers = await Promise.all(involved.map((t) => call(t, 'plan', ...sliceArgs(slices, lab.name, t, 'plan'))));
  const plans: MachinePlan[] = [];
  for (const [i, t] of involved.entries()) {
    const a = answers[i]!;
    if (!a.ok) {
      const issues = (a.issues ?? []).map((x) => `${x.path || x.file}: ${x.message}`);
      throw new MachineError(
        `${failure(t, 'plan', a)}${issues.length ? `: ${issues.join('; ')}` : ''}; nothing was changed on any machine`,
      );
    }
    plans.push({
      machine: t.machine.name,
      label: t.label,
      steps: (a.steps as StepJson[]) ?? [],
      conflicts: (a.conflicts as string[]) ?? [],
      advice: (a.advice as string[]) ?? [],
    });
  }
  return { lab: lab.name, placement, slices, plans };
}

export interface MachineApplied {
  machine: string;
  label: string;
  changed: boolean;
  steps: StepJson[];
}

/**
 * Applies every machine's slice at once, each held (verified, journal kept); then commits all,
 * or, when any failed or the run was stopped, rolls every machine back to its checkpoint.
 */
export async function applyAcross(
  session: Session,
  plan: AcrossPlan,
  stop: Stop,
  committing: () => Promise<void> = async () => undefined,
): Promise<MachineApplied[]> {
  const involved = session.transports;
  const answers = await Promise.all(involved.map((t) => call(t, 'apply', ...sliceArgs(plan.slices, plan.lab, t, 'apply'))));
  const failed = involved.flatMap((t, i) => (answers[i]!.ok ? [] : [{ t, a: answers[i]! }]));
  if (failed.length || stop.requested) {
    // Every machine, the failed ones too: one whose connection dropped may have changed
    // anything, and a rollback where nothing is held changes nothing.
    const undone = await Promise.all(involved.map((t) => call(t, 'rollback', ['rollback', '--lab', plan.lab])));
    const stuck = involved.flatMap((t, i) => (undone[i]!.ok ? [] : [failure(t, 'rollback', undone[i]!)]));
    const selfStuck = failed.filter((f) => f.a.exitCode === EXIT_ROLLBACK_INCOMPLETE).map((f) => f.t.label);
    const cause = failed.length
      ? failed.map((f) => failure(f.t, 'apply', f.a)).join('\n')
      : `${stop.requested}: the run was stopped before it was committed`;
    if (stuck.length || selfStuck.length) {
      const err = new MachineError(
        `${cause}\nthe rollback did not complete on ${[...stuck, ...selfStuck].join('; ')}`,
        EXIT_ROLLBACK_INCOMPLETE,
      );
      err.hints.push(
        `its journal stays on that machine: once it is reachable, run \`netlab gc\` here to finish the rollback, ` +
          `or \`netlab apply\` or \`netlab destroy --lab ${plan.lab}\`, which finish it first`,
      );
      throw err;
    }
    const err = new MachineError(`${cause}\nevery machine was rolled back: ${involved.map((t) => t.machine.name).join(', ')}`);
    for (const f of failed) err.hints.push(...(f.a.hints ?? []));
    throw err;
  }
  // The decision, recorded before any machine commits: a run interrupted from here on is
  // finished by committing the held parts (netlab gc), never by undoing the committed ones.
  await committing();
  const commits = await Promise.all(involved.map((t) => call(t, 'commit', ['commit', '--lab', plan.lab])));
  const notCommitted = involved.flatMap((t, i) => (commits[i]!.ok ? [] : [failure(t, 'commit', commits[i]!)]));
  if (notCommitted.length) {
    const committed = involved.filter((_, i) => commits[i]!.ok).map((t) => t.machine.name);
    const lost = involved.some((_, i) => commits[i]!.lost);
    const err = new MachineError(
      `${notCommitted.join('\n')}\n` +
        `${committed.length ? `committed on ${committed.join(', ')}: the new lab is applied and recorded there` : 'no machine committed'}; ` +
        `on the others the new lab is applied and verified but held in their journal, not recorded` +
        (lost ? ' (where only the answer was lost, the commit may have happened)' : ''),
      EXIT_ROLLBACK_INCOMPLETE,
    );
    err.hints.push(
      `run \`netlab gc\` here once they are reachable: it commits the held parts, which makes the lab applied on every machine`,
    );
    throw err;
  }
  return involved.map((t, i) => ({
    machine: t.machine.name,
    label: t.label,
    changed: Boolean(answers[i]!.changed),
    steps: (answers[i]!.steps as StepJson[]) ?? [],
  }));
}

export interface MachineDestroyed {
  machine: string;
  label: string;
  steps: StepJson[];
  error: string | null;
  exitCode: number;
}

/** Destroys the lab on every machine at once; each machine finds its part by its own records and marks. */
export async function destroyAcross(session: Session, lab: string): Promise<MachineDestroyed[]> {
  const answers = await Promise.all(session.transports.map((t) => call(t, 'destroy', ['destroy', '--lab', lab])));
  return session.transports.map((t, i) => {
    const a = answers[i]!;
    return {
      machine: t.machine.name,
      label: t.label,
      steps: a.ok ? ((a.steps as StepJson[]) ?? []) : [],
      error: a.ok ? null : failure(t, 'destroy', a),
      exitCode: a.ok ? 0 : (a.exitCode ?? EXIT_ERROR),
    };
  });
}
