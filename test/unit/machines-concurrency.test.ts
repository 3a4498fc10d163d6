// Issue 23's "slices are planned and applied concurrently": the coordinator against fake machines
// that record how many of its calls are in flight at once. Each call stays in flight across a few
// turns of the event loop; calls started together overlap, calls made one after another never do.
import { describe, expect, it } from 'vitest';
import { loadLabText } from '../../src/lab/index.js';
import type { Machine } from '../../src/lab/types.js';
import { applyAcross, destroyAcross, planAcross, type Session } from '../../src/machines/coordinator.js';
import type { RunResult, Transport } from '../../src/machines/transport.js';
import { spanLab, UNREACHED_MACHINES } from '../fixtures/span-lab.js';

const LAB = spanLab(UNREACHED_MACHINES, { segmentOnly: true });

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** What each phase's answer holds, enough for the coordinator to go on. */
function answerOf(phase: string, m: Machine): object {
  if (phase === 'probe') return { ok: true, version: '0', underlays: [{ address: m.ssh!.host, dev: 'eth0', mtu: 1500 }] };
  if (phase === 'plan') return { ok: true, steps: [], conflicts: [], advice: [] };
  if (phase === 'apply') return { ok: true, changed: true, steps: [] };
  return { ok: true, steps: [] };
}

/** Fake machines: per phase, the most calls that were in flight at once. */
function fakeSession(machines: Machine[]) {
  const inFlight = new Map<string, number>();
  const most = new Map<string, number>();
  const transports: Transport[] = machines.map((machine) => ({
    machine,
    label: machine.name,
    socket: null,
    connect: async () => ({ code: 0, stdout: '', stderr: '' }),
    command: () => ['true', []],
    close: async () => undefined,
    async netlab(args: string[]): Promise<RunResult> {
      const phase = args[1]!;
      inFlight.set(phase, (inFlight.get(phase) ?? 0) + 1);
      most.set(phase, Math.max(most.get(phase) ?? 0, inFlight.get(phase)!));
      await turns(3);
      inFlight.set(phase, inFlight.get(phase)! - 1);
      return { code: 0, stdout: `${JSON.stringify(answerOf(phase, machine))}\n`, stderr: '' };
    },
  }));
  const session: Session = { transports, close: async () => undefined };
  return { session, most };
}

describe('the coordinator runs the machines at once', () => {
  it('probes, plans, applies, commits and destroys on every machine concurrently', async () => {
    const r = loadLabText('span.yaml', LAB);
    const { session, most } = fakeSession(r.lab!.machines!);
    const plan = await planAcross(session, r.raw!, r.lab!);
    expect(plan.plans.map((p) => p.machine)).toEqual(['m1', 'm2', 'm3']);
    const applied = await applyAcross(session, plan, { requested: null });
    expect(applied.map((a) => a.changed)).toEqual([true, true, true]);
    await destroyAcross(session, 'span');
    expect(Object.fromEntries(most)).toEqual({ probe: 3, plan: 3, apply: 3, commit: 3, destroy: 3 });
  });

  it('the fake tells one after another apart: awaited in turn, calls never overlap', async () => {
    const r = loadLabText('span.yaml', LAB);
    const { session, most } = fakeSession(r.lab!.machines!);
    for (const t of session.transports) await t.netlab(['machine', 'plan']);
    expect(most.get('plan')).toBe(1);
  });
});
