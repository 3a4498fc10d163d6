// `netlab graph`: a lab's topology as a small graph (hosts, bridges, links), then rendered as
// Mermaid or Graphviz DOT. Pure: the same lab always gives the same text (golden tests).
import type { Host, Interface, Lab } from '../lab/types.js';
import { appendAll } from '../append.js';

export interface GraphNode {
  /** Stable id, safe in Mermaid and DOT. */
  id: string;
  kind: 'host' | 'bridge';
  host: string;
  /** First line: the host or bridge name; then addresses, devices, NAT. */
  lines: string[];
  /** A bridge's kernel name in its host (for live state). */
  ifname?: string;
}

/** One end of a link: the interface as written (`name`) and in the kernel (`ifname`). */
export interface LinkEnd {
  host: string;
  name: string;
  ifname: string;
  addresses: string[];
  /** The bridge it is a port of (its name as written), or null. */
  bridge: string | null;
}

export interface GraphEdge {
  from: string;
  to: string;
  /**
   * veth: a link; bridge: a host and its bridge (labelled with the host's own devices in it);
   * device: a vlan/macvlan/... on a parent in another host; vxlan: a tunnel.
   */
  kind: 'veth' | 'bridge' | 'device' | 'vxlan';
  label: string;
  /** A veth's two interfaces, a device's own interface (for live state and `netlab link`). */
  ends?: LinkEnd[];
}

export interface Topology {
  lab: string;
  file: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9]/g, '_');

function portVlans(i: Interface): string {
  if (!i.vlans) return '';
  const parts = [];
  if (i.vlans.pvid !== undefined) parts.push(`pvid ${i.vlans.pvid}`);
  if (i.vlans.tagged.length) parts.push(`tagged ${i.vlans.tagged.join(',')}`);
  return parts.length ? ` (${parts.join('; ')})` : '';
}

