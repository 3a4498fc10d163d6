// The graph `netlab ui` draws: `netlab graph`'s topology of each lab, with ids that carry the lab,
// the kernel identity of each link end (to attach live state), and positions computed here so the
// same lab always gives the same picture. Pure: no I/O.
import type { Topology } from '../graph/topology.js';
import { machinesGraph, type UiSegment } from './machines-graph.js';

/** Above this many ports on one bridge, its hosts are drawn as one group with one aggregated edge. */
export const AGGREGATE_PORTS = 24;

export interface UiEnd {
  host: string;
  addresses: string[];
  bridge: string | null;
  /** As written in the lab (what `netlab link LAB HOST:NAME` takes). */
  name: string;
  /** Namespace key and kernel name, as in the link object's id. */
  ns: string;
  ifname: string;
}

export interface UiNode {
  id: string;
  lab: string;
  /** machine: a machine's cluster; tunnel: a cross-machine segment's VXLAN on one machine. */
  kind: 'host' | 'bridge' | 'group' | 'machine' | 'tunnel';
  /** The name drawn on the node. */
  label: string;
  /** Addresses, routes, NAT: shown on click. */
  lines: string[];
  host: string;
  /** Compound parent: a group of a large bridge's hosts, or a machine's cluster. */
  parent?: string;
  /** The machine the node runs on, in a lab across machines (drawn as a cluster). */
  machine?: string;
  /** A bridge's live identity. */
  ns?: string;
  ifname?: string;
  x: number;
  y: number;
}

export interface UiEdge {
  id: string;
  lab: string;
  kind: 'veth' | 'bridge' | 'device' | 'vxlan' | 'aggregate';
  source: string;
  target: string;
  label: string;
  /** Drawn next to each end: that end's interface name and addresses ('' when none). */
  sourceLabel: string;
  targetLabel: string;
  /** The interfaces whose counters and state the edge shows (an aggregate: every member's). */
  ends: UiEnd[];
  /** For an aggregate: how many links it stands for. */
  members?: number;
}

export interface UiGraph {
  /** `machines`: a lab across machines, its machines' names in order. */
  labs: { name: string; file: string | null; error?: string; machines?: string[] }[];
  nodes: UiNode[];
  edges: UiEdge[];
}

/** Where each host lives: namespace key by host name (from the lab or its record). */
export type HostNamespaces = ReadonlyMap<string, string>;

const SPACING = 220;
const NATURAL = new Intl.Collator('en', { numeric: true });
/** A grouped host's place in its grid: room for a name like h500. */
const CELL = { width: 48, height: 30 };

/** The topology id of a host's node. */
function hostIdOf(t: Topology, host: string): string {
  return t.nodes.find((n) => n.kind === 'host' && n.host === host)?.id ?? '';
}

