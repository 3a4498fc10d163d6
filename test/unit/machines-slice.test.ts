// Slicing a lab across machines: one ordinary lab per machine, a VXLAN per cross-machine L2
// segment, MTUs from the underlays, and every slice a lab the normal checks accept.
import { describe, expect, it } from 'vitest';
import { loadLabText } from '../../src/lab/index.js';
import type { RawLab } from '../../src/lab/raw.js';
import { crossSegments, sliceLab, vniOf, type Underlay } from '../../src/machines/slice.js';
import { spanLab, UNREACHED_MACHINES } from '../fixtures/span-lab.js';

const LAB = spanLab(UNREACHED_MACHINES, {
  expect: ['a2 -> a3 reachable', 'a1 -> 10.0.0.2 reachable', 'a2 -> a1:80 tcp reachable'],
});

function load(text: string) {
  const r = loadLabText('span.yaml', text);
  if (!r.lab || !r.raw) throw new Error(r.issues.map((i) => `${i.line}:${i.col} ${i.message}`).join('\n'));
  return { lab: r.lab, raw: r.raw };
}

const underlays = (mtu3 = 1500) =>
  new Map<string, Underlay>([
    ['m1', { address: '192.0.2.1', dev: 'eth0', mtu: 1500 }],
    ['m2', { address: '192.0.2.2', dev: 'eth0', mtu: 1500 }],
    ['m3', { address: '192.0.2.3', dev: 'ens3', mtu: mtu3 }],
  ]);

/** A slice, checked the way the machine itself checks it. */
function checked(slice: RawLab) {
  const r = loadLabText('slice', JSON.stringify(slice));
  expect(r.issues).toEqual([]);
  return r.lab!;
}

