// A lab across machines when one machine is out of reach (its sshd stopped): status and inspect
// still report every other machine's part, name the missing one with ssh's reason, and exit 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFile, netlab } from './cli.js';
import { startMachines, type Harness, type TestMachine } from './machines-harness.js';
import { spanLab } from './machines-lab.js';
import { sandboxSkipReason } from './sandbox.js';

const label = (m: TestMachine) => `${m.name} \\(root@${m.address.replace(/\./g, '\\.')}\\)`;

interface Entry {
  machine: string;
  error: string | null;
}

describe.skipIf(sandboxSkipReason !== null)('machines out of reach', () => {
  let h: Harness;
  let env: Record<string, string>;
  beforeAll(async () => {
    h = await startMachines(3);
    env = h.env;
    const r = await netlab(['apply', '--yes', labFile('span', spanLab(h))], { env });
    expect(r.code, r.all).toBe(0);
  });
  afterAll(async () => {
    try {
      if (h) await netlab(['destroy', '--yes', '--lab', 'span'], { env });
    } finally {
      await h?.stop();
    }
  });

  it('status and inspect report the machines in reach, the one out of reach with why, and exit 1', async () => {
    const [m1, m2, m3] = h.machines as [TestMachine, TestMachine, TestMachine];
    await h.stopSshd(m3);
    try {
      const st = await netlab(['status', '--lab', 'span'], { env });
      expect(st.code, st.all).toBe(1);
      expect(st.stdout).toMatch(/span {2}across 3 machines {2}not known on m3/);
      for (const m of [m1, m2]) expect(st.stdout).toMatch(new RegExp(`${label(m)} {2}in sync {2}\\d+ objects`));
      expect(st.stdout).toMatch(new RegExp(`${label(m3)} {2}out of reach: ssh: connect to host 198\\.18\\.0\\.3 .*refused`));
      expect(st.stderr).toMatch(new RegExp(`error: ${label(m3)}: out of reach: .*refused\\nthe other machines of lab "span" are reported`));

      const sj = await netlab(['status', '--lab', 'span', '--json'], { env });
      expect(sj.code, sj.all).toBe(1);
      const s = JSON.parse(sj.stdout) as { across: { pending: boolean; machines: (Entry & { status: { drift: string[] } | null })[] }[] };
      const ms = s.across[0]!.machines;
      expect(ms.map((x) => [x.machine, x.error === null, x.status?.drift.length ?? null])).toEqual([
        ['m1', true, 0],
        ['m2', true, 0],
        ['m3', false, null],
      ]);
      expect(ms[2]!.error).toMatch(/^out of reach: ssh: connect to host 198\.18\.0\.3 .*refused/);

      // Every lab of this machine: the same error, after the report.
      const all = await netlab(['status'], { env });
      expect(all.code, all.all).toBe(1);
      expect(all.stdout).toMatch(new RegExp(`${label(m2)} {2}in sync`));

      const ins = await netlab(['inspect', 'span'], { env });
      expect(ins.code, ins.all).toBe(1);
      expect(ins.stdout).toMatch(new RegExp(`machine ${label(m1)}\\n[\\s\\S]*a1 {2}netns span-a1`));
      expect(ins.stdout).toMatch(new RegExp(`machine ${label(m2)}\\n[\\s\\S]*a2 {2}netns span-a2`));
      expect(ins.stdout).toMatch(new RegExp(`machine ${label(m3)} {2}out of reach: .*refused`));
      expect(ins.stderr).toMatch(new RegExp(`error: ${label(m3)}: out of reach: .*refused`));

      const ij = await netlab(['inspect', 'span', '--json'], { env });
      expect(ij.code, ij.all).toBe(1);
      const i = JSON.parse(ij.stdout) as { inSync: boolean; machines: (Entry & { report: { inSync: boolean } | null })[] };
      // Not known to be in sync while a machine's part is missing.
      expect(i.inSync).toBe(false);
      expect(i.machines.map((x) => [x.machine, x.report?.inSync ?? null])).toEqual([
        ['m1', true],
        ['m2', true],
        ['m3', null],
      ]);
      expect(i.machines[2]!.error).toMatch(/^out of reach: ssh: connect to host 198\.18\.0\.3 .*refused/);
    } finally {
      await h.startSshd(m3);
    }
    const back = await netlab(['status', '--lab', 'span', '--json'], { env });
    expect(back.code, back.all).toBe(0);
    expect((JSON.parse(back.stdout) as { across: { machines: Entry[] }[] }).across[0]!.machines.map((x) => x.error)).toEqual([
      null,
      null,
      null,
    ]);
  });
});