export function buildTopology(lab: Lab): Topology {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const used = new Set<string>();
  const unique = (base: string) => {
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}_${n}`;
    used.add(id);
    return id;
  };
  const hostId = new Map(lab.hosts.map((h) => [h.name, unique(`h_${safe(h.name)}`)]));
  const bridgeId = new Map<string, string>();
  /** Kernel name -> interface, per host. */
  const byIfname = new Map<string, Interface>();
  for (const h of lab.hosts) {
    for (const i of h.interfaces) {
      byIfname.set(`${h.name}/${i.ifname}`, i);
      if (i.kind === 'bridge') bridgeId.set(`${h.name}/${i.ifname}`, unique(`b_${safe(h.name)}_${safe(i.name)}`));
    }
  }
  const nameOf = (host: string, ifname: string) => byIfname.get(`${host}/${ifname}`)?.name ?? ifname;
  const ref = (self: string, host: string, ifname: string) => (host === self ? nameOf(host, ifname) : `${host}:${nameOf(host, ifname)}`);
  /** The node a link end attaches to: its bridge when it is a port, else its host. */
  const endOf = (i: Interface): LinkEnd => ({
    host: i.host,
    name: i.name,
    ifname: i.ifname,
    addresses: i.addresses,
    bridge: i.master === null ? null : nameOf(i.host, i.master),
  });
  const endNode = (i: Interface) => (i.master !== null ? bridgeId.get(`${i.host}/${i.master}`) : undefined) ?? hostId.get(i.host)!;

  for (const h of lab.hosts) {
    const lines = [h.name + (h.netns.kind === 'lab' ? '' : ` (netns ${netnsText(h)})`)];
    for (const i of h.interfaces) {
      if (i.kind === 'bridge' || (i.kind === 'veth' && i.master !== null)) continue;
      lines.push(interfaceLine(h, i, ref));
    }
    for (const r of h.routes) lines.push(`route ${r.to}${r.via ? ` via ${r.via}` : ''}${r.dev ? ` dev ${nameOf(h.name, r.dev)}` : ''}`);
    appendAll(lines, natLines(h, nameOf));
    nodes.push({ id: hostId.get(h.name)!, kind: 'host', host: h.name, lines });
    for (const i of h.interfaces) {
      if (i.kind !== 'bridge') continue;
      const flags = [i.vlanFiltering ? 'vlan_filtering' : '', i.stp ? 'stp' : ''].filter(Boolean);
      const id = bridgeId.get(`${h.name}/${i.ifname}`)!;
      nodes.push({
        id,
        kind: 'bridge',
        host: h.name,
        ifname: i.ifname,
        lines: [`${h.name}:${i.name} (bridge${flags.length ? `, ${flags.join(', ')}` : ''})`, ...i.addresses],
      });
      // The host's own devices in the bridge (VLAN sub-interfaces, taps, ...) label the edge to
      // it; its veth ports are drawn as the links they are.
      const ports = h.interfaces
        .filter((p) => p.master === i.ifname && p.kind !== 'veth')
        .map((p) => (p.kind === 'vlan' ? `${p.name} (${deviceWord(p)})` : p.name));
      edges.push({ from: hostId.get(h.name)!, to: id, kind: 'bridge', label: ports.join(', ') });
    }
  }

  const seen = new Set<string>();
  for (const h of lab.hosts) {
    for (const i of h.interfaces) {
      if (i.kind === 'veth') {
        const key = [`${i.host}/${i.ifname}`, `${i.peer.host}/${i.peer.ifname}`].sort().join(' ');
        if (seen.has(key)) continue;
        seen.add(key);
        const peer = byIfname.get(`${i.peer.host}/${i.peer.ifname}`);
        if (!peer) continue;
        edges.push({
          from: endNode(i),
          to: endNode(peer),
          kind: 'veth',
          label: `${i.name}${portVlans(i)} — ${peer.name}${portVlans(peer)}`,
          ends: [endOf(i), endOf(peer)],
        });
      } else if ('parent' in i && i.parent.host !== h.name) {
        const parent = byIfname.get(`${i.parent.host}/${i.parent.ifname}`);
        const from = parent?.kind === 'bridge' ? bridgeId.get(`${parent.host}/${parent.ifname}`)! : hostId.get(i.parent.host)!;
        edges.push({
          from,
          to: hostId.get(h.name)!,
          kind: 'device',
          label: `${deviceWord(i)} ${i.name} on ${nameOf(i.parent.host, i.parent.ifname)}`,
          ends: [endOf(i)],
        });
      } else if (i.kind === 'vxlan') {
        for (const remote of i.remotes) {
          const other = lab.hosts.find(
            (o) => o.name !== h.name && o.interfaces.some((x) => x.addresses.some((a) => a.split('/')[0] === remote)),
          );
          if (!other || !other.interfaces.some((x) => x.kind === 'vxlan' && x.vni === i.vni)) continue;
          const key = `vxlan ${[h.name, other.name].sort().join(' ')} ${i.vni}`;
          if (seen.has(key)) continue;
          seen.add(key);
          edges.push({ from: hostId.get(h.name)!, to: hostId.get(other.name)!, kind: 'vxlan', label: `vxlan ${i.vni}` });
        }
      }
    }
  }
  return { lab: lab.name, file: lab.file, nodes, edges };
}

function netnsText(h: Host): string {
  switch (h.netns.kind) {
    case 'root':
      return 'root';
    case 'named':
      return h.netns.name;
    case 'path':
      return h.netns.path;
    case 'pid':
      return `pid ${h.netns.pid}`;
    case 'lab':
      return h.netns.name;
  }
}

function deviceWord(i: Interface): string {
  return i.kind === 'vlan' ? `vlan ${i.id}${i.protocol === '802.1ad' ? ' (802.1ad)' : ''}` : i.kind;
}

function interfaceLine(h: Host, i: Interface, ref: (self: string, host: string, ifname: string) => string): string {
  const parts = [i.name];
  if (i.kind === 'vlan' || i.kind === 'macvlan' || i.kind === 'macvtap' || i.kind === 'ipvlan')
    parts.push(`${deviceWord(i)} on ${ref(h.name, i.parent.host, i.parent.ifname)}`);
  else if (i.kind === 'vxlan')
    parts.push(`vxlan ${i.vni}${i.remotes.length ? ` to ${i.remotes.join(',')}` : ''}${i.group ? ` group ${i.group}` : ''}`);
  else if (i.kind === 'tap') parts.push('tap');
  if (i.master !== null) parts.push(`port of ${ref(h.name, h.name, i.master)}${portVlans(i)}`);
  appendAll(parts, i.addresses);
  return parts.join(' ');
}

function natLines(h: Host, nameOf: (host: string, ifname: string) => string): string[] {
  const p = h.policy;
  if (!p) return [];
  const lines: string[] = [];
  for (const s of p.snat)
    lines.push(`${s.to === null ? 'masquerade' : `snat to ${s.to}`} ${s.from}${s.out ? ` out ${nameOf(h.name, s.out)}` : ''}`);
  for (const d of p.dnat) {
    const port = d.port.from === d.port.to ? `${d.port.from}` : `${d.port.from}-${d.port.to}`;
    lines.push(`publish ${d.proto} ${port} to ${d.toAddress}:${d.toPort}`);
  }
  for (const s of p.services)
    lines.push(
      `service ${s.name} ${s.vip}:${s.port}/${s.proto}${s.nodePort === undefined ? '' : ` node port ${s.nodePort} (${s.externalTrafficPolicy ?? 'Cluster'})`} to ${s.backends.map((b) => `${b.address}:${b.port}`).join(', ')}`,
    );
  if (p.rules.length || p.defaultAction === 'deny') lines.push(`firewall: default ${p.defaultAction}, ${p.rules.length} rule(s)`);
  return lines;
}

/** Mermaid flowchart text (GitHub renders it in ```mermaid blocks). */
export function toMermaid(t: Topology): string {
  const q = (s: string) => `"${s.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;')}"`;
  const out = [`%% netlab graph of lab "${t.lab}"`, 'flowchart LR'];
  for (const n of t.nodes) {
    const label = q(n.lines.join('<br/>'));
    out.push(n.kind === 'host' ? `  ${n.id}[${fixBreaks(label)}]` : `  ${n.id}{{${fixBreaks(label)}}}`);
  }
  for (const e of t.edges) {
    if (e.kind === 'bridge') out.push(e.label ? `  ${e.from} -.-|${q(e.label)}| ${e.to}` : `  ${e.from} -.- ${e.to}`);
    else if (e.kind === 'veth') out.push(`  ${e.from} ---|${q(e.label)}| ${e.to}`);
    else out.push(`  ${e.from} -.-|${q(e.label)}| ${e.to}`);
  }
  return `${out.join('\n')}\n`;
}

/** `<br/>` survives quoting (it was escaped with the rest). */
function fixBreaks(label: string): string {
  return label.replace(/#lt;br\/#gt;/g, '<br/>');
}

/** Graphviz DOT text (`dot -Tsvg` draws it). */
export function toDot(t: Topology): string {
  const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const out = [
    `// netlab graph of lab "${t.lab}"`,
    `graph ${q(t.lab)} {`,
    '  graph [rankdir=LR, fontname="Helvetica", fontsize=10];',
    '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  for (const n of t.nodes) {
    const label = n.lines.map((l) => l.replace(/\\/g, '\\\\').replace(/"/g, '\\"')).join('\\n');
    out.push(`  ${q(n.id)} [${n.kind === 'bridge' ? 'shape=hexagon, ' : ''}label="${label}"];`);
  }
  for (const e of t.edges) {
    const attrs = [];
    if (e.label) attrs.push(`label=${q(e.label)}`);
    if (e.kind === 'bridge') attrs.push('style=dotted');
    if (e.kind === 'device' || e.kind === 'vxlan') attrs.push('style=dashed');
    out.push(`  ${q(e.from)} -- ${q(e.to)}${attrs.length ? ` [${attrs.join(', ')}]` : ''};`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
