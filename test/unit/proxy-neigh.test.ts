// Proxy neighbour entries, the kind added through the registry as the worked example of
// docs/architecture.md: the lab key and its errors, the plan (golden), both renderings, and the
// fake kernel through the operations' effects (apply, re-apply, removal with the interface, destroy).
import { describe, expect, it } from 'vitest';
import { applyLab, destroyLab, planLab } from '../../src/apply/engine.js';
import { FakeDriver } from '../../src/driver/fake.js';
import { encodeOperation } from '../../src/driver/netlink-write.js';
import { batchLine } from '../../src/driver/render.js';
import { formatLabIssue } from '../../src/errors.js';
import { loadLabText } from '../../src/lab/index.js';
import type { Operation } from '../../src/model/operations.js';
import { PROXY_LAB } from '../fixtures/proxy-lab.js';
import { labOf, planOps, useTempStateDir } from './helpers.js';

useTempStateDir();

const issues = (text: string) => loadLabText('t.yaml', text).issues.map(formatLabIssue);
const proxyOps = (ops: Operation[]) => ops.filter((o) => o.op === 'proxyneigh.add' || o.op === 'proxyneigh.del');

describe('proxy_neigh in the lab language', () => {
  it('normalises the addresses of each interface', () => {
    const lab = labOf('pn.yaml', PROXY_LAB.replace('proxy_neigh: [10.0.0.5]', 'proxy_neigh: [10.0.0.5, 10.0.0.6]'));
    const r = lab.hosts.find((h) => h.name === 'r')!;
    expect(r.interfaces.map((i) => [i.name, i.proxyNeigh])).toEqual([
      ['a', ['10.0.0.5', '10.0.0.6']],
      ['b', ['10.0.0.1']],
    ]);
  });

  it('reports a bad address, a duplicate, and a family the interface has no address of, with positions', () => {
    expect(issues(PROXY_LAB.replace('proxy_neigh: [10.0.0.5]', 'proxy_neigh: [10.0.0.300]'))).toEqual([
      't.yaml:9:54: hosts.r.interfaces.a.proxy_neigh[0]: must be an IPv4 or IPv6 address, e.g. 10.0.0.1 or fd00::1 (got "10.0.0.300")',
    ]);
    expect(issues(PROXY_LAB.replace('proxy_neigh: [10.0.0.5]', 'proxy_neigh: [10.0.0.5, 10.0.0.5, "2001:db8::5"]'))).toEqual([
      't.yaml:9:64: hosts.r.interfaces.a.proxy_neigh[1]: proxy neighbour 10.0.0.5 is listed twice on "a"',
      't.yaml:9:74: hosts.r.interfaces.a.proxy_neigh[2]: proxy neighbour 2001:db8::5 is IPv6, but "a" has no IPv6 address: give it one in addresses',
    ]);
  });
});

describe('proxy neighbour entries (fake kernel)', () => {
  it('plans one add per entry after the links (golden), rendered for `ip` and for the netlink writer', async () => {
    const p = await planLab(new FakeDriver(), labOf('pn.yaml', PROXY_LAB));
    await expect(planOps(p.plan.steps)).toMatchFileSnapshot('golden/proxy-neigh.create.plan');
    const ops = proxyOps(p.plan.steps.flatMap((s) => s.commands));
    expect(ops.map((o) => [o.ns, batchLine(o)])).toEqual([
      ['pn-r', 'neigh add proxy 10.0.0.5 dev a'],
      ['pn-r', 'neigh add proxy 10.0.0.1 dev b'],
    ]);
    // RTM_NEWNEIGH, NLM_F_REQUEST|ACK|EXCL|CREATE, ndmsg with NUD_PERMANENT and NTF_PROXY, the device patched in.
    const e = encodeOperation(ops[0]!)!;
    expect([e.msg.readUInt16LE(4), e.msg.readUInt16LE(6), e.msg.readUInt16LE(24), e.msg[26]]).toEqual([28, 0x605, 0x80, 0x08]);
    expect(e.fixups).toEqual([{ offset: 20, kind: 'ifindex', name: 'a' }]);
    const del = encodeOperation({ ...ops[0]!, op: 'proxyneigh.del' } as Operation)!;
    expect([del.msg.readUInt16LE(4), del.msg.readUInt16LE(6)]).toEqual([29, 0x5]);
    expect(batchLine({ ...ops[0]!, op: 'proxyneigh.del' } as Operation)).toBe('neigh del proxy 10.0.0.5 dev a');
  });

  it('applies, re-applies with nothing to do, follows a changed list, and goes on destroy', async () => {
    const d = new FakeDriver();
    await applyLab(d, labOf('pn.yaml', PROXY_LAB));
    const entries = () => [...d.kernel.values()].filter((o) => o.kind === 'proxyneigh').map((o) => o.id);
    expect(entries()).toEqual(['proxyneigh:pn-r/a/10.0.0.5', 'proxyneigh:pn-r/b/10.0.0.1']);
    expect((await applyLab(d, labOf('pn.yaml', PROXY_LAB))).steps).toEqual([]);

    const moved = await applyLab(d, labOf('pn.yaml', PROXY_LAB.replace('proxy_neigh: [10.0.0.5]', 'proxy_neigh: [10.0.0.6]')));
    expect(proxyOps(moved.steps.flatMap((s) => s.commands)).map(batchLine)).toEqual([
      'neigh del proxy 10.0.0.5 dev a',
      'neigh add proxy 10.0.0.6 dev a',
    ]);
    expect(entries()).toEqual(['proxyneigh:pn-r/b/10.0.0.1', 'proxyneigh:pn-r/a/10.0.0.6']);

    await destroyLab(d, 'pn', null);
    expect(entries()).toEqual([]);
  });
});
