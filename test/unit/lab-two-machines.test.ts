// The catalogue's lab across machines (labs/two-machines.yaml): it validates, its hosts go where
// it says, and each machine's slice carries the flannel.1 link over VXLAN: the lab's VNI, an fdb
// entry towards the other machine's underlay address, and the MTU the underlay leaves.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadLabText } from '../../src/lab/index.js';
import type { RawLab } from '../../src/lab/raw.js';
import { testsByMachine } from '../../src/machines/assertions.js';
import { sliceLab, type Underlay } from '../../src/machines/slice.js';
import { desiredState } from '../../src/model/desired.js';
import type { FdbObj, LinkObj } from '../../src/model/objects.js';

const FILE = 'labs/two-machines.yaml';
/** vniOf('twom', 'host1:flannel.1,host2:flannel.1'): the first 24 bits of its SHA-256, plus one. */
const VNI = 4613661;

function load() {
  const r = loadLabText(FILE, readFileSync(FILE, 'utf8'));
  expect(r.issues).toEqual([]);
  return { lab: r.lab!, raw: r.raw! };
}

const underlays = (mtuB = 1500) =>
  new Map<string, Underlay>([
    ['a', { address: '192.0.2.1', dev: 'eth0', mtu: 1500 }],
    ['b', { address: '192.0.2.2', dev: 'ens4', mtu: mtuB }],
  ]);

/** A slice as its machine sees it: checked like any lab file, then its desired objects. */
function objects(slice: RawLab) {
  const r = loadLabText('slice', JSON.stringify(slice));
  expect(r.issues).toEqual([]);
  return [...desiredState(r.lab!).values()];
}

const links = (objs: ReturnType<typeof objects>) => objs.filter((o): o is LinkObj => o.kind === 'link');

describe('labs/two-machines.yaml', () => {
  it('validates and places each host on the machine its on: names', () => {
    const { lab } = load();
    expect(lab.machines!.map((m) => [m.name, m.ssh, m.underlay])).toEqual([
      ['a', null, null],
      ['b', { user: 'root', host: '192.0.2.2', port: null, identity: null }, '192.0.2.2'],
    ]);
    expect(Object.fromEntries(lab.hosts.map((h) => [h.name, h.machine]))).toEqual({ host1: 'a', web: 'a', host2: 'b', app: 'b' });
  });

  it('gives each machine the VXLAN with the VNI, an fdb entry towards the other underlay and MTU 1450', () => {
    const { lab, raw } = load();
    const { segments, slices } = sliceLab(raw, lab, underlays());
    expect(segments).toEqual([
      {
        members: ['host1:flannel.1', 'host2:flannel.1'],
        vni: VNI,
        machines: ['a', 'b'],
        mtu: 1450,
        machine: 'a',
        dev: 'eth0',
        underlayMtu: 1500,
      },
    ]);
    for (const [machine, local, remote, node, pod] of [
      ['a', '192.0.2.1', '192.0.2.2', 'host1', 'web'],
      ['b', '192.0.2.2', '192.0.2.1', 'host2', 'app'],
    ] as const) {
      const slice = slices.get(machine)!;
      expect(Object.keys(slice.hosts).sort(), machine).toEqual([node, 'overlay', pod].sort());
      const objs = objects(slice);
      const vxlan = links(objs).filter((l) => l.type === 'vxlan');
      expect(vxlan, machine).toEqual([
        expect.objectContaining({ ns: '', mtu: 1450, attrs: expect.objectContaining({ vni: VNI, port: 4789, local }) }),
      ]);
      const fdb = objs.filter((o): o is FdbObj => o.kind === 'fdb');
      expect(
        fdb.map((f) => [f.ns, f.dev, f.mac, f.dst]),
        machine,
      ).toEqual([['', vxlan[0]!.ifname, '00:00:00:00:00:00', remote]]);
      // The VXLAN and the node's flannel.1 are ports of one bridge in the machine's own namespace.
      const flannel = links(objs).find((l) => l.ns === `twom-${node}` && l.ifname === 'flannel.1')!;
      expect(flannel.mtu, machine).toBe(1450);
      const peer = links(objs).find((l) => l.ns === '' && l.ifname === flannel.peer!.ifname)!;
      expect(peer.master, machine).toBe(vxlan[0]!.master);
      expect(peer.mtu, machine).toBe(1450);
    }
    // Assertions start on the pod's machine (src/machines/assertions.ts), a pod on the other one by its address.
    const tests = testsByMachine(lab);
    expect(tests.get('a')!.request.expect.map((e) => [e.text, e.to.address])).toEqual([
      ['web -> app reachable', '10.244.2.2'],
      ['web -> 10.244.2.1 reachable', '10.244.2.1'],
      ['web -> 192.0.2.2 unreachable', '192.0.2.2'],
    ]);
    expect(tests.get('b')!.request.expect.map((e) => [e.text, e.to.address])).toEqual([['app -> web reachable', '10.244.1.2']]);
  });

  it('lowers the MTU on both machines to what the smaller underlay carries', () => {
    const { lab, raw } = load();
    const { segments, slices } = sliceLab(raw, lab, underlays(1400));
    expect(segments.map((s) => [s.vni, s.mtu, s.machine, s.dev, s.underlayMtu])).toEqual([[VNI, 1350, 'b', 'ens4', 1400]]);
    for (const machine of ['a', 'b']) {
      const objs = links(objects(slices.get(machine)!));
      expect(
        objs.filter((l) => l.type === 'vxlan').map((l) => l.mtu),
        machine,
      ).toEqual([1350]);
      expect(
        objs.filter((l) => l.ifname === 'flannel.1').map((l) => l.mtu),
        machine,
      ).toEqual([1350]);
    }
  });
});
