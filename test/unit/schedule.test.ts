// The execution schedule (src/apply/schedule.ts): levels packed into rounds without changing
// what each namespace sees or letting a command overtake one it may depend on.
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { applyLab, planLab } from '../../src/apply/engine.js';
import { scheduleRounds, touchedNamespaces } from '../../src/apply/schedule.js';
import { starLabYaml } from '../../src/cli/gen.js';
import { FakeDriver } from '../../src/driver/fake.js';
import { batchLine, operationText, toolOf } from '../../src/driver/render.js';
import type { Operation } from '../../src/model/operations.js';
import { plan, type Step } from '../../src/plan/plan.js';
import { loadLabText } from '../../src/lab/index.js';
import type { Lab } from '../../src/lab/types.js';
import { useTempStateDir } from './helpers.js';

function load(file: string, text: string): Lab {
  const r = loadLabText(file, text);
  if (!r.lab) throw new Error(r.issues.map((i) => i.message).join('\n'));
  return r.lab;
}

async function labFile(file: string, edit: (t: string) => string = (t) => t): Promise<Lab> {
  return load(file, edit(await readFile(file, 'utf8')));
}

/** Level of each command as executePlan ordered them before rounds: deletions deepest first, then by phase. */
function levels(steps: Step[]): Map<Operation, string> {
  const out = new Map<Operation, string>();
  for (const s of steps)
    for (const c of s.commands)
      out.set(c, s.op === 'delete' ? `0:${String(100 - c.phase).padStart(3, '0')}` : `1:${String(c.phase).padStart(3, '0')}`);
  return out;
}

/** The schedule keeps every command once, per namespace in level order, and orders every conflicting pair. */
function checkSchedule(steps: Step[]): Operation[][] {
  const rounds = scheduleRounds(steps);
  const level = levels(steps);
  const all = rounds.flat();
  expect(all.length).toBe(level.size);
  expect(new Set(all).size).toBe(all.length);
  const roundOf = new Map<Operation, number>();
  rounds.forEach((r, k) => r.forEach((c) => roundOf.set(c, k)));
  // Per namespace: the commands in execution order are the level order (stable within a level).
  const levelOrder = [...level.keys()].sort((a, b) => (level.get(a)! < level.get(b)! ? -1 : level.get(a)! > level.get(b)! ? 1 : 0));
  for (const ns of new Set(all.map((c) => c.ns))) {
    const executed = all.filter((c) => c.ns === ns).map(operationText);
    const expected = levelOrder.filter((c) => c.ns === ns).map(operationText);
    expect(executed, `order in namespace ${ns || '(root)'}`).toEqual(expected);
  }
  // A command that touches a namespace another namespace's earlier-level command touched runs in a later round.
  for (const a of all)
    for (const b of all) {
      if (a.ns === b.ns || level.get(a)! >= level.get(b)!) continue;
      const shared = [...touchedNamespaces(a)].some((ns) => touchedNamespaces(b).has(ns));
      if (shared) expect(roundOf.get(a)!, `${operationText(a)} before ${operationText(b)}`).toBeLessThan(roundOf.get(b)!);
    }
  // Two processes of one namespace in one round (two tools, `ip` and `ip -6`) run side by side:
  // only commands of one level may be split so, as level by level.
  const kind = (c: Operation) => toolOf(c);
  for (const r of rounds)
    for (const ns of new Set(r.map((c) => c.ns))) {
      const mine = r.filter((c) => c.ns === ns);
      if (new Set(mine.map(kind)).size > 1) expect(new Set(mine.map((c) => level.get(c))).size, `round with ${ns}`).toBe(1);
    }
  // Deletion levels keep a round each, before anything else.
  const deleteLevels = new Set([...level.values()].filter((l) => l.startsWith('0:')));
  for (const [k, r] of rounds.entries()) {
    const ls = new Set(r.map((c) => level.get(c)!));
    if ([...ls].some((l) => l.startsWith('0:'))) {
      expect(ls.size).toBe(1);
      expect(k).toBeLessThan(deleteLevels.size);
    }
  }
  return rounds;
}

useTempStateDir();