describe('slicing a lab across machines', () => {
  it('finds one segment per cross-machine L2 segment, with stable distinct VNIs', () => {
    const { lab, raw } = load(LAB);
    const segs = crossSegments(raw, lab);
    // Sorted by what names them: the bridges of a segment, else its two ends.
    expect(segs.map((s) => ({ members: s.members, machines: s.machines }))).toEqual([
      { members: ['r2:eth1', 'r3:eth1'], machines: ['m2', 'm3'] },
      { members: ['a2:eth0', 'a3:eth0', 'sw:br0'], machines: ['m1', 'm2', 'm3'] },
    ]);
    for (const s of segs) {
      expect(s.vni).toBeGreaterThan(0);
      expect(s.vni).toBeLessThan(2 ** 24);
    }
    expect(new Set(segs.map((s) => s.vni)).size).toBe(2);
    expect(crossSegments(raw, lab)).toEqual(segs);
    // A host joining the bridge from another machine keeps the segment's VNI.
    const more = load(LAB.replace('links:\n', '  a4: { on: m3 }\nlinks:\n  - { a: a4:eth0, b: sw:br0 }\n'));
    expect(crossSegments(more.raw, more.lab)[1]!.vni).toBe(segs[1]!.vni);
  });

  it('resolves a VNI collision by taking the next free number', () => {
    const used = new Set<number>();
    const first = vniOf('lab', 'x', used);
    expect(vniOf('lab', 'x', used)).toBe((first % 0xffffff) + 1);
    expect(vniOf('lab', 'x', new Set())).toBe(first);
  });

  it('gives each machine a lab with a VXLAN per segment on a bridge in its own namespace', () => {
    const { lab, raw } = load(LAB);
    const { slices, segments } = sliceLab(raw, lab, underlays());
    const [routed, hub] = segments;
    expect(hub).toMatchObject({ mtu: 1450, underlayMtu: 1500 });
    expect([...slices.keys()]).toEqual(['m1', 'm2', 'm3']);
    const m2 = slices.get('m2')!;
    expect(Object.keys(m2.hosts).sort()).toEqual(['a2', 'overlay', 'r2']);
    expect(m2.root).toBe(true);
    expect(m2.hosts.overlay).toEqual({
      netns: 'root',
      interfaces: {
        [`br${hub!.vni}`]: { kind: 'bridge', mtu: 1450, mac: expect.any(String) },
        [`vx${hub!.vni}`]: {
          kind: 'vxlan',
          vni: hub!.vni,
          port: 4789,
          local: '192.0.2.2',
          remotes: ['192.0.2.1', '192.0.2.3'],
          bridge: `br${hub!.vni}`,
          mtu: 1450,
          mac: expect.any(String),
        },
        [`br${routed!.vni}`]: { kind: 'bridge', mtu: 1450, mac: expect.any(String) },
        [`vx${routed!.vni}`]: expect.objectContaining({ remotes: ['192.0.2.3'], local: '192.0.2.2' }),
      },
    });
    expect(m2.links).toEqual([
      { a: 'a2:eth0', b: `overlay:br${hub!.vni}`, mtu: 1450 },
      { a: 'r2:eth1', b: `overlay:br${routed!.vni}`, mtu: 1450 },
    ]);
    // The bridge's machine joins the bridge to the segment once and lowers its local ports too.
    const m1 = slices.get('m1')!;
    expect(m1.links).toEqual([
      { a: 'a1:eth0', b: 'sw:br0', mtu: 1450 },
      { a: 'sw:br0', b: `overlay:br${hub!.vni}`, mtu: 1450 },
    ]);
    expect(m1.hosts.sw!.interfaces!.br0!.mtu).toBe(1450);
    const m1lab = checked(m1);
    expect(m1lab.hosts.find((h) => h.name === 'a1')!.interfaces[0]!.mtu).toBe(1450);
    for (const s of slices.values()) checked(s);
  });

  it("gives each machine's VXLAN and bridge of a segment a MAC of its own, the same on every slicing", () => {
    const { lab, raw } = load(LAB);
    const macsOf = () => {
      const { slices, segments } = sliceLab(raw, lab, underlays());
      const hub = segments[1]!;
      return [...slices.values()].map((s) => {
        const overlay = checked(s).hosts.find((h) => h.name === 'overlay')!;
        const mac = (name: string) => overlay.interfaces.find((i) => i.name === name)!.mac;
        return [mac(`vx${hub.vni}`), mac(`br${hub.vni}`)];
      });
    };
    const macs = macsOf();
    expect(macs).toHaveLength(3);
    expect(new Set(macs.flat()).size).toBe(6);
    for (const m of macs.flat()) expect(m).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(macsOf()).toEqual(macs);
  });

  it('takes the MTU from the smallest underlay of the segment and says which', () => {
    const { lab, raw } = load(LAB);
    const { segments, slices } = sliceLab(raw, lab, underlays(1400));
    expect(segments.map((s) => [s.mtu, s.machine, s.dev])).toEqual([
      [1350, 'm3', 'ens3'],
      [1350, 'm3', 'ens3'],
    ]);
    const a2 = checked(slices.get('m2')!).hosts.find((h) => h.name === 'a2')!;
    expect(a2.interfaces[0]!.mtu).toBe(1350);
  });

  it('leaves the assertions out of the slices: src/machines/assertions.ts hands them to the machines', () => {
    const { lab, raw } = load(LAB);
    for (const s of sliceLab(raw, lab, underlays()).slices.values()) expect(s.expect).toBeUndefined();
  });

  it('writes pool addresses into the slices, so machines cannot hand out others', () => {
    const text = LAB.replace(
      'sw: { on: m1, interfaces: { br0: { kind: bridge } } }',
      'sw: { on: m1, interfaces: { br0: { kind: bridge, pool: 10.5.0.0/24 } } }',
    ).replace(/ interfaces: \{ eth0: \{ addresses: \[10\.0\.0\.\d\/24\] \} \}/g, '');
    const { lab, raw } = load(text.replace(/expect:[\s\S]*/, ''));
    const { slices } = sliceLab(raw, lab, underlays());
    const want = lab.hosts.find((h) => h.name === 'a3')!.interfaces[0]!.addresses;
    expect(want).toHaveLength(1);
    expect(slices.get('m3')!.hosts.a3!.interfaces!.eth0).toEqual({ addresses: want, mtu: 1450 });
    expect(slices.get('m1')!.hosts.sw!.interfaces!.br0!.pool).toBeUndefined();
  });
});
