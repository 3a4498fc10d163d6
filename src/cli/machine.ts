// `netlab machine ...`: the hidden commands a coordinator runs on each machine of a lab across
// machines (see src/cli/across.ts). The slice comes on stdin as a lab document and is checked
// like any lab file; the answer is one JSON object on stdout, errors included, so the
// coordinator can name the machine, step, command and kernel message.
import { applyLab, commitHeld, destroyLab, planDestroy, planLab, rollbackHeld } from '../apply/engine.js';
import { store } from '../apply/store.js';
import { runLabAssertions } from '../assert/run.js';
import { RealDriver } from '../driver/real.js';
import { underlayTowards } from '../driver/underlay.js';
import {
  EXIT_ERROR,
  EXIT_OK,
  EXIT_PENDING,
  exitCodeOf,
  InterruptedError,
  LabError,
  LockBusyError,
  NetlabError,
  UsageError,
} from '../errors.js';
import { readFrame } from '../machines/frame.js';
import { parseIp } from '../lab/addr.js';
import { loadLabText } from '../lab/index.js';
import { decodeLabBytes, MAX_LAB_BYTES } from '../lab/read.js';
import type { Lab } from '../lab/types.js';
import { checkLabName } from '../state/files.js';
import { stepJson } from './output.js';
import { netlabVersion } from '../machines/version.js';

function answer(value: object): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * Runs one machine command; any failure becomes the JSON answer and the exit code. `keepStdin`:
 * the command reads on after its answer (responders run until the coordinator ends stdin).
 */
export async function answering(work: () => Promise<{ code?: number } & object>, keepStdin = false): Promise<number> {
  try {
    const { code = EXIT_OK, ...rest } = await work();
    answer({ ok: true, ...rest });
    return code;
  } catch (e) {
    const err = e as Error;
    const issues = e instanceof LabError ? e.issues : undefined;
    answer({ ok: false, exitCode: exitCodeOf(e), message: err.message, hints: e instanceof NetlabError ? e.hints : [], issues });
    return exitCodeOf(e);
  } finally {
    // Stops reading stdin, which the coordinator keeps open until the answer.
    if (!keepStdin) process.stdin.destroy();
  }
}

/**
 * The slice on stdin, checked like a lab file; a slice is for this machine alone. `gone` runs
 * when stdin ends after it: the coordinator is no longer waiting for the answer.
 */
async function readSlice(gone: () => void = () => undefined): Promise<Lab> {
  const { text, issues } = decodeLabBytes(SLICE_FILE, await readFrame(process.stdin, MAX_LAB_BYTES, gone));
  if (text === null) throw new LabError(issues);
  return sliceOf(text);
}

const SLICE_FILE = '<slice on stdin>';

function sliceOf(text: string): Lab {
  const r = loadLabText(SLICE_FILE, text);
  if (!r.lab) throw new LabError(r.issues);
  if (r.lab.machines) throw new UsageError('a slice is the part of a lab for one machine: it cannot have machines itself');
  return r.lab;
}

/** How long commit, rollback and destroy wait for a run of the lab still going here: one whose coordinator is gone stops at its next step and undoes itself. */
const RUN_ENDING_MS = 120_000;