describe('schedule', () => {
  it('runs a star in five rounds: namespaces, sysctls, the bridge, one batch per host, the hub', async () => {
    const lab = load('star.yaml', starLabYaml({ name: 'star', hosts: 20 }));
    const p = await planLab(new FakeDriver(), lab);
    const rounds = checkSchedule(p.plan.steps);
    expect(rounds).toHaveLength(5);
    expect(rounds[0]!.every((c) => toolOf(c) === 'ip' && c.ns === '' && batchLine(c).startsWith('netns add'))).toBe(true);
    expect(rounds[1]!.every((c) => toolOf(c) === 'sysctl')).toBe(true);
    // The hub's own bridge first: it takes the hub's first free ifindex, before any port lands there.
    expect(rounds[2]!.length).toBeGreaterThan(0);
    expect(rounds[2]!.every((c) => c.ns === 'star-hub' && c.phase === 2 && toolOf(c) === 'ip' && / br0\b/.test(batchLine(c)))).toBe(true);
    // Each host's veth, links up, address and route in one batch.
    for (let i = 1; i <= 20; i++) {
      const lines = rounds[3]!
        .filter((c) => c.ns === `star-h${i}`)
        .map((c) => (toolOf(c) === 'ip' ? batchLine(c).split(' ').slice(0, 2).join(' ') : toolOf(c)));
      expect(lines).toEqual(['link add', 'link set', 'link set', 'link set', 'addr add', 'route add']);
    }
    expect(rounds[3]!.every((c) => c.ns !== 'star-hub')).toBe(true);
    // The hub's ports exist only once the hosts' batches ran.
    expect(rounds[4]!.every((c) => c.ns === 'star-hub')).toBe(true);
    // Processes: one root batch, one sysctl helper, the bridge, 20 host batches, one hub batch.
    const processes = rounds.reduce(
      (n, r) => n + new Set(r.map((c) => (toolOf(c) === 'sysctl' ? 'sysctl' : `${toolOf(c)}:${c.ns}`))).size,
      0,
    );
    expect(processes).toBe(24);
  });

  it("puts a namespace's own devices before the veth ends other namespaces create in it (no ifindex equal to its peer's)", async () => {
    const lab = load('docker.yaml', readFileSync('labs/docker-bridge.yaml', 'utf8'));
    const rounds = checkSchedule((await planLab(new FakeDriver(), lab)).plan.steps);
    const roundOf = (ns: string, re: RegExp) =>
      rounds.findIndex((r) => r.some((c) => toolOf(c) === 'ip' && c.ns === ns && re.test(batchLine(c))));
    const bridge = roundOf('docker-host', /^link add name docker0 /);
    const dbVeth = roundOf('docker-db', /^link add name eth0 .* netns docker-host /);
    expect(bridge).toBeGreaterThanOrEqual(0);
    expect(dbVeth).toBeGreaterThan(bridge);
  });

  it('keeps the order constraints of the example labs, their changes and their removal', async () => {
    const files = readdirSync('labs')
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => `labs/${f}`);
    expect(files).toEqual(expect.arrayContaining(['labs/docker-bridge.yaml', 'labs/k8s-flat.yaml']));
    for (const file of files) {
      // The scale lab is the star of the first test, 500 times: the pairwise check is quadratic.
      if ((await labFile(file)).hosts.length > 50) continue;
      const d = new FakeDriver();
      const created = await planLab(d, await labFile(file));
      checkSchedule(created.plan.steps);
      await applyLab(d, await labFile(file));
      // Everything deleted: deletions keep their levels.
      checkSchedule(plan(new Map(), d.snapshot()).steps);
    }
    const d = new FakeDriver();
    await applyLab(d, await labFile('labs/docker-bridge.yaml'));
    const changed = await labFile('labs/docker-bridge.yaml', (t) =>
      t
        .replace(/\nexpect:[\s\S]*$/, '\n')
        .replace(/ {2}db:\n( {4}.*\n)+/, '  cache:\n    interfaces:\n      eth0: { addresses: [172.17.0.9/16] }\n')
        .replace('{ a: db:eth0, b: host:docker0 }', '{ a: cache:eth0, b: host:docker0 }')
        .replace('eth0: { addresses: [172.17.0.2/16] }', 'eth0: { addresses: [172.17.0.2/16], mtu: 1400 }'),
    );
    const p = await planLab(d, changed);
    expect(p.plan.steps.map((s) => s.op)).toEqual(expect.arrayContaining(['create', 'modify', 'delete']));
    checkSchedule(p.plan.steps);
  });

  it('verifies only the namespaces a run changed: a one-host change reads that host, and its veth peer when links changed', async () => {
    const observed: string[][] = [];
    class Recording extends FakeDriver {
      override observe(req: Parameters<FakeDriver['observe']>[0]) {
        observed.push(req.namespaces.map((q) => q.ns));
        return super.observe(req);
      }
    }
    const d = new Recording();
    const text = starLabYaml({ name: 'star', hosts: 20 });
    await applyLab(d, load('star.yaml', text));
    observed.length = 0;
    const changed = text.replace(
      '  h5:\n    interfaces: { eth0: { addresses: [10.10.0.6/16] } }',
      '  h5:\n    interfaces: { eth0: { addresses: [10.10.0.99/16] } }',
    );
    expect(changed).not.toBe(text);
    const r = await applyLab(d, load('star.yaml', changed));
    expect(new Set(r.steps.flatMap((s) => s.objects.map((id) => id.split(':')[1]!.split('/')[0])))).toEqual(new Set(['star-h5']));
    // Planning reads the whole lab; verify only star-h5: no link was made or removed, so its
    // veth's peer is compared by namespace and the hub is not read.
    expect(observed).toHaveLength(2);
    expect(observed[0]).toHaveLength(21);
    expect(observed[1]).toEqual(['star-h5']);
    // A change to the link itself: verify reads the hub too, to name the peer.
    observed.length = 0;
    const mtu = changed.replace('eth0: { addresses: [10.10.0.99/16] }', 'eth0: { addresses: [10.10.0.99/16], mtu: 1400 }');
    expect(mtu).not.toBe(changed);
    await applyLab(d, load('star.yaml', mtu));
    expect([...observed[1]!].sort()).toEqual(['star-h5', 'star-hub']);
  });

  it('verify still finds what went wrong in the host it reads, the peer namespace of a link included', async () => {
    const text = starLabYaml({ name: 'star', hosts: 6 });
    const changed = text.replace('addresses: [10.10.0.6/16]', 'addresses: [10.10.0.99/16]');
    expect(changed).not.toBe(text);
    // A kernel that acknowledges the new address but keeps the old one.
    class Forgetful extends FakeDriver {
      override async execute(commands: Operation[]) {
        return super.execute(commands.filter((c) => !operationText(c).includes('10.10.0.99')));
      }
    }
    const forgetful = new Forgetful();
    await applyLab(forgetful, load('star.yaml', text));
    await expect(applyLab(forgetful, load('star.yaml', changed))).rejects.toThrow(
      /verify found 1 difference.*missing: address 10.10.0.99\/16 on star-h5\/eth0/s,
    );
    // A kernel that, once the run is done, shows h5's veth paired into another namespace: the
    // hub is not read (no link changed), yet the peer's namespace is still compared.
    class Misplaced extends FakeDriver {
      armed = false;
      misplace = false;
      override async observe(req: Parameters<FakeDriver['observe']>[0]) {
        const seen = await super.observe(req);
        const eth0 = seen.state.get('link:star-h5/eth0');
        if (this.misplace && eth0?.kind === 'link' && eth0.peer) eth0.peer = { ...eth0.peer, ns: 'star-h1' };
        return seen;
      }
      override async execute(commands: Operation[]) {
        await super.execute(commands);
        this.misplace = this.armed;
      }
    }
    const misplaced = new Misplaced();
    await applyLab(misplaced, load('star.yaml', text));
    misplaced.armed = true;
    await expect(applyLab(misplaced, load('star.yaml', changed))).rejects.toThrow(
      /verify found 1 difference.*veth star-h5\/eth0: peer: .*"ns":"star-h1"/s,
    );
  });

  it('applies a star through the schedule to exactly the desired state, and re-applies with no steps', async () => {
    const d = new FakeDriver();
    const lab = load('star.yaml', starLabYaml({ name: 'star', hosts: 30, dnat: 5, backends: 3 }));
    await applyLab(d, lab);
    expect((await planLab(d, lab)).plan.steps).toEqual([]);
  });
});
