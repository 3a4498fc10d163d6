// Objects without a mark (ip rules, nft tables) in namespaces a lab shares are the lab's only
// when its last apply made them (src/apply/ownership.ts): an identical one already there is
// someone else's, which apply refuses to take over and destroy leaves alone, record or not.
import { describe, expect, it } from 'vitest';
import { applyLab, destroyLab } from '../../src/apply/engine.js';
import { FakeDriver } from '../../src/driver/fake.js';
import { ConflictError } from '../../src/errors.js';
import type { Obj } from '../../src/model/objects.js';
import { labOf, useTempStateDir } from './helpers.js';

useTempStateDir();

const RULE_LAB = labOf(
  'rule.yaml',
  `name: own
hosts:
  gw:
    netns: { name: shared1 }
    interfaces:
      eth0: { addresses: [10.90.0.1/24] }
    routing_policy:
      - { priority: 300, from: 10.90.0.0/16, table: 300 }
  h:
    interfaces:
      eth0: { addresses: [10.90.0.2/24] }
links:
  - { a: gw:eth0, b: h:eth0 }
`,
);

const TABLE_LAB = labOf(
  'table.yaml',
  `name: own
root: true
hosts:
  gw:
    netns: root
    interfaces:
      up0: { addresses: [10.91.0.1/24] }
    firewall:
      default: deny
      rules:
        - { action: allow, from: 10.91.0.0/24 }
  h:
    interfaces:
      eth0: { addresses: [10.91.0.2/24] }
links:
  - { a: gw:up0, b: h:eth0 }
`,
);

/** A kernel with the shared namespace, and (when given) the user's own copy of the lab's object. */
function kernel(userObject: Obj | null): FakeDriver {
  const d = new FakeDriver(userObject ? [userObject] : []);
  d.foreign.set('netns:shared1', { kind: 'netns', id: 'netns:shared1', ns: 'shared1', origin: 'created', target: null });
  return d;
}

/** The object of `kind` the lab makes in namespace `ns`, as the kernel holds it. */
async function made(lab: typeof RULE_LAB, kind: Obj['kind'], ns: string): Promise<Obj> {
  const d = kernel(null);
  await applyLab(d, lab);
  const o = [...d.kernel.values()].find((x) => x.kind === kind && x.ns === ns);
  expect(o, `the lab makes a ${kind} in ${ns || 'the root namespace'}`).toBeDefined();
  await destroyLab(d, lab.name, lab);
  return o!;
}

describe('ownership of unmarked objects in shared namespaces', () => {
  for (const [what, lab, kind, ns] of [
    ['an ip rule', RULE_LAB, 'rule', 'shared1'],
    ['an nft table', TABLE_LAB, 'nft', ''],
  ] as const) {
    it(`refuses to take over ${what} the lab did not make, and destroy leaves it`, async () => {
      const users = await made(lab, kind, ns);
      const d = kernel(users);
      await expect(applyLab(d, lab)).rejects.toThrow(ConflictError);
      await expect(applyLab(d, lab)).rejects.toThrow(/exists already and was not made by this lab/);
      expect(d.kernel.get(users.id)).toEqual(users);
      // Destroying the lab by its file, with no record: nothing of the user's goes.
      await destroyLab(d, lab.name, lab);
      expect(d.kernel.get(users.id)).toEqual(users);
    });

    it(`owns ${what} its own apply made: re-apply keeps it, destroy removes it`, async () => {
      const d = kernel(null);
      await applyLab(d, lab);
      const mine = [...d.kernel.values()].find((x) => x.kind === kind && x.ns === ns)!;
      expect((await applyLab(d, lab)).changed).toBe(false);
      await destroyLab(d, lab.name, null);
      expect(d.kernel.has(mine.id)).toBe(false);
    });
  }
});