/** Runs `work`, again while the lab is locked by another run, until that run ends or the wait is over. */
async function whenUnlocked<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RUN_ENDING_MS;
  for (;;) {
    try {
      return await work();
    } catch (e) {
      if (!(e instanceof LockBusyError) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function probe(o: { to?: string[] }): Promise<number> {
  return answering(async () => {
    const to = (o.to ?? []).map((t) => {
      const ip = parseIp(t);
      if (!ip) throw new UsageError(`--to ${JSON.stringify(t)} is not an IP address`);
      return ip.toString();
    });
    const routes = await Promise.all(to.map((t) => underlayTowards(t)));
    return { version: netlabVersion(), underlays: routes };
  });
}

/** What `--remove LAB` names: this machine's part of that lab goes (its hosts moved away, or the machine left the lab). */
async function removal(o: { remove?: string }, gone: () => void = () => undefined): Promise<string | null> {
  if (o.remove === undefined) return null;
  const lab = checkLabName(o.remove, '--remove');
  // No slice, but stdin framed all the same: its end says the coordinator is gone.
  await readFrame(process.stdin, 0, gone);
  return lab;
}

export async function plan(o: { remove?: string } = {}): Promise<number> {
  return answering(async () => {
    const remove = await removal(o);
    if (remove !== null) {
      const lp = await planDestroy(new RealDriver(), remove, null);
      return {
        code: lp.plan.steps.length ? EXIT_PENDING : EXIT_OK,
        lab: remove,
        conflicts: [],
        advice: [],
        steps: lp.plan.steps.map(stepJson),
      };
    }
    const lab = await readSlice();
    const lp = await planLab(new RealDriver(), lab);
    const pending = lp.plan.steps.length > 0;
    return {
      code: lp.plan.conflicts.length ? EXIT_ERROR : pending ? EXIT_PENDING : EXIT_OK,
      lab: lab.name,
      fingerprint: lp.plan.fingerprint,
      conflicts: lp.plan.conflicts,
      advice: lp.advice,
      steps: lp.plan.steps.map(stepJson),
    };
  });
}

/**
 * Applies the slice and holds it. Without a pty an ssh session that ends sends no SIGHUP: the
 * end of stdin says the coordinator is gone, and the run stops at its next step and rolls back.
 */
export async function apply(o: { remove?: string } = {}): Promise<number> {
  const stop: { requested: string | null } = { requested: null };
  const onSignal = (sig: string) => () => (stop.requested ??= sig);
  const handlers = (['SIGHUP', 'SIGTERM', 'SIGINT'] as const).map((sig) => [sig, onSignal(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  try {
    return await answering(async () => {
      const gone = () => (stop.requested ??= 'the end of the connection to the coordinator');
      const d = new RealDriver();
      const remove = await removal(o, gone);
      if (remove !== null) {
        const r = await destroyLab(d, remove, null, { hold: true, stop });
        if (stop.requested) {
          await rollbackHeld(d, remove);
          throw new InterruptedError(stop.requested);
        }
        return { changed: r.steps.length > 0, steps: r.steps.map(stepJson) };
      }
      const lab = await readSlice(gone);
      const r = await applyLab(d, lab, { hold: true, stop });
      if (stop.requested && r.changed) {
        // Its answer can reach nobody, so nobody can commit it: undone here, not left to the next run.
        await rollbackHeld(d, lab.name);
        throw new InterruptedError(stop.requested);
      }
      return { changed: r.changed, steps: r.steps.map(stepJson) };
    });
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

export async function commit(o: { lab: string }): Promise<number> {
  return answering(async () => ({ committed: await whenUnlocked(() => commitHeld(checkLabName(o.lab, '--lab'))) }));
}

export async function rollback(o: { lab: string }): Promise<number> {
  return answering(async () => ({
    rolledBack: await whenUnlocked(() => rollbackHeld(new RealDriver(), checkLabName(o.lab, '--lab'))),
  }));
}

export async function destroy(o: { lab: string }): Promise<number> {
  return answering(async () => {
    const r = await whenUnlocked(() => destroyLab(new RealDriver(), checkLabName(o.lab, '--lab'), null));
    return { steps: r.steps.map(stepJson), strangers: r.strangers };
  });
}

/**
 * Runs the assertions that start on this machine. stdin: one frame of JSON, the slice (a lab
 * document, checked like a lab file) and the request (src/machines/assertions.ts), which is
 * checked against it. The answer has each truth table's observed cells, so the coordinator can
 * put one table together from the rows of every machine.
 */
export async function test(o: { timeout: string }): Promise<number> {
  return answering(async () => {
    const bytes = await readFrame(process.stdin, MAX_LAB_BYTES, () => undefined);
    let sent: { slice?: unknown; request?: unknown };
    try {
      sent = JSON.parse(bytes.toString('utf8')) as typeof sent;
    } catch {
      throw new UsageError('the test request on stdin is not JSON');
    }
    if (typeof sent?.slice !== 'string') throw new UsageError('the test request on stdin has no slice');
    const lab = sliceOf(sent.slice);
    const { parseTestRequest } = await import('../machines/assertions.js');
    const request = parseTestRequest(sent.request, lab);
    if (!(await store.readRecord(lab.name))) throw new UsageError(`lab "${lab.name}" is not applied on this machine`);
    const { parseDuration } = await import('./duration.js');
    const cells: (boolean[][] | null)[] = request.matrices.map(() => null);
    const result = await runLabAssertions(
      { ...lab, expect: request.expect, matrices: request.matrices },
      {
        timeoutMs: parseDuration(o.timeout),
        responders: new Map(request.responders.map((r) => [r.host, { tcp: r.tcp, udp: r.udp }])),
        onMatrix: (i, got) => (cells[i] = got),
      },
    );
    return { result, cells };
  });
}
