// The graph `netlab ui` draws: hosts, bridges and links labelled with interface names and
// addresses, each link end with its kernel identity (for live state), the same positions every
// time, and a large bridge's hosts drawn as one group with one aggregated edge.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { starLabYaml } from '../../src/cli/gen.js';
import { buildTopology } from '../../src/graph/topology.js';
import type { Lab } from '../../src/lab/types.js';
import { AGGREGATE_PORTS, labGraph, uiGraph } from '../../src/ui/graph.js';
import { labOf } from './helpers.js';

const hostsOf = (lab: Lab) => new Map(lab.hosts.map((h) => [h.name, h.ns]));
const docker = labOf('labs/docker-bridge.yaml', readFileSync('labs/docker-bridge.yaml', 'utf8'));

describe('ui graph', () => {
  it('draws every host and bridge, and every link with both ends named and addressed', () => {
    const g = labGraph(buildTopology(docker), hostsOf(docker));
    expect(g.nodes.filter((n) => n.kind === 'host').map((n) => n.host)).toEqual(['db', 'host', 'internet', 'web']);
    expect(g.nodes.filter((n) => n.kind === 'bridge').map((n) => ({ id: n.id, label: n.label, ns: n.ns, ifname: n.ifname }))).toEqual([
      { id: 'docker/b_host_docker0', label: 'host:docker0', ns: 'docker-host', ifname: 'docker0' },
    ]);
    const veths = g.edges.filter((e) => e.kind === 'veth');
    expect(veths.map((e) => [e.source, e.target].sort().join(' ')).sort()).toEqual([
      'docker/b_host_docker0 docker/h_db',
      'docker/b_host_docker0 docker/h_web',
      'docker/h_host docker/h_internet',
    ]);
    const by = (host: string) => veths.find((e) => e.ends[0]!.host === host)!;
    const uplink = by('host');
    expect(uplink.label).toBe('uplink 203.0.113.1/24 — eth0 203.0.113.254/24');
    expect(uplink.ends.map((x) => ({ host: x.host, name: x.name, ns: x.ns, ifname: x.ifname }))).toEqual([
      { host: 'host', name: 'uplink', ns: 'docker-host', ifname: 'uplink' },
      { host: 'internet', name: 'eth0', ns: 'docker-internet', ifname: 'eth0' },
    ]);
    // A bridge port's link: the container's own interface first (the page acts on it), the port second.
    const web = by('web');
    expect(web.ends[0]).toMatchObject({
      host: 'web',
      name: 'eth0',
      ns: 'docker-web',
      ifname: 'eth0',
      bridge: null,
      addresses: ['172.17.0.2/16'],
    });
    expect(web.ends[1]).toMatchObject({ host: 'host', ns: 'docker-host', bridge: 'docker0' });
    expect(web.label).toMatch(/^eth0 172\.17\.0\.2\/16 — veth[0-9a-f]+ \(docker0\)$/);
    expect(new Set(g.edges.map((e) => e.id)).size).toBe(g.edges.length);
  });

  it('places nodes the same way every time, no two on one spot', () => {
    const a = labGraph(buildTopology(docker), hostsOf(docker));
    const b = labGraph(buildTopology(docker), hostsOf(docker));
    expect(b.nodes.map((n) => [n.id, n.x, n.y])).toEqual(a.nodes.map((n) => [n.id, n.x, n.y]));
    expect(new Set(a.nodes.map((n) => `${Math.round(n.x)},${Math.round(n.y)}`)).size).toBe(a.nodes.length);
  });

  it('keeps a bridge with few ports as single links', () => {
    const star = labOf('star.yaml', starLabYaml({ name: 'star', hosts: AGGREGATE_PORTS }));
    const g = labGraph(buildTopology(star), hostsOf(star));
    expect(g.nodes.filter((n) => n.kind === 'group')).toEqual([]);
    expect(g.edges.filter((e) => e.kind === 'veth')).toHaveLength(AGGREGATE_PORTS);
  });

  it("groups a large bridge's hosts with one aggregated edge that carries every member's interface", () => {
    const n = AGGREGATE_PORTS + 6;
    const star = labOf('star.yaml', starLabYaml({ name: 'star', hosts: n }));
    const g = labGraph(buildTopology(star), hostsOf(star));
    const groups = g.nodes.filter((x) => x.kind === 'group');
    expect(groups.map((x) => ({ id: x.id, label: x.label }))).toEqual([{ id: 'star/b_hub_br0/ports', label: `${n} hosts on hub:br0` }]);
    const members = g.nodes.filter((x) => x.parent === groups[0]!.id);
    expect(members.map((x) => x.host).sort()).toEqual(Array.from({ length: n }, (_, i) => `h${i + 1}`).sort());
    expect(g.edges.filter((e) => e.kind === 'veth')).toEqual([]);
    const agg = g.edges.filter((e) => e.kind === 'aggregate');
    expect(agg).toHaveLength(1);
    expect(agg[0]).toMatchObject({ source: 'star/b_hub_br0/ports', target: 'star/b_hub_br0', members: n, label: `${n} links` });
    expect(agg[0]!.ends.map((e) => `${e.ns}/${e.ifname}`).sort()).toEqual(
      Array.from({ length: n }, (_, i) => `star-h${i + 1}/eth0`).sort(),
    );
    // Every node is drawn at its own spot in the group's grid.
    expect(new Set(members.map((x) => `${x.x},${x.y}`)).size).toBe(n);
  });

  it('keeps a 500-host star small: one group and one aggregated edge per hub bridge', () => {
    const star = labOf('star.yaml', starLabYaml({ name: 'big', hosts: 500 }));
    const g = uiGraph([{ name: 'big', file: 'star.yaml', topology: buildTopology(star), hosts: hostsOf(star) }]);
    const bridges = g.nodes.filter((x) => x.kind === 'bridge').length;
    expect(bridges).toBeGreaterThan(0);
    expect(g.nodes.filter((x) => x.kind === 'group')).toHaveLength(bridges);
    expect(g.edges.filter((e) => e.kind === 'aggregate')).toHaveLength(bridges);
    expect(g.edges.filter((e) => e.kind === 'aggregate').reduce((a, e) => a + e.members!, 0)).toBe(500);
    expect(g.edges.length).toBeLessThan(bridges * 3);
  });

  it('sets labs side by side without overlap, and keeps a lab without a topology in the list', () => {
    const k8s = labOf('labs/k8s-flat.yaml', readFileSync('labs/k8s-flat.yaml', 'utf8'));
    const g = uiGraph([
      { name: 'docker', file: 'labs/docker-bridge.yaml', topology: buildTopology(docker), hosts: hostsOf(docker) },
      { name: 'gone', file: null, topology: null, hosts: new Map(), error: 'the lab file is gone' },
      { name: 'k8s', file: 'labs/k8s-flat.yaml', topology: buildTopology(k8s), hosts: hostsOf(k8s) },
    ]);
    expect(g.labs).toEqual([
      { name: 'docker', file: 'labs/docker-bridge.yaml' },
      { name: 'gone', file: null, error: 'the lab file is gone' },
      { name: 'k8s', file: 'labs/k8s-flat.yaml' },
    ]);
    const xs = (lab: string) => g.nodes.filter((n) => n.lab === lab).map((n) => n.x);
    expect(Math.max(...xs('docker'))).toBeLessThan(Math.min(...xs('k8s')));
    for (const e of g.edges) expect(e.id.startsWith(`${e.lab}/`)).toBe(true);
  });
});
