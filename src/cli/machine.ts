// `netlab machine ...`: the hidden commands a coordinator runs on each machine of a lab across
// machines (see src/cli/across.ts). The slice comes on stdin as a lab document and is checked
// like any lab file; the answer is one JSON object on stdout, errors included, so the
// coordinator can name the machine, step, command and kernel message.
import { applyLab, commitHeld, destroyLab, planLab, rollbackHeld } from '../apply/engine.js';
import { store } from '../apply/store.js';
import { runLabAssertions } from '../assert/run.js';
import { RealDriver } from '../driver/real.js';
import { underlayTowards } from '../driver/underlay.js';
import { EXIT_ERROR, EXIT_OK, EXIT_PENDING, exitCodeOf, LabError, NetlabError, UsageError } from '../errors.js';
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

/** Runs one machine command; any failure becomes the JSON answer and the exit code. */
export async function answering(work: () => Promise<{ code?: number } & object>): Promise<number> {
  try {
    const { code = EXIT_OK, ...rest } = await work();
    answer({ ok: true, ...rest });
    return code;
  } catch (e) {
    const err = e as Error;
    const issues = e instanceof LabError ? e.issues : undefined;
    answer({ ok: false, exitCode: exitCodeOf(e), message: err.message, hints: e instanceof NetlabError ? e.hints : [], issues });
    return exitCodeOf(e);
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_LAB_BYTES) throw new UsageError(`the slice on stdin is larger than ${MAX_LAB_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The slice on stdin, checked like a lab file; a slice is for this machine alone. */
async function readSlice(): Promise<Lab> {
  const file = '<slice on stdin>';
  const { text, issues } = decodeLabBytes(file, await readStdin());
  if (text === null) throw new LabError(issues);
  const r = loadLabText(file, text);
  if (!r.lab) throw new LabError(r.issues);
  if (r.lab.machines) throw new UsageError('a slice is the part of a lab for one machine: it cannot have machines itself');
  return r.lab;
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

export async function plan(): Promise<number> {
  return answering(async () => {
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

export async function apply(): Promise<number> {
  return answering(async () => {
    const lab = await readSlice();
    const r = await applyLab(new RealDriver(), lab, { hold: true });
    return { changed: r.changed, steps: r.steps.map(stepJson) };
  });
}

export async function commit(o: { lab: string }): Promise<number> {
  return answering(async () => ({ committed: await commitHeld(checkLabName(o.lab, '--lab')) }));
}

export async function rollback(o: { lab: string }): Promise<number> {
  return answering(async () => ({ rolledBack: await rollbackHeld(new RealDriver(), checkLabName(o.lab, '--lab')) }));
}

export async function destroy(o: { lab: string }): Promise<number> {
  return answering(async () => {
    const r = await destroyLab(new RealDriver(), checkLabName(o.lab, '--lab'), null);
    return { steps: r.steps.map(stepJson), strangers: r.strangers };
  });
}

export async function test(o: { timeout: string }): Promise<number> {
  return answering(async () => {
    const lab = await readSlice();
    if (!(await store.readRecord(lab.name))) throw new UsageError(`lab "${lab.name}" is not applied on this machine`);
    const { parseDuration } = await import('./duration.js');
    const result = await runLabAssertions(lab, { timeoutMs: parseDuration(o.timeout) });
    return { result };
  });
}