describe('a shared namespace named like the lab’s own', () => {
  it('is read as shared, so the lab’s interfaces in it are seen, verified and removed', async () => {
    const lab = labOf(
      'prefix.yaml',
      `name: tf
hosts:
  a:
    netns: { name: tf-zzz }
    interfaces:
      br0: { kind: bridge, addresses: [10.92.0.1/24] }
`,
    );
    const d = new FakeDriver();
    d.foreign.set('netns:tf-zzz', { kind: 'netns', id: 'netns:tf-zzz', ns: 'tf-zzz', origin: 'created', target: null });
    expect((await applyLab(d, lab)).changed).toBe(true);
    expect([...d.kernel.values()].some((o) => o.kind === 'link' && o.ns === 'tf-zzz' && o.ifname !== 'lo')).toBe(true);
    expect((await applyLab(d, lab)).changed).toBe(false);
    await destroyLab(d, 'tf', null);
    expect([...d.kernel.values()]).toEqual([]);
  });
});

describe('the name an attached namespace is mounted under', () => {
  const lab = labOf(
    'handle.yaml',
    `name: tc
hosts:
  h1:
    netns: { path: /run/netns/target }
    interfaces:
      eth0: { addresses: [10.80.0.1/24] }
  h2:
    interfaces:
      eth0: { addresses: [10.80.0.2/24] }
links:
  - { a: h1:eth0, b: h2:eth0 }
`,
  );

  it('is not taken from a namespace of that name the user made: apply refuses, destroy leaves it', async () => {
    const d = new FakeDriver();
    const users: Obj = { kind: 'netns', id: 'netns:tc-h1', ns: 'tc-h1', origin: 'created', target: null };
    d.foreign.set(users.id, users);
    await expect(applyLab(d, lab)).rejects.toThrow(/netns tc-h1: it exists already and was not made by this lab/);
    expect([...d.kernel.values()]).toEqual([]);
    await destroyLab(d, 'tc', lab);
    expect(d.executed).toEqual([]);
  });
});

describe('a sysctl two labs set in one shared namespace', () => {
  const labIn = (name: string, subnet: number) =>
    labOf(
      `${name}.yaml`,
      `name: ${name}
hosts:
  gw:
    netns: { name: shared1 }
    sysctls: { net.ipv4.ip_forward: 1 }
    interfaces:
      eth0: { addresses: [10.${subnet}.0.1/24] }
  h:
    interfaces:
      eth0: { addresses: [10.${subnet}.0.2/24] }
links:
  - { a: gw:eth0, b: h:eth0 }
`,
    );
  const id = 'sysctl:shared1/net.ipv4.ip_forward';
  const value = (d: FakeDriver) => {
    const o = d.kernel.get(id);
    return o?.kind === 'sysctl' ? o.value : undefined;
  };

  for (const order of [
    ['s1', 's2'],
    ['s2', 's1'],
  ] as const) {
    it(`stays while either lab wants it, and is put back as the user had it when both are gone (${order.join(' then ')} destroyed)`, async () => {
      const d = kernel(null);
      d.kernel.set(id, { kind: 'sysctl', id, ns: 'shared1', key: 'net.ipv4.ip_forward', value: '0' });
      const labs = { s1: labIn('s1', 93), s2: labIn('s2', 94) };
      await applyLab(d, labs.s1);
      await applyLab(d, labs.s2);
      expect(value(d)).toBe('1');
      await destroyLab(d, order[0], null);
      expect(value(d)).toBe('1');
      // The other lab is still as applied.
      expect((await applyLab(d, labs[order[1]])).changed).toBe(false);
      await destroyLab(d, order[1], null);
      // The last write of the key puts the user's value back (the fake kernel then forgets it).
      const writes = d.executed.filter((c) => c.op === 'sysctl.set' && c.ns === 'shared1' && c.key === 'net.ipv4.ip_forward');
      expect(writes.map((c) => (c.op === 'sysctl.set' ? c.value : ''))).toEqual(['1', '0']);
    });
  }
});
