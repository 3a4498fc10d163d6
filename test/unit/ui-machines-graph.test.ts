// The graph `netlab ui` draws of a lab across machines: each machine a cluster holding its hosts
// and bridges, a crossing link drawn as its link to the segment's tunnel on each machine and the
// VXLAN between machines (VNI and MTU), the same positions every time, machines side by side.
import { describe, expect, it } from 'vitest';
import { buildTopology } from '../../src/graph/topology.js';
import { loadLabText } from '../../src/lab/index.js';
import { crossSegments } from '../../src/machines/slice.js';
import { uiGraph, type UiNode } from '../../src/ui/graph.js';
import { spanLab, UNREACHED_MACHINES } from '../fixtures/span-lab.js';

function spanGraph(mtu: number | null) {
  const r = loadLabText('span.yaml', spanLab(UNREACHED_MACHINES));
  const lab = r.lab!;
  const segments = crossSegments(r.raw!, lab).map((s) => ({ ...s, mtu }));
  const hosts = new Map(lab.hosts.map((h) => [h.name, h.ns]));
  return { g: uiGraph([{ name: 'span', file: 'span.yaml', topology: buildTopology(lab), hosts, segments }]), segments };
}

/** The machine cluster a node is drawn in (through a group, if any). */
function clusterOf(nodes: UiNode[], n: UiNode): string | undefined {
  let p = n.parent;
  while (p && nodes.find((x) => x.id === p)?.kind !== 'machine') p = nodes.find((x) => x.id === p)?.parent;
  return p;
}

describe('ui graph of a lab across machines', () => {
  it('draws each machine as a cluster holding its hosts and bridges', () => {
    const { g } = spanGraph(1450);
    expect(g.labs).toEqual([{ name: 'span', file: 'span.yaml', machines: ['m1', 'm2', 'm3'] }]);
    const clusters = g.nodes.filter((n) => n.kind === 'machine');
    expect(clusters.map((c) => [c.id, c.label])).toEqual([
      ['span/m_m1', 'm1 (root@192.0.2.1)'],
      ['span/m_m2', 'm2 (root@192.0.2.2)'],
      ['span/m_m3', 'm3 (root@192.0.2.3)'],
    ]);
    const placed = Object.fromEntries(
      g.nodes.filter((n) => n.kind === 'host' || n.kind === 'bridge').map((n) => [n.label, clusterOf(g.nodes, n)]),
    );
    expect(placed).toEqual({
      sw: 'span/m_m1',
      'sw:br0': 'span/m_m1',
      a1: 'span/m_m1',
      a2: 'span/m_m2',
      a3: 'span/m_m3',
      r2: 'span/m_m2',
      r3: 'span/m_m3',
    });
    for (const n of g.nodes.filter((x) => x.kind !== 'machine')) expect(n.machine).toBe(clusterOf(g.nodes, n)!.slice('span/m_'.length));
  });

  it('draws a crossing link as links to the tunnel on each machine and the VXLAN between, with VNI and MTU', () => {
    const { g, segments } = spanGraph(1450);
    const bridged = segments.find((s) => s.machines.length === 3)!;
    const routed = segments.find((s) => s.machines.length === 2)!;
    expect(routed.machines).toEqual(['m2', 'm3']);
    const ids = new Set(g.nodes.map((n) => n.id));
    // No edge goes straight from a host on one machine to a node on another.
    const machineOf = new Map(g.nodes.map((n) => [n.id, n.machine]));
    for (const e of g.edges) {
      expect(ids.has(e.source) && ids.has(e.target)).toBe(true);
      if (e.kind !== 'vxlan') expect(machineOf.get(e.source)).toBe(machineOf.get(e.target));
    }
    const vx = g.edges.filter((e) => e.kind === 'vxlan');
    expect(vx.map((e) => [e.label, machineOf.get(e.source), machineOf.get(e.target)]).sort()).toEqual(
      [
        [`vxlan ${bridged.vni} · mtu 1450`, 'm1', 'm2'],
        [`vxlan ${bridged.vni} · mtu 1450`, 'm1', 'm3'],
        [`vxlan ${bridged.vni} · mtu 1450`, 'm2', 'm3'],
        [`vxlan ${routed.vni} · mtu 1450`, 'm2', 'm3'],
      ].sort(),
    );
    // a2's link ends at the tunnel on m2, and keeps a2's own end for live state and actions.
    const a2 = g.edges.find((e) => e.ends[0]?.host === 'a2')!;
    expect(a2.source).toBe(`span/vx_${bridged.vni}_m2`);
    expect(a2.ends.map((x) => `${x.ns}/${x.ifname}`)).toEqual(['span-a2/eth0']);
    expect(a2.targetLabel).toBe('eth0\n10.0.0.2/24');
    // The bridge on m1 joins the segment once, with no end of the lab's to watch.
    const sw = g.edges.filter((e) => e.kind !== 'vxlan' && e.source === `span/vx_${bridged.vni}_m1`);
    expect(sw.map((e) => [e.target, e.ends.length])).toEqual([['span/b_sw_br0', 0]]);
    // The link on one machine (a1 to the bridge) stays as it is.
    expect(g.edges.find((e) => e.ends[0]?.host === 'a1')).toMatchObject({ source: 'span/h_a1', target: 'span/b_sw_br0' });
    expect(new Set(g.edges.map((e) => e.id)).size).toBe(g.edges.length);
    // An MTU not known yet is left out of the label.
    expect(spanGraph(null).g.edges.find((e) => e.kind === 'vxlan' && e.id.includes(`${bridged.vni}`))!.label).toBe(`vxlan ${bridged.vni}`);
  });

  it('places the machines side by side, the same way every time', () => {
    const a = spanGraph(1450).g;
    const b = spanGraph(1450).g;
    expect(b.nodes.map((n) => [n.id, n.x, n.y])).toEqual(a.nodes.map((n) => [n.id, n.x, n.y]));
    const inside = (m: string) => a.nodes.filter((n) => n.machine === m && n.kind !== 'machine').map((n) => n.x);
    // Every node of m1 left of every node of m2, and m2's of m3's.
    expect(Math.max(...inside('m1'))).toBeLessThan(Math.min(...inside('m2')));
    expect(Math.max(...inside('m2'))).toBeLessThan(Math.min(...inside('m3')));
    expect(new Set(a.nodes.filter((n) => n.kind !== 'machine').map((n) => `${Math.round(n.x)},${Math.round(n.y)}`)).size).toBe(
      a.nodes.length - 3,
    );
  });
});
