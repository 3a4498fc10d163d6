// The graph `netlab ui` draws of a lab across machines: each machine a cluster (a compound node)
// holding its hosts and bridges, laid out on its own and placed side by side in the lab's order of
// machines. A link that crosses machines is drawn as what netlab builds for it: the link to the
// segment's tunnel on each machine, and the VXLAN between the machines, labelled with VNI and MTU.
// Pure: no I/O.
import type { GraphEdge, GraphNode, LinkEnd, Topology } from '../graph/topology.js';
import { labGraph, type HostNamespaces, type UiEdge, type UiNode } from './graph.js';

/** A cross-machine L2 segment as the slicer made it (src/machines/slice.ts). */
export interface UiSegment {
  vni: number;
  /** `HOST:IF` of its bridges and plain interfaces. */
  members: string[];
  machines: string[];
  /** As each machine's record says, once known. */
  mtu: number | null;
}

const GAP = 260;

/** The id of a segment's tunnel node on a machine (a topology id: no lab prefix). */
export const tunnelId = (vni: number, machine: string) => `vx_${vni}_${machine.replace(/[^A-Za-z0-9]/g, '_')}`;

/** What a link end is a member of: its bridge when it is a port, else itself. */
const memberOf = (e: LinkEnd) => `${e.host}:${e.bridge ?? e.name}`;

export function machinesGraph(
  t: Topology,
  hosts: HostNamespaces,
  segments: UiSegment[],
  offsetX = 0,
): { nodes: UiNode[]; edges: UiEdge[]; width: number } {
  const machines = t.machines ?? [];
  const machineOfNode = new Map(machines.flatMap((m) => m.nodes.map((id) => [id, m] as const)));
  const machineOfHost = new Map(t.nodes.flatMap((n) => (machineOfNode.has(n.id) ? [[n.host, machineOfNode.get(n.id)!.id] as const] : [])));
  const nameOfMachine = new Map(machines.map((m) => [m.id, m.label.split(' ')[0]!]));
  const segmentOf = new Map(segments.flatMap((s) => s.members.map((m) => [m, s] as const)));

  // Per machine: its nodes, its tunnel nodes, and its edges (a crossing edge split at the tunnel).
  const parts = new Map(machines.map((m) => [m.id, { nodes: [] as GraphNode[], edges: [] as GraphEdge[], split: new Set<number>() }]));
  for (const n of t.nodes) parts.get(machineOfNode.get(n.id)?.id ?? '')?.nodes.push(n);
  const joined = new Set<string>();
  for (const e of t.edges) {
    const [from, to] = [machineOfNode.get(e.from)?.id, machineOfNode.get(e.to)?.id];
    if (from === to || from === undefined || to === undefined) {
      parts.get(from ?? to ?? '')?.edges.push(e);
      continue;
    }
    for (const end of e.ends ?? []) {
      const s = segmentOf.get(memberOf(end));
      const m = machineOfHost.get(end.host);
      if (!s || !m) continue;
      const node = end.host === t.nodes.find((n) => n.id === e.from)?.host ? e.from : e.to;
      const tunnel = tunnelId(s.vni, nameOfMachine.get(m)!);
      // A bridge joins its machine's side of the segment once, however many links cross to it.
      if (joined.has(`${node} ${tunnel}`)) continue;
      joined.add(`${node} ${tunnel}`);
      const part = parts.get(m)!;
      // A bridge's own port towards the tunnel is netlab's, not the lab's: no end to watch.
      const own = end.bridge === null;
      part.split.add(part.edges.length);
      part.edges.push({
        from: tunnel,
        to: node,
        kind: 'veth',
        label: `${own ? end.name : end.bridge} — vxlan ${s.vni}`,
        ends: own ? [end] : [],
      });
    }
  }
  for (const s of segments)
    for (const name of s.machines) {
      const m = machines.find((x) => nameOfMachine.get(x.id) === name);
      if (m) parts.get(m.id)!.nodes.push({ id: tunnelId(s.vni, name), kind: 'bridge', host: '', lines: [`vxlan ${s.vni}`] });
    }

  const nodes: UiNode[] = [];
  const edges: UiEdge[] = [];
  let x = offsetX;
  for (const m of machines) {
    const part = parts.get(m.id)!;
    const cluster = `${t.lab}/${m.id}`;
    const name = nameOfMachine.get(m.id)!;
    const g = labGraph({ lab: t.lab, file: t.file, nodes: part.nodes, edges: part.edges }, hosts, x);
    nodes.push({
      id: cluster,
      lab: t.lab,
      kind: 'machine',
      label: m.label,
      lines: [m.label],
      host: '',
      machine: name,
      x: x + g.width / 2,
      y: 0,
    });
    for (const n of g.nodes) {
      const tunnel = n.id.startsWith(`${t.lab}/vx_`);
      const vni = tunnel ? Number(n.id.split('_')[1]) : 0;
      nodes.push({
        ...n,
        ...(tunnel
          ? { kind: 'tunnel' as const, label: `vxlan ${vni}`, lines: [`vxlan ${vni} on ${name}`], ns: undefined, ifname: undefined }
          : {}),
        machine: name,
        parent: n.parent ?? cluster,
      });
    }
    const byIndex = /\/e(\d+)$/;
    for (const e of g.edges) {
      const k = byIndex.exec(e.id);
      const split = k !== null && part.split.has(Number(k[1]));
      // Edge ids carry the machine: each machine's part was numbered on its own.
      const id = e.id.replace(`${t.lab}/`, `${t.lab}/${m.id}/`);
      if (!split) edges.push({ ...e, id });
      else {
        const end = e.ends[0];
        edges.push({ ...e, id, sourceLabel: '', targetLabel: end ? [end.name, ...end.addresses].join('\n') : '' });
      }
    }
    x += g.width + GAP;
  }
  // The tunnels: every two machines of a segment have one (unicast, an fdb entry each way).
  for (const s of segments)
    s.machines.forEach((a, i) =>
      s.machines.slice(i + 1).forEach((b) => {
        const label = `vxlan ${s.vni}${s.mtu === null ? '' : ` · mtu ${s.mtu}`}`;
        edges.push({
          id: `${t.lab}/vx${s.vni}/${a}/${b}`,
          lab: t.lab,
          kind: 'vxlan',
          source: `${t.lab}/${tunnelId(s.vni, a)}`,
          target: `${t.lab}/${tunnelId(s.vni, b)}`,
          label,
          sourceLabel: '',
          targetLabel: '',
          ends: [],
        });
      }),
    );
  return { nodes, edges, width: x - offsetX - GAP };
}
