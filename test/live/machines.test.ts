// Labs across machines over real ssh: each machine a namespace pair of its own running sshd
// (test/live/machines-harness.ts), netlab on the sandbox as the coordinator.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFile, netlab, NETLAB } from './cli.js';
import { startMachines, type Harness, type TestMachine } from './machines-harness.js';
import { ping, RECORD, snapshot, spanLab, startNetlab, FOREIGN_VXLAN, plantForeignVxlan } from './machines-lab.js';
import { sandboxSkipReason } from './sandbox.js';

describe.skipIf(sandboxSkipReason !== null)('machines over ssh', () => {
  let h: Harness;
  let env: Record<string, string>;
  beforeAll(async () => {
    h = await startMachines(3);
    env = h.env;
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('reaches every machine by ssh, each with its own namespaces, running the same netlab', async () => {
    const seen = new Set<string>();
    for (const m of h.machines) {
      const v = await h.ssh(m, [process.execPath, NETLAB, '--version']);
      expect(v.code, v.stderr).toBe(0);
      expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
      const ns = await h.ssh(m, ['readlink', '/proc/self/ns/net']);
      seen.add(ns.stdout.trim());
      const addr = await h.ssh(m, ['ip', '-br', 'addr', 'show', 'dev', 'u0']);
      expect(addr.stdout).toContain(m.address);
    }
    expect(seen.size).toBe(3);
  });

  it('applies a lab across three machines as one, re-applies to no change, destroys to nothing', async () => {
    const [m1, m2, m3] = h.machines as [TestMachine, TestMachine, TestMachine];
    const before = await Promise.all(h.machines.map((m) => snapshot(h, m)));
    const file = labFile('span', spanLab(h));
    const plan = await netlab(['plan', file], { env });
    expect(plan.code, plan.all).toBe(2);
    expect(plan.stdout).toMatch(/placement m2: a2, r2/);
    expect(plan.stdout).toMatch(/MTU 1450/);
    const applied = await netlab(['apply', '--yes', file], { env });
    expect(applied.code, applied.all).toBe(0);
    for (const [m, ns, to] of [
      [m1, 'span-a1', '10.0.0.2'],
      [m1, 'span-a1', '10.0.0.3'],
      [m2, 'span-a2', '10.0.0.3'],
      [m3, 'span-a3', '10.0.0.1'],
      [m2, 'span-r2', '10.9.0.2'],
      [m3, 'span-r3', '10.9.0.1'],
    ] as const) {
      const r = await ping(h, m, ns, to);
      expect(r.code, `${m.name} ${ns} -> ${to}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    // The segment's MTU, as the plan announced it: the largest ping that fits passes, one byte more does not.
    const mtu = Number(/segment vxlan \d+ \([^)]*\) spans m1, m2, m3: MTU (\d+)/.exec(plan.stdout)![1]);
    const fits = await ping(h, m1, 'span-a1', '10.0.0.3', ['-M', 'do', '-s', String(mtu - 28)]);
    expect(fits.code, fits.stdout + fits.stderr).toBe(0);
    const over = await ping(h, m1, 'span-a1', '10.0.0.3', ['-M', 'do', '-s', String(mtu - 27)]);
    expect(over.code, over.stdout).not.toBe(0);
    expect(existsSync(RECORD)).toBe(true);
    const again = await netlab(['apply', '--yes', file], { env });
    expect(again.code, again.all).toBe(0);
    expect(again.stdout).not.toMatch(/applied \d+ step/);
    expect(again.stdout.match(/no changes/g)?.length).toBeGreaterThanOrEqual(3);
    const destroyed = await netlab(['destroy', '--yes', '--lab', 'span'], { env });
    expect(destroyed.code, destroyed.all).toBe(0);
    const after = await Promise.all(h.machines.map((m) => snapshot(h, m)));
    expect(after).toEqual(before);
    // The coordinator's record of the lab's machines goes with the lab.
    expect(existsSync(RECORD)).toBe(false);
  });

  it('rolls machines 1 and 3 back to exactly their state when a step fails on machine 2', async () => {
    const [, m2] = h.machines as [TestMachine, TestMachine, TestMachine];
    const file = labFile('span', spanLab(h));
    const plan = await netlab(['plan', file], { env });
    const vni = /segment vxlan (\d+) \(/.exec(plan.stdout)![1]!;
    // A foreign VXLAN with the segment's VNI and port: the plan cannot see it in the way, the kernel refuses the lab's.
    await plantForeignVxlan(h, m2, vni);
    try {
      const before = await Promise.all(h.machines.map((m) => snapshot(h, m)));
      const r = await netlab(['apply', '--yes', file], { env });
      expect(r.code, r.all).toBe(1);
      expect(r.stderr).toMatch(/m2 \(root@198\.18\.0\.2\): apply: /);
      expect(r.stderr).toMatch(/VNI|exists/i);
      expect(r.stderr).toMatch(/every machine was rolled back/);
      const after = await Promise.all(h.machines.map((m) => snapshot(h, m)));
      expect(after).toEqual(before);
    } finally {
      await h.enter(m2, 'ip', ['link', 'del', 'dev', FOREIGN_VXLAN]);
      await netlab(['destroy', '--yes', '--lab', 'span'], { env });
    }
  });

  it('stops with a clear error before changing anything when a machine cannot be reached', async () => {
    const m3 = h.machines[2]!;
    const before = await Promise.all(h.machines.map((m) => snapshot(h, m)));
    await h.stopSshd(m3);
    try {
      const file = labFile('span', spanLab(h));
      for (const cmd of [['plan'], ['apply', '--yes']]) {
        const r = await netlab([...cmd, file], { env });
        expect(r.code, r.all).toBe(1);
        expect(r.stderr).toMatch(/cannot reach m3 \(root@198\.18\.0\.3\): .*refused/);
        expect(r.stderr).toMatch(/nothing was changed on any machine/);
      }
      const after = await Promise.all(h.machines.map((m) => snapshot(h, m)));
      expect(after).toEqual(before);
      expect(existsSync(RECORD)).toBe(false);
    } finally {
      await h.startSshd(m3);
    }
  });

  it('rolls every machine back when the coordinator gets Ctrl-C mid-apply', async () => {
    const before = await Promise.all(h.machines.map((m) => snapshot(h, m)));
    const file = labFile('span', spanLab(h));
    const run = startNetlab(['apply', '--yes', file], env);
    await run.waitFor(/applying on m1, m2, m3/);
    process.kill(run.child.pid!, 'SIGINT');
    const r = await run.child;
    expect(r.exitCode, r.all).toBe(1);
    expect(r.all).toMatch(/SIGINT: the run was stopped before it was committed/);
    expect(r.all).toMatch(/every machine was rolled back/);
    expect(await Promise.all(h.machines.map((m) => snapshot(h, m)))).toEqual(before);
    await netlab(['destroy', '--yes', '--lab', 'span'], { env });
  });
});
