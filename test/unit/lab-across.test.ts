// Rules across labs applied together.
import { describe, expect, it } from 'vitest';
import { checkAcrossLabs, loadLabs, loadLabText } from '../../src/lab/index.js';
import { sharedIfname } from '../../src/lab/names.js';
import type { Lab } from '../../src/lab/types.js';

const DIR = 'test/fixtures/across';

function labOf(file: string, text: string): Lab {
  const { lab, issues } = loadLabText(file, text);
  if (!lab) throw new Error(JSON.stringify(issues));
  return lab;
}

describe('checkAcrossLabs', () => {
  it('accepts the example labs together', async () => {
    const { labs, issues } = await loadLabs(['labs/docker-bridge.yaml', 'labs/k8s-flat.yaml']);
    expect(issues).toEqual([]);
    expect(labs.map((l) => l.name)).toEqual(['docker', 'k8s']);
  });

  it('rejects the same lab name twice, at the second name', async () => {
    const { labs, issues } = await loadLabs([`${DIR}/first.yaml`, `${DIR}/first-again.yaml`]);
    expect(labs).toHaveLength(2);
    expect(issues).toEqual([
      {
        file: `${DIR}/first-again.yaml`,
        line: 2,
        col: 1,
        path: 'name',
        message: `lab name "first" is also used by ${DIR}/first.yaml: lab names must be unique`,
      },
    ]);
  });

  it('rejects overlapping subnets of two labs in one shared namespace, but not disjoint ones', async () => {
    const { issues } = await loadLabs([`${DIR}/first.yaml`, `${DIR}/second.yaml`]);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ file: `${DIR}/second.yaml`, line: 8, col: 7, path: 'hosts.machine.interfaces.up0.addresses' });
    expect(issues[0]!.message).toBe(
      'subnet of 10.10.0.7/16 overlaps 10.10.0.1/24 of lab "first" (hosts.machine.interfaces.up0) in the root namespace',
    );
  });

  it('rejects two labs making the same namespace', async () => {
    const { issues } = await loadLabs([`${DIR}/first.yaml`, `${DIR}/first-b.yaml`]);
    expect(issues).toEqual([
      {
        file: `${DIR}/first-b.yaml`,
        line: 4,
        col: 3,
        path: 'hosts.c',
        message: 'namespace "first-b-c" is also made by lab "first" (host "b-c"): rename a lab or a host',
      },
    ]);
  });

  it('rejects the same kernel interface name from two labs in one namespace', () => {
    // Lab "p" makes eth0 in its namespace p-x; lab "q" attaches to p-x. q's derived kernel names
    // make a real clash practically impossible, so the model is edited to force one.
    const p = labOf('p.yaml', 'name: p\nhosts:\n  x:\n    interfaces: { eth0: { kind: tap } }\n');
    const q = labOf('q.yaml', 'name: q\nhosts:\n  y:\n    netns: { name: p-x }\n    interfaces: { eth0: { kind: tap } }\n');
    expect(q.hosts[0]!.interfaces[0]!.ifname).toBe(sharedIfname('q', 'y', 'eth0'));
    expect(checkAcrossLabs([p, q])).toEqual([]);
    const clash = structuredClone(q);
    clash.hosts[0]!.interfaces[0]!.ifname = 'eth0';
    expect(checkAcrossLabs([p, clash])).toEqual([
      {
        file: 'q.yaml',
        line: 5,
        col: 19,
        path: 'hosts.y.interfaces.eth0',
        message: 'interface "eth0" in namespace "p-x" is also made by lab "p" (hosts.x.interfaces.eth0)',
      },
    ]);
  });

  it('works on labs without positions', () => {
    const a = labOf('a.yaml', 'name: a\nhosts: { h: {} }\n');
    const { pos: _, ...bare } = a;
    expect(checkAcrossLabs([a, { ...bare, file: 'b.yaml' }])).toMatchObject([{ file: 'b.yaml', line: 1, col: 1, path: 'name' }]);
  });
});
