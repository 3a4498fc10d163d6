// The engine against the fake kernel: plans, idempotency, changes, fault injection at every
// command with rollback to the exact earlier state, crash recovery from the journal.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { applyLab, destroyLab, planLab, recoverIfNeeded } from '../../src/apply/engine.js';
import { store, type Journal, type LabRecord } from '../../src/apply/store.js';
import { FakeDriver } from '../../src/driver/fake.js';
import { toolOf } from '../../src/driver/render.js';
import { ApplyFailedError, EXIT_ROLLBACK_INCOMPLETE, RollbackIncompleteError } from '../../src/errors.js';
import { loopback } from '../../src/model/link.js';
import { diffStates } from '../../src/model/objects.js';
import type { Lab } from '../../src/lab/types.js';
import { labOf, planOps, useTempStateDir } from './helpers.js';

async function lab(file: string, edit: (text: string) => string = (t) => t): Promise<Lab> {
  let text = edit(await readFile(file, 'utf8'));
  // An edit that removes a host also removes the assertions naming it.
  if (!/^ {2}db:$/m.test(text)) text = text.replace(/^ {2}- .*\bdb\b.*\n/gm, '');
  return labOf(file, text);
}

useTempStateDir();

/** The journal an apply of the docker lab leaves when killed (by a pid long gone), with what it had made. */
function writeCrashJournal(record: LabRecord, made: Pick<Journal, 'checkpoint' | 'sysctlOriginals' | 'creates' | 'createsLinks'>) {
  return store.writeJournal({
    lab: 'docker',
    operation: 'apply',
    pid: 999999,
    startedAt: new Date().toISOString(),
    scope: record.scope,
    steps: [],
    ...made,
  });
}

