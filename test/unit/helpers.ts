// Shared by the engine-level unit tests: loading a lab from text, a plan as golden text, and a
// private state directory per test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { operationText } from '../../src/driver/render.js';
import { canonicalJson, nsLabel } from '../../src/model/objects.js';
import type { Operation } from '../../src/model/operations.js';
import type { Step } from '../../src/plan/plan.js';
import { loadLabText } from '../../src/lab/index.js';
import type { Lab } from '../../src/lab/types.js';

/** A valid lab from text, or a thrown error listing its issues. */
export function labOf(file: string, text: string): Lab {
  const r = loadLabText(file, text);
  if (!r.lab) throw new Error(r.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return r.lab;
}

/** A plan as golden text: each step with its reason, then its commands with their phase. */
export function planText(steps: Step[]): string {
  return (
    steps
      .map((s) => [`${s.op} ${s.title} (${s.reason})`, ...s.commands.map((c) => `    [${c.phase}] ${operationText(c)}`)].join('\n'))
      .join('\n') + '\n'
  );
}

/** An operation's fields with the objects it carries named by id (their content is the planner's other goldens'). */
function opFields(o: Operation): string {
  const { op: _op, ns: _ns, phase: _phase, ...rest } = o;
  const byId = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(byId);
    if (v === null || typeof v !== 'object') return v;
    const r = v as Record<string, unknown>;
    if (typeof r.kind === 'string' && typeof r.id === 'string') return r.id;
    return Object.fromEntries(Object.entries(r).map(([k, x]) => [k, byId(x)]));
  };
  return canonicalJson(byId(rest));
}

/** A plan as golden operations: each step with its reason, then its operations with their phase and namespace. */
export function planOps(steps: Step[]): string {
  return (
    steps
      .map((s) =>
        [`${s.op} ${s.title} (${s.reason})`, ...s.commands.map((c) => `    [${c.phase}] ${c.op} ${nsLabel(c.ns)} ${opFields(c)}`)].join(
          '\n',
        ),
      )
      .join('\n') + '\n'
  );
}

/** Gives every test of the file its own NETLAB_STATE_DIR, removed afterwards. */
export function useTempStateDir(): void {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'netlab-state-'));
    process.env.NETLAB_STATE_DIR = dir;
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    delete process.env.NETLAB_STATE_DIR;
  });
}