/** One lab's nodes and edges with positions; `offsetX` places labs side by side. */
export function labGraph(t: Topology, hosts: HostNamespaces, offsetX = 0): { nodes: UiNode[]; edges: UiEdge[]; width: number } {
  const pre = (id: string) => `${t.lab}/${id}`;
  const nodes: UiNode[] = t.nodes.map((n) => ({
    id: pre(n.id),
    lab: t.lab,
    kind: n.kind,
    label: n.kind === 'bridge' ? (n.lines[0]?.split(' ')[0] ?? n.id) : n.host,
    lines: n.lines,
    host: n.host,
    ...(n.kind === 'bridge' ? { ns: hosts.get(n.host) ?? '', ifname: n.ifname } : {}),
    x: 0,
    y: 0,
  }));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const endOf = (e: UiEnd | Omit<UiEnd, 'ns'>): UiEnd => ({ ...e, ns: hosts.get(e.host) ?? '' });
  // A host's own interface first, a bridge's port second: the page acts on the first end.
  const ordered = (ends: UiEnd[]) => [...ends.filter((x) => x.bridge === null), ...ends.filter((x) => x.bridge !== null)];
  // A link's label: each end's interface name and addresses (the label of `netlab graph` else).
  const labelOf = (ends: UiEnd[], fallback: string) =>
    ends.length === 2 ? ends.map((x) => [x.name, ...x.addresses, ...(x.bridge ? [`(${x.bridge})`] : [])].join(' ')).join(' — ') : fallback;
  // Topology lists a veth's ends from its `from` node to its `to` node, and a device's one end at
  // the host that owns it (`to`); a device's name is in its edge's label already.
  const endText = (x: UiEnd, withName: boolean) => [...(withName ? [x.name] : []), ...x.addresses].join('\n');
  let edges: UiEdge[] = t.edges.map((e, k) => {
    const raw = (e.ends ?? []).map(endOf);
    const [sourceLabel, targetLabel] =
      raw.length === 2 ? [endText(raw[0]!, true), endText(raw[1]!, true)] : raw.length === 1 ? ['', endText(raw[0]!, false)] : ['', ''];
    const ends = ordered(raw);
    const label = labelOf(ends, e.label);
    return { id: pre(`e${k}`), lab: t.lab, kind: e.kind, source: pre(e.from), target: pre(e.to), label, sourceLabel, targetLabel, ends };
  });

  // Each host's links: a host whose only link is a veth to one bridge is that bridge's port host.
  const degree = new Map<string, UiEdge[]>();
  const listOf = <T>(m: Map<string, T[]>, k: string) => m.get(k) ?? m.set(k, []).get(k)!;
  for (const e of edges) for (const id of [e.source, e.target]) listOf(degree, id).push(e);
  const portsOf = new Map<string, UiNode[]>();
  for (const n of nodes) {
    if (n.kind !== 'host') continue;
    const es = degree.get(n.id) ?? [];
    if (es.length !== 1 || es[0]!.kind !== 'veth') continue;
    const other = es[0]!.source === n.id ? es[0]!.target : es[0]!.source;
    if (byId.get(other)?.kind !== 'bridge') continue;
    listOf(portsOf, other).push(n);
  }

  // Large bridges: their port hosts go into one group, their edges become one aggregate.
  const groupNodes: UiNode[] = [];
  for (const [bridge, ports] of portsOf) {
    if (ports.length <= AGGREGATE_PORTS) continue;
    const b = byId.get(bridge)!;
    // h2 before h10: hosts made with `count` are numbered.
    ports.sort((p, q) => NATURAL.compare(p.host, q.host));
    const group: UiNode = {
      id: `${bridge}/ports`,
      lab: t.lab,
      kind: 'group',
      label: `${ports.length} hosts on ${b.label}`,
      lines: [],
      host: b.host,
      x: 0,
      y: 0,
    };
    groupNodes.push(group);
    const members = new Set(ports.map((p) => p.id));
    for (const p of ports) p.parent = group.id;
    const inGroup = edges.filter((e) => e.kind === 'veth' && (members.has(e.source) || members.has(e.target)));
    const gone = new Set(inGroup);
    edges = edges.filter((e) => !gone.has(e));
    edges.push({
      id: `${group.id}/edge`,
      lab: t.lab,
      kind: 'aggregate',
      source: group.id,
      target: bridge,
      label: `${ports.length} links`,
      sourceLabel: '',
      targetLabel: '',
      ends: inGroup.flatMap((e) => e.ends.slice(0, 1)),
      members: ports.length,
    });
  }

  // Positions: bridges in a row; each bridge's port hosts on a ring around it (or a grid below it,
  // for a group); every other node in a row underneath, in the lab's order.
  const bridges = nodes.filter((n) => n.kind === 'bridge');
  const placed = new Set<string>();
  let x = offsetX;
  for (const b of bridges) {
    const ports = portsOf.get(b.id) ?? [];
    const grouped = ports.length > AGGREGATE_PORTS;
    const cols = grouped ? Math.ceil(Math.sqrt(ports.length * 1.2)) : 0;
    const radius = grouped ? 0 : Math.max(SPACING * 0.8, (ports.length * 90) / (2 * Math.PI));
    const width = grouped ? cols * CELL.width : 2 * radius;
    b.x = x + width / 2;
    b.y = 0;
    placed.add(b.id);
    // The host that owns the bridge right above it, so its edge to the bridge is short.
    const owner = byId.get(pre(hostIdOf(t, b.host)));
    if (owner && !placed.has(owner.id)) {
      owner.x = b.x;
      owner.y = b.y - (grouped ? SPACING * 0.75 : radius + SPACING / 2);
      placed.add(owner.id);
    }
    ports.forEach((p, k) => {
      if (grouped) {
        p.x = x + (k % cols) * CELL.width;
        p.y = SPACING + Math.floor(k / cols) * CELL.height;
      } else {
        const a = Math.PI / 2 + (2 * Math.PI * k) / ports.length;
        p.x = b.x + radius * Math.cos(a);
        p.y = b.y - radius * Math.sin(a);
      }
      placed.add(p.id);
    });
    x += width + SPACING;
  }
  const rest = nodes.filter((n) => !placed.has(n.id));
  const restWidth = rest.length * SPACING;
  rest.forEach((n, k) => {
    n.x = offsetX + k * SPACING;
    n.y = bridges.length ? -SPACING * 1.5 : (k % 2) * (SPACING / 2);
  });
  const width = Math.max(x - offsetX, restWidth);
  return { nodes: [...groupNodes, ...nodes], edges, width };
}

/** Every lab's graph side by side, in the order given. */
export function uiGraph(
  labs: { topology: Topology | null; name: string; file: string | null; hosts: HostNamespaces; error?: string; segments?: UiSegment[] }[],
): UiGraph {
  const out: UiGraph = { labs: [], nodes: [], edges: [] };
  let x = 0;
  for (const l of labs) {
    const machines = l.topology?.machines?.map((m) => m.label.split(' ')[0]!);
    out.labs.push({ name: l.name, file: l.file, ...(l.error ? { error: l.error } : {}), ...(machines ? { machines } : {}) });
    if (!l.topology) continue;
    const g = l.topology.machines ? machinesGraph(l.topology, l.hosts, l.segments ?? [], x) : labGraph(l.topology, l.hosts, x);
    out.nodes.push(...g.nodes);
    out.edges.push(...g.edges);
    x += g.width + SPACING * 2;
  }
  return out;
}