describe('plan (golden)', () => {
  it('creates the docker-bridge lab from nothing', async () => {
    const p = await planLab(new FakeDriver(), await lab('labs/docker-bridge.yaml'));
    await expect(planOps(p.plan.steps)).toMatchFileSnapshot('golden/docker-bridge.create.plan');
  });

  it('creates the k8s-flat lab from nothing', async () => {
    const p = await planLab(new FakeDriver(), await lab('labs/k8s-flat.yaml'));
    await expect(planOps(p.plan.steps)).toMatchFileSnapshot('golden/k8s-flat.create.plan');
  });

  it('changes only what differs: an address, an MTU and a route', async () => {
    const d = new FakeDriver();
    await applyLab(d, await lab('labs/docker-bridge.yaml'));
    const changed = await lab('labs/docker-bridge.yaml', (t) =>
      t
        .replace('eth0: { addresses: [172.17.0.3/16] }', 'eth0: { addresses: [172.17.0.4/16], mtu: 1400 }')
        .replace(/(db:\n[\s\S]*?)- \{ to: default, via: 172.17.0.1 \}/, '$1- { to: default, via: 172.17.0.1, metric: 50 }'),
    );
    const p = await planLab(d, changed);
    await expect(planOps(p.plan.steps)).toMatchFileSnapshot('golden/docker-bridge.change.plan');
    expect(p.plan.steps.every((s) => s.objects.every((id) => id.includes('docker-db') || id.includes('veth')))).toBe(true);
  });

  it('fingerprints the live state it was planned from, however late the fingerprint is read', async () => {
    // The golden value is of the lab's network as it was before web ran a web server, and before
    // the lab gained isolation and the internet host's route back: the same state.
    const network = (t: string) =>
      t
        .replace(/ {4}run:\n( {6}.*\n)+/, '')
        .replace(/ {4}firewall:\n( {6}.*\n)+/, '')
        .replace(/ {4}routes:\n {6}# A route to the containers' subnet.*\n {6}.*\n/, '');
    const d = new FakeDriver();
    await applyLab(d, await lab('labs/docker-bridge.yaml', network));
    const p = await planLab(d, await lab('labs/docker-bridge.yaml', network));
    // The kernel changes before the fingerprint is first read (it is computed on demand).
    await applyLab(d, await lab('labs/docker-bridge.yaml', (t) => network(t).replace('172.17.0.3/16', '172.17.0.4/16')));
    // Golden: `plan -o` documents made by other versions must keep matching the same state.
    expect(p.plan.fingerprint).toBe('049203d2b405679e');
    expect(JSON.parse(JSON.stringify(p.plan))).toEqual({ steps: [], conflicts: [], fingerprint: '049203d2b405679e' });
    expect((await planLab(d, await lab('labs/docker-bridge.yaml', network))).plan.fingerprint).not.toBe('049203d2b405679e');
  });

  it('removing a host deletes its namespace and its bridge port, not its contents one by one', async () => {
    const d = new FakeDriver();
    await applyLab(d, await lab('labs/docker-bridge.yaml'));
    const smaller = await lab('labs/docker-bridge.yaml', (t) =>
      t.replace(/ {2}db:\n( {4}.*\n)+/, '').replace('  - { a: db:eth0, b: host:docker0 }\n', ''),
    );
    const p = await planLab(d, smaller);
    await expect(planOps(p.plan.steps)).toMatchFileSnapshot('golden/docker-bridge.remove-host.plan');
    // The host-side veth end is deleted explicitly: namespace teardown is asynchronous.
    expect(p.plan.steps.filter((s) => s.op === 'delete').map((s) => s.title)).toEqual([
      expect.stringMatching(/^veth docker-host\/veth[0-9a-f]{7}$/),
      'netns docker-db',
    ]);
    expect(p.plan.steps.every((s) => s.op === 'delete')).toBe(true);
  });
});

describe('apply with the fake kernel', () => {
  it('is idempotent: a second apply has 0 steps', async () => {
    const d = new FakeDriver();
    const l = await lab('labs/k8s-flat.yaml');
    const first = await applyLab(d, l);
    expect(first.steps.length).toBeGreaterThan(20);
    const second = await applyLab(d, l);
    expect(second.steps).toEqual([]);
    expect((await planLab(d, l)).plan.steps).toEqual([]);
  });

  it('destroy removes everything, from the record alone', async () => {
    const d = new FakeDriver();
    await applyLab(d, await lab('labs/docker-bridge.yaml'));
    await destroyLab(d, 'docker', null);
    expect([...d.kernel.values()]).toEqual([]);
    expect(await store.readRecord('docker')).toBeNull();
  });
});

describe('fault injection: failing at every command rolls back to the exact earlier state', () => {
  const before = () => lab('labs/docker-bridge.yaml');
  // A change with creations, in-place changes and deletions.
  const after = () =>
    lab('labs/docker-bridge.yaml', (t) =>
      t
        .replace(/ {2}db:\n( {4}.*\n)+/, '  cache:\n    interfaces:\n      eth0: { addresses: [172.17.0.9/16] }\n')
        .replace('{ a: db:eth0, b: host:docker0 }', '{ a: cache:eth0, b: host:docker0 }')
        .replace('uplink: { addresses: [203.0.113.1/24] }', 'uplink: { addresses: [203.0.113.1/24, 203.0.113.2/24], mtu: 1400 }')
        .replace('port: 8080, to: web:80', 'port: 8081, to: web:80'),
    );

  it('at each of the commands of a create + modify + delete run', async () => {
    const base = new FakeDriver();
    await applyLab(base, await before());
    const p = await planLab(base, await after());
    const total = p.plan.steps.reduce((n, s) => n + s.commands.length, 0);
    expect(total).toBeGreaterThan(10);
    expect(p.plan.steps.map((s) => s.op)).toEqual(expect.arrayContaining(['create', 'modify', 'delete']));
    for (let k = 0; k < total; k++) {
      const d = new FakeDriver(base.snapshot().values());
      const record = await store.readRecord('docker');
      const snapshot = d.snapshot();
      d.injectFault({ failAtCommand: k, message: `Error: injected at ${k}` });
      const err = await applyLab(d, await after()).catch((e: unknown) => e);
      expect(err, `fault at command ${k}: ${(err as Error).message}`).toBeInstanceOf(ApplyFailedError);
      expect(diffStates(snapshot, d.snapshot()), `fault at command ${k}`).toEqual([]);
      expect(await store.readJournal('docker')).toBeNull();
      expect(await store.readRecord('docker')).toEqual(record);
    }
  });

  it('a failure of the rollback itself exits 3 and keeps the journal; the next apply finishes the undo', async () => {
    const base = new FakeDriver();
    await applyLab(base, await before());
    const snapshot = base.snapshot();
    // The nft write of the apply fails, then the first command of the rollback fails too.
    let stage = 0;
    base.injectFault({
      failWhen: (c) => {
        if (stage === 0 && toolOf(c) === 'nft') return (stage = 1) === 1;
        if (stage === 1) return (stage = 2) === 2;
        return false;
      },
    });
    const err = await applyLab(base, await after()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RollbackIncompleteError);
    expect((err as RollbackIncompleteError).exitCode).toBe(EXIT_ROLLBACK_INCOMPLETE);
    expect(await store.readJournal('docker')).not.toBeNull();
    // The next apply first rolls the interrupted run back to its checkpoint, then applies.
    const r = await applyLab(base, await before());
    expect(r.steps).toEqual([]);
    expect(diffStates(snapshot, base.snapshot())).toEqual([]);
    expect(await store.readJournal('docker')).toBeNull();
  });

  it('recovery adopts an unmarked namespace the crashed run was creating only if it holds nothing the run did not make', async () => {
    const d = new FakeDriver();
    await applyLab(d, await before());
    const record = (await store.readRecord('docker'))!;
    const bridge = d.snapshot().get('link:docker-host/docker0')!;
    const eth0 = d.snapshot().get('link:docker-db/eth0')!;
    await destroyLab(d, 'docker', null);
    // The run was killed before marking its namespaces. Since then a user made docker-web, with a
    // bridge of their own in it; docker-db is as the run left it (lo and its eth0, unmarked).
    for (const ns of ['docker-web', 'docker-db']) {
      d.kernel.set(`netns:${ns}`, { kind: 'netns', id: `netns:${ns}`, ns, origin: 'created', target: null });
      d.kernel.set(`link:${ns}/lo`, loopback(ns, null));
    }
    const users = { ...bridge, id: 'link:docker-web/userbr', ns: 'docker-web', ifname: 'userbr' };
    d.kernel.set(users.id, users);
    d.kernel.set(eth0.id, { ...eth0, peer: null });
    await writeCrashJournal(record, {
      checkpoint: [],
      sysctlOriginals: {},
      creates: ['docker-web', 'docker-db'],
      createsLinks: { 'docker-web': ['eth0'], 'docker-db': ['eth0'] },
    });
    expect(await recoverIfNeeded(d, 'docker')).toBe(true);
    expect(d.kernel.get(users.id)).toEqual(users);
    expect(d.kernel.has('netns:docker-web')).toBe(true);
    expect(d.kernel.has('netns:docker-db')).toBe(false);
  });

  it('a checkpoint taken while the kernel tore a veth pair down (one end seen) does not block recovery', async () => {
    const d = new FakeDriver();
    await applyLab(d, await before());
    const snapshot = d.snapshot();
    const record = (await store.readRecord('docker'))!;
    // db's namespace was deleted by hand while a run observed: it saw db's eth0, not its peer.
    const dbEth0 = snapshot.get('link:docker-db/eth0');
    expect(dbEth0?.kind === 'link' && dbEth0.peer).toBeTruthy();
    const peerId = dbEth0?.kind === 'link' && dbEth0.peer ? `link:${dbEth0.peer.ns}/${dbEth0.peer.ifname}` : '';
    const torn = [...snapshot.values()].filter((o) => o.id !== peerId);
    await writeCrashJournal(record, { checkpoint: torn, sysctlOriginals: record.sysctlOriginals, creates: [] });
    // Then the kernel finished: the namespace and both veth ends are gone.
    for (const [id, o] of d.kernel) if (o.ns === 'docker-db' || id === peerId) d.kernel.delete(id);
    // The next apply recovers (restoring what can be restored) and then builds the lab again.
    const r = await applyLab(d, await before());
    expect(r.steps.length).toBeGreaterThan(0);
    expect(diffStates(snapshot, d.snapshot())).toEqual([]);
    expect(await store.readJournal('docker')).toBeNull();
  });

  it('a run killed mid-way (journal left, kernel half-changed) is undone by the next destroy', async () => {
    const d = new FakeDriver();
    d.injectFault({ failAtCommand: 25 });
    await expect(applyLab(d, await before(), { keepFailed: true })).rejects.toBeInstanceOf(RollbackIncompleteError);
    expect(d.kernel.size).toBeGreaterThan(0);
    await destroyLab(d, 'docker', null);
    expect([...d.kernel.values()]).toEqual([]);
  });

  it('a first apply rolled back leaves no lab behind for status and gc to list', async () => {
    const d = new FakeDriver();
    d.injectFault({ failAtCommand: 10 });
    await expect(applyLab(d, await before())).rejects.toBeInstanceOf(ApplyFailedError);
    expect([...d.kernel.values()]).toEqual([]);
    expect(await store.labs()).toEqual([]);
  });
});

describe('plan as markdown (pull-request comment)', () => {
  it('summarises added, changed and removed objects per lab (golden)', async () => {
    const { markdownPlan } = await import('../../src/cli/output.js');
    const d = new FakeDriver();
    await applyLab(d, await lab('labs/docker-bridge.yaml'));
    const changed = await planLab(
      d,
      await lab('labs/docker-bridge.yaml', (t) =>
        t
          .replace(/ {2}db:\n( {4}.*\n)+/, '')
          .replace('  - { a: db:eth0, b: host:docker0 }\n', '')
          .replace('port: 8080', 'port: 8081'),
      ),
    );
    const fresh = await planLab(new FakeDriver(), await lab('labs/k8s-flat.yaml'));
    const same = await planLab(d, await lab('labs/docker-bridge.yaml'));
    await expect(markdownPlan([changed, fresh])).toMatchFileSnapshot('golden/plans.md');
    expect(markdownPlan([{ lab: 'docker', plan: { steps: same.plan.steps.slice(0, 0) } }])).toBe(
      '| lab | create | change | delete |\n|---|---:|---:|---:|\n| docker | 0 | 0 | 0 |',
    );
  });
});
