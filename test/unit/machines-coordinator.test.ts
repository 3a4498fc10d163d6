// The coordinator's decisions between the phases of a transaction across machines, against
// machines that answer as `netlab machine` does (one JSON line), or drop the connection.
import { describe, expect, it } from 'vitest';
import { MachineError } from '../../src/errors.js';
import { applyAcross, type AcrossPlan } from '../../src/machines/coordinator.js';
import type { RunResult, Transport } from '../../src/machines/transport.js';

const answer = (a: object): RunResult => ({ code: 0, stdout: `${JSON.stringify(a)}\n`, stderr: '' });
const dropped: RunResult = { code: 255, stdout: '', stderr: 'Connection closed by 192.0.2.2 port 22' };

/** A machine whose answer to each step is `answers[step]`, every call logged in `log`. */
function machine(name: string, log: string[], answers: Record<string, RunResult>): Transport {
  const host = `192.0.2.${name.slice(1)}`;
  return {
    machine: {
      name,
      ssh: { user: 'root', host, port: null, identity: null },
      underlay: null,
      pos: { file: 'x', line: 1, col: 1, path: '' },
    },
    label: `${name} (root@${host})`,
    socket: null,
    connect: async () => ({ code: 0, stdout: '', stderr: '' }),
    netlab: async (args) => {
      const step = args[1]!;
      log.push(`${name} ${step}`);
      return answers[step] ?? answer({ ok: true });
    },
    close: async () => undefined,
  };
}

function planFor(names: string[]): AcrossPlan {
  return {
    lab: 'span',
    placement: new Map(),
    slices: { slices: new Map(names.map((n) => [n, { name: 'span', hosts: {} }])), segments: [] },
    plans: [],
  };
}

describe('the coordinator', () => {
  it('records its decision before any commit, and says where each machine stands when a commit fails', async () => {
    const log: string[] = [];
    const applied = answer({ ok: true, changed: true, steps: [] });
    const transports = [
      machine('m1', log, { apply: applied, commit: answer({ ok: true, committed: true }) }),
      machine('m2', log, { apply: applied, commit: dropped }),
      machine('m3', log, { apply: applied, commit: answer({ ok: true, committed: true }) }),
    ];
    const session = { transports, close: async () => undefined };
    const err = await applyAcross(session, planFor(['m1', 'm2', 'm3']), { requested: null }, async () => {
      log.push('decided: commit');
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MachineError);
    const e = err as MachineError;
    expect(e.exitCode).toBe(3);
    expect(log.indexOf('decided: commit')).toBeGreaterThan(Math.max(...['m1', 'm2', 'm3'].map((m) => log.indexOf(`${m} apply`))));
    expect(log.indexOf('decided: commit')).toBeLessThan(Math.min(...['m1', 'm2', 'm3'].map((m) => log.indexOf(`${m} commit`))));
    expect(e.message).toContain('m2 (root@192.0.2.2): commit: the ssh connection failed: Connection closed by 192.0.2.2 port 22');
    expect(e.message).toContain('committed on m1, m3: the new lab is applied and recorded there');
    expect(e.message).toContain('on the others the new lab is applied and verified but held in their journal, not recorded');
    expect(e.hints.join('\n')).toMatch(/run `netlab gc` here once they are reachable: it commits the held parts/);
    // Nothing is rolled back once the decision is commit.
    expect(log.filter((l) => l.endsWith('rollback'))).toEqual([]);
  });

  it('rolls every machine back, and never decides to commit, when one machine fails to apply', async () => {
    const log: string[] = [];
    const transports = [
      machine('m1', log, { apply: answer({ ok: true, changed: true, steps: [] }), rollback: answer({ ok: true, rolledBack: true }) }),
      machine('m2', log, { apply: answer({ ok: false, exitCode: 1, message: 'kernel said no' }) }),
    ];
    const err = await applyAcross({ transports, close: async () => undefined }, planFor(['m1', 'm2']), { requested: null }, async () => {
      log.push('decided: commit');
    }).catch((e: unknown) => e);
    expect((err as MachineError).exitCode).toBe(1);
    expect((err as Error).message).toMatch(/m2 \(root@192\.0\.2\.2\): apply: kernel said no\nevery machine was rolled back: m1, m2/);
    expect(log).not.toContain('decided: commit');
    expect(log.filter((l) => l.endsWith('rollback')).sort()).toEqual(['m1 rollback', 'm2 rollback']);
  });
});
