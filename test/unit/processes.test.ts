// Processes (run/exec) and the remaining kernel objects (ECMP routes, policy rules, neighbours,
// static fdb entries, per-interface sysctls) through the engine with the fake kernel: plan,
// idempotency, restart of a dead process, changes, destroy order, and rollback at every command.
import { describe, expect, it } from 'vitest';
import { applyLab, destroyLab, planLab } from '../../src/apply/engine.js';
import { scheduleRounds } from '../../src/apply/schedule.js';
import { store } from '../../src/apply/store.js';
import { FakeDriver } from '../../src/driver/fake.js';
import { ApplyFailedError } from '../../src/errors.js';
import { operationText, toolOf } from '../../src/driver/render.js';
import type { Operation, OpOf } from '../../src/model/operations.js';
import { diffStates, type ProcessObj } from '../../src/model/objects.js';
import type { Lab } from '../../src/lab/types.js';
import { labOf, planOps, planText, useTempStateDir } from './helpers.js';

const LAB = `name: ex
hosts:
  r:
    sysctls: { net.ipv4.ip_forward: 1 }
    interfaces:
      a:
        addresses: [10.1.0.1/24]
        sysctls: { ipv4.rp_filter: 0, ipv4.neigh.base_reachable_time_ms: 5000 }
        neighbours: [{ address: 10.1.0.9, mac: 02:00:00:00:00:09 }, { address: 10.1.0.2, mac: x:eth0 }]
      b: { addresses: [10.2.0.1/24] }
      br0: { kind: bridge, addresses: [10.3.0.1/24] }
      p0: { bridge: br0, fdb: [{ mac: z:eth0 }] }
      vx0: { kind: vxlan, vni: 7, local: 10.1.0.1, remotes: [10.1.0.2], fdb: [{ mac: 02:00:00:00:00:77, dst: 10.1.0.2 }] }
    routes:
      - { to: 10.9.0.0/24, nexthops: [{ via: 10.2.0.2, weight: 2 }, { via: 10.1.0.2 }] }
      - { to: default, via: 10.2.0.2, table: 100 }
    routing_policy:
      - { priority: 100, from: 10.1.0.0/24, table: 100 }
      - { priority: 110, iif: b, fwmark: 0x10/0xff, table: 100 }
    exec:
      - echo configured
      - { name: seed, command: "touch /tmp/seed", timeout: 5 }
    run:
      - { name: web, command: "exec sleep 1000" }
  x:
    interfaces:
      eth0: { link: r:a, addresses: [10.1.0.2/24] }
  y:
    interfaces:
      eth0: { link: r:b, addresses: [10.2.0.2/24] }
    run:
      - { name: echo, command: "exec sleep 2000" }
  z:
    interfaces:
      eth0: { link: r:p0, addresses: [10.3.0.2/24] }
`;

function lab(edit: (t: string) => string = (t) => t): Lab {
  return labOf('ex.yaml', edit(LAB));
}

const procCommands = (cs: Operation[]) => cs.filter((c): c is OpOf<'proc'> => c.op === 'proc');

useTempStateDir();

describe('processes and the remaining kernel objects (fake kernel)', () => {
  it('plans every kind from nothing (golden), processes last and in a round of their own', async () => {
    const p = await planLab(new FakeDriver(), lab());
    await expect(planOps(p.plan.steps)).toMatchFileSnapshot('golden/extras.create.plan');
    const text = planText(p.plan.steps);
    expect(text).toContain('route add 10.9.0.0/24 metric 0 nexthop via 10.1.0.2 dev a weight 1 nexthop via 10.2.0.2 dev b weight 2');
    expect(text).toContain('rule add pref 110 iif b fwmark 0x10/0xff table 100');
    expect(text).toContain('neigh replace 10.1.0.9 lladdr 02:00:00:00:00:09 dev a nud permanent');
    expect(text).toContain('fdb add');
    // exec entries run before run entries; both after every other command, in rounds of their own.
    const rounds = scheduleRounds(p.plan.steps);
    const last = rounds.slice(-2).map((r) => r.map((c) => (c.op === 'proc' ? `${c.action} ${c.proc.name}` : toolOf(c))));
    expect(last).toEqual([
      ['exec exec1', 'exec seed'],
      ['start web', 'start echo'],
    ]);
    expect(
      rounds
        .slice(0, -2)
        .flat()
        .some((c) => c.op === 'proc'),
    ).toBe(false);
  });

  it('re-apply is 0 steps; a dead process is 1 step in plan and is restarted; a changed command restarts it', async () => {
    const d = new FakeDriver();
    await applyLab(d, lab());
    expect((await applyLab(d, lab())).steps).toEqual([]);
    // The process died (the real driver observes `stopped` when its pid is gone).
    const web = d.kernel.get('process:ex-r/web') as ProcessObj;
    d.kernel.set(web.id, { ...web, state: 'stopped' });
    const p = await planLab(d, lab());
    expect(p.plan.steps.map((s) => `${s.op} ${s.title} (${s.reason})`)).toEqual([
      'modify process r/web in ex-r (state: stopped -> running)',
    ]);
    expect(p.plan.steps[0]!.commands.map(operationText)).toEqual([
      'stop r/web (SIGTERM, then SIGKILL)',
      'start r/web: ip netns exec ex-r sh -c "exec sleep 1000" (detached)',
    ]);
    await applyLab(d, lab());
    expect((d.kernel.get(web.id) as ProcessObj).state).toBe('running');
    const changed = await applyLab(
      d,
      lab((t) => t.replace('exec sleep 1000', 'exec sleep 999')),
    );
    expect(changed.steps.map((s) => s.reason)).toEqual(['command: exec sleep 1000 -> exec sleep 999']);
    expect(procCommands(changed.steps[0]!.commands).map((c) => c.action)).toEqual(['stop', 'start']);
  });

  it('an exec runs once: not again on re-apply, again when its command changes', async () => {
    const d = new FakeDriver();
    await applyLab(d, lab());
    const execs = () =>
      procCommands(d.executed)
        .filter((c) => c.action === 'exec')
        .map((c) => c.proc.name);
    expect(execs()).toEqual(['exec1', 'seed']);
    await applyLab(d, lab());
    expect(execs()).toEqual(['exec1', 'seed']);
    await applyLab(
      d,
      lab((t) => t.replace('touch /tmp/seed', 'touch /tmp/seed2')),
    );
    expect(execs()).toEqual(['exec1', 'seed', 'seed']);
  });

  it('destroy stops processes before their namespaces go, and leaves nothing', async () => {
    const d = new FakeDriver();
    await applyLab(d, lab());
    const r = await destroyLab(d, 'ex', null);
    const titles = r.steps.map((s) => `${s.op} ${s.title}`);
    const firstNetns = titles.findIndex((t) => t.startsWith('delete netns'));
    const stops = titles.flatMap((t, i) => (/^delete (process|exec) /.test(t) ? [i] : []));
    expect(stops).toHaveLength(4);
    expect(Math.max(...stops)).toBeLessThan(firstNetns);
    expect([...d.kernel.values()]).toEqual([]);
  });

  it('removing a rule, a neighbour, an fdb entry, a next hop and a process deletes only those', async () => {
    const d = new FakeDriver();
    await applyLab(d, lab());
    const smaller = lab((t) =>
      t
        .replace(', { address: 10.1.0.2, mac: x:eth0 }', '')
        .replace(', fdb: [{ mac: z:eth0 }]', '')
        .replace('      - { priority: 110, iif: b, fwmark: 0x10/0xff, table: 100 }\n', '')
        .replace('nexthops: [{ via: 10.2.0.2, weight: 2 }, { via: 10.1.0.2 }]', 'nexthops: [{ via: 10.2.0.2, weight: 2 }]')
        .replace('    run:\n      - { name: echo, command: "exec sleep 2000" }\n', ''),
    );
    const p = await planLab(d, smaller);
    expect(p.plan.steps.map((s) => `${s.op} ${s.title}`).sort()).toEqual(
      [
        'delete fdb 42:c2:ce:2f:f6:0a on ex-r/p0',
        'delete neighbour 10.1.0.2 on ex-r/a',
        'delete process y/echo in ex-y',
        'delete rule 110 (IPv4) lookup 100 in ex-r',
        'modify route 10.9.0.0/24 in ex-r',
      ].map((x) => x.replace('42:c2:ce:2f:f6:0a', lab().hosts.find((h) => h.name === 'z')!.interfaces[0]!.mac)),
    );
    await applyLab(d, smaller);
    expect((await planLab(d, smaller)).plan.steps).toEqual([]);
  });

  it('a failing exec fails the apply and rolls back to the state before', async () => {
    const d = new FakeDriver();
    const before = d.snapshot();
    d.injectFault({ failWhen: (c) => c.op === 'proc' && c.action === 'exec' && c.proc.name === 'seed', message: 'exited with status 1' });
    const err = await applyLab(d, lab()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyFailedError);
    expect((err as Error).message).toContain('seed');
    expect(diffStates(before, d.snapshot())).toEqual([]);
    expect(await store.readJournal('ex')).toBeNull();
  });

  it('rollback records a changed exec as it was instead of running it again', async () => {
    const d = new FakeDriver();
    await applyLab(d, lab());
    const snapshot = d.snapshot();
    const mark = d.executed.length;
    // Once: the fake kernel now stops the old process as the real one does, so the rollback starts it again.
    let fired = false;
    d.injectFault({ failWhen: (c) => !fired && c.op === 'proc' && c.action === 'start' && (fired = true) });
    const err = await applyLab(
      d,
      lab((t) => t.replace('touch /tmp/seed', 'touch /tmp/other').replace('exec sleep 1000', 'exec sleep 5')),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyFailedError);
    expect(diffStates(snapshot, d.snapshot())).toEqual([]);
    const actions = procCommands(d.executed.slice(mark)).map((c) => `${c.action} ${c.proc.name} ${c.proc.command}`);
    // The run executed the new command once; the rollback only recorded the old one as done.
    expect(actions.filter((a) => a.startsWith('exec '))).toEqual(['exec seed touch /tmp/other']);
    expect(actions).toContain('record seed touch /tmp/seed');
  });

  it('fault at each command of a create run rolls back to exactly nothing', async () => {
    const p = await planLab(new FakeDriver(), lab());
    const total = p.plan.steps.reduce((n, s) => n + s.commands.length, 0);
    for (let k = 0; k < total; k++) {
      const d = new FakeDriver();
      d.injectFault({ failAtCommand: k });
      const err = await applyLab(d, lab()).catch((e: unknown) => e);
      expect(err, `fault at command ${k}`).toBeInstanceOf(ApplyFailedError);
      expect([...d.kernel.values()], `fault at command ${k}`).toEqual([]);
    }
  });

  it('fault at each command of a change run (every new kind created, changed and deleted) rolls back exactly', async () => {
    const base = new FakeDriver();
    await applyLab(base, lab());
    const after = lab((t) =>
      t
        .replace(', { address: 10.1.0.2, mac: x:eth0 }', '')
        .replace('02:00:00:00:00:09', '02:00:00:00:00:99')
        .replace(', fdb: [{ mac: z:eth0 }]', ', fdb: [{ mac: y:eth0 }]')
        .replace('priority: 110, iif: b', 'priority: 111, iif: b')
        .replace('weight: 2', 'weight: 3')
        .replace('ipv4.rp_filter: 0', 'ipv4.rp_filter: 1')
        .replace('touch /tmp/seed', 'touch /tmp/seed2')
        .replace('exec sleep 1000', 'exec sleep 999')
        .replace('    run:\n      - { name: echo, command: "exec sleep 2000" }\n', '    exec: ["true"]\n'),
    );
    const p = await planLab(base, after);
    const total = p.plan.steps.reduce((n, s) => n + s.commands.length, 0);
    expect(p.plan.steps.map((s) => s.op)).toEqual(expect.arrayContaining(['create', 'modify', 'delete']));
    for (let k = 0; k < total; k++) {
      const d = new FakeDriver(base.snapshot().values());
      const snapshot = d.snapshot();
      d.injectFault({ failAtCommand: k });
      const err = await applyLab(d, after).catch((e: unknown) => e);
      expect(err, `fault at command ${k}`).toBeInstanceOf(ApplyFailedError);
      expect(diffStates(snapshot, d.snapshot()), `fault at command ${k}`).toEqual([]);
    }
  });
});
