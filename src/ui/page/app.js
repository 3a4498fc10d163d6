// The netlab ui page: draws the graph the server computed (cytoscape), applies each live-state
// event to it, and shows a host's or a link's details in the side panel. Everything shown from the
// server goes in as text (textContent), never as markup.
/* global document, window, fetch, EventSource, URLSearchParams, cytoscape */
'use strict';

const token = new URLSearchParams(window.location.search).get('token');
const withToken = (path) => (token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path);
/** Graphs larger than this are drawn where the server placed them, without a force layout. */
const FORCE_LAYOUT_MAX = 80;

const ui = { cy: null, graph: null, state: null, events: 0, graphs: 0, selected: null, readOnly: false, capture: null, firstDrawMs: null };
window.netlabUi = ui;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  return e;
}

function table(header, rows) {
  return el(
    'table',
    {},
    el('tr', {}, ...header.map((h) => el('th', {}, h))),
    ...rows.map((r) => el('tr', {}, ...r.map((c) => (c instanceof window.Node ? el('td', {}, c) : el('td', {}, c))))),
  );
}

const rate = (bps) =>
  bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} MB/s` : bps >= 1e3 ? `${(bps / 1e3).toFixed(1)} kB/s` : `${Math.round(bps)} B/s`;
const pps = (n) => `${n >= 100 ? Math.round(n) : n.toFixed(1)} pkt/s`;
const statusClass = (s) => (s === 'ok' || s === 'running' ? 'ok' : s === 'drift' || s === 'extra' ? 'warn' : 'bad');

/** The fonts of node and edge labels (cytoscape's default family), for measuring them. */
const NODE_FONT = 12;
const EDGE_FONT = 10;
const FONT_FAMILY = 'Helvetica Neue, Helvetica, sans-serif';
/** The largest zoom a fit may choose: a small lab is drawn at a readable size, not blown up. */
const MAX_FIT_ZOOM = 1.6;
const FIT_PADDING = 40;

const measurer = document.createElement('canvas').getContext('2d');
/** Width in pixels of the longest line of a label at a font size (at zoom 1). */
function textWidth(text, size) {
  measurer.font = `${size}px ${FONT_FAMILY}`;
  return Math.max(
    0,
    ...String(text || '')
      .split('\n')
      .map((line) => measurer.measureText(line).width),
  );
}

const STYLE = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'font-size': NODE_FONT,
      'font-family': FONT_FAMILY,
      'text-valign': 'center',
      'text-halign': 'center',
      'min-zoomed-font-size': 7,
      'border-width': 1,
      'border-color': '#7a8599',
    },
  },
  {
    selector: 'node[kind = "host"]',
    style: { shape: 'round-rectangle', width: 'data(width)', height: 24, padding: 8, 'background-color': '#dbe7ff' },
  },
  {
    selector: 'node[kind = "bridge"]',
    style: { shape: 'hexagon', width: 'data(width)', height: 30, padding: 10, 'background-color': '#ffe7b3' },
  },
  // A large bridge's hosts, in a grid inside their group: small enough for hundreds to fit.
  { selector: 'node[kind = "host"]:child', style: { height: 18, padding: 3 } },
  {
    selector: 'node[kind = "group"]',
    style: { shape: 'round-rectangle', 'background-color': '#eef1f6', 'text-valign': 'top', 'font-size': 13, 'border-style': 'dashed' },
  },
  // A lab across machines: each machine a cluster; a cross-machine segment's tunnel on each.
  {
    selector: 'node[kind = "machine"]',
    style: {
      shape: 'round-rectangle',
      'background-color': '#f0f4fa',
      'text-valign': 'top',
      'text-halign': 'center',
      'font-size': 14,
      'font-weight': 'bold',
      'border-style': 'dashed',
      'border-width': 2,
      padding: 24,
    },
  },
  {
    selector: 'node[kind = "tunnel"]',
    style: { shape: 'diamond', width: 'data(width)', height: 34, padding: 8, 'background-color': '#d7f0e3' },
  },
  { selector: 'node[kind = "machine"].unreachable', style: { 'background-color': '#d5d7db', color: '#6b6f76', 'border-color': '#9a9ea6' } },
  { selector: 'node.unreachable[kind != "machine"], edge.unreachable', style: { opacity: 0.4 } },
  { selector: 'node.drift', style: { 'border-color': '#d08700', 'border-width': 3 } },
  { selector: 'node.dead', style: { 'border-color': '#b3261e', 'border-width': 3, 'border-style': 'dashed' } },
  {
    selector: 'edge',
    style: {
      width: 'data(width)',
      'line-color': '#5b6b85',
      'curve-style': 'bezier',
      // Each end's interface and addresses sit along the edge next to its own node, clear of the
      // node's border; the middle says what the link is doing (down, conditions, traffic).
      label: 'data(mid)',
      'source-label': 'data(sourceLabel)',
      'target-label': 'data(targetLabel)',
      'source-text-offset': 'data(sourceOffset)',
      'target-text-offset': 'data(targetOffset)',
      'text-wrap': 'wrap',
      'font-size': EDGE_FONT,
      'font-family': FONT_FAMILY,
      'text-rotation': 'autorotate',
      'source-text-rotation': 'autorotate',
      'target-text-rotation': 'autorotate',
      'text-background-color': '#f7f8fa',
      'text-background-opacity': 0.85,
      'text-background-padding': 1,
      'min-zoomed-font-size': 7,
    },
  },
  { selector: 'edge[kind = "bridge"], edge[kind = "device"], edge[kind = "vxlan"]', style: { 'line-style': 'dotted' } },
  { selector: 'edge[kind = "vxlan"]', style: { 'line-color': '#2e8b57', 'line-style': 'dashed', width: 3 } },
  { selector: 'edge.busy', style: { 'line-color': '#1967d2' } },
  { selector: 'edge.conditioned', style: { 'line-color': '#8e44ad' } },
  { selector: 'edge.down', style: { 'line-color': '#b3261e', 'line-style': 'dashed' } },
  { selector: ':selected', style: { 'overlay-color': '#1967d2', 'overlay-opacity': 0.15 } },
];

async function getJson(path) {
  const r = await fetch(withToken(path), { headers: token ? { 'x-netlab-token': token } : {} });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

async function post(path, body) {
  const r = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { 'x-netlab-token': token } : {}) },
    body: JSON.stringify(body),
  });
  const answer = await r.json();
  if (!r.ok) throw new Error(answer.error || `HTTP ${r.status}`);
  return answer;
}

/** A veth is named at its ends; other edges (a bridge's devices, a tunnel, an aggregate) in the middle. */
function midLabel(e, extra) {
  const base = e.kind === 'veth' ? [] : [e.label].filter(Boolean);
  return [...base, ...(extra.length ? [`[${extra.join(', ')}]`] : [])].join(' ');
}

/** Long enough for both end labels and the middle one side by side. */
function edgeLength(edge) {
  const d = edge.data();
  return Math.max(60, 2 * (d.sourceOffset + d.targetOffset) + textWidth(d.mid, EDGE_FONT));
}

/**
 * A small spring layout: each edge pushes or pulls its ends towards its own length (room for its
 * labels), every two nodes repel, a weak pull keeps the parts together. It starts from the
 * positions given, so it is deterministic. (cytoscape's cose only ever pulls edges shorter, which
 * piles the labels of short edges onto the nodes.)
 */
function springLayout(cy, iterations = 500, scope = cy.nodes()) {
  const nodes = scope.filter((n) => !n.isParent());
  const index = new Map(nodes.map((n, i) => [n.id(), i]));
  const p = nodes.map((n) => ({ ...n.position() }));
  const radius = nodes.map((n) => Math.hypot(n.outerWidth(), n.outerHeight()) / 2);
  // One spring per pair of nodes, as long as the longest of their edges (a veth beside a tunnel).
  const pairs = new Map();
  for (const e of cy.edges()) {
    const [a, b] = [index.get(e.source().id()), index.get(e.target().id())].sort((x, y) => x - y);
    if (a === undefined || b === undefined || a === b) continue;
    pairs.set(`${a} ${b}`, [a, b, Math.max(pairs.get(`${a} ${b}`)?.[2] ?? 0, edgeLength(e))]);
  }
  const springs = [...pairs.values()];
  const REPULSION = 40 * 40;
  let step = 60;
  for (let it = 0; it < iterations; it++) {
    const f = p.map(() => ({ x: 0, y: 0 }));
    const push = (a, b, k) => {
      const dx = p[b].x - p[a].x || 0.01 * (b - a);
      const dy = p[b].y - p[a].y;
      const d = Math.hypot(dx, dy);
      f[a].x -= (k * dx) / d;
      f[a].y -= (k * dy) / d;
      f[b].x += (k * dx) / d;
      f[b].y += (k * dy) / d;
    };
    for (let a = 0; a < p.length; a++)
      for (let b = a + 1; b < p.length; b++) {
        const gap = Math.max(5, Math.hypot(p[b].x - p[a].x, p[b].y - p[a].y) - radius[a] - radius[b]);
        push(a, b, REPULSION / gap);
      }
    for (const [a, b, length] of springs) {
      const gap = Math.hypot(p[b].x - p[a].x, p[b].y - p[a].y) - radius[a] - radius[b];
      push(a, b, 0.5 * (length - gap));
    }
    const cx = p.reduce((s, q) => s + q.x, 0) / p.length;
    const cy_ = p.reduce((s, q) => s + q.y, 0) / p.length;
    p.forEach((q, i) => {
      const fx = f[i].x + 0.02 * (cx - q.x);
      const fy = f[i].y + 0.02 * (cy_ - q.y);
      const m = Math.hypot(fx, fy);
      if (m > 0) {
        q.x += (fx / m) * Math.min(m, step);
        q.y += (fy / m) * Math.min(m, step);
      }
    });
    step = Math.max(0.5, step * 0.99);
  }
  cy.batch(() => nodes.forEach((n, i) => n.position(p[i])));
}

/**
 * A lab across machines: each machine's part laid out on its own by the springs, from the places
 * the server gave it (deterministic), then the machines set around a circle wide enough that no
 * two clusters overlap, so the tunnels between them run between clusters, not across one.
 */
function layoutMachines(cy, clusters) {
  const parts = clusters.map((c) => {
    const leaves = c.descendants().filter((n) => !n.isParent());
    if (leaves.length) springLayout(cy, 500, leaves);
    const box = c.boundingBox();
    return { leaves, box, size: Math.hypot(box.w, box.h) / 2 };
  });
  const n = parts.length;
  const largest = Math.max(...parts.map((p) => p.size));
  const radius = n < 2 ? 0 : (2 * largest + 80) / (2 * Math.sin(Math.PI / n));
  parts.forEach((p, i) => {
    // The first machine on the left, the others clockwise.
    const angle = Math.PI + (2 * Math.PI * i) / n;
    const [cx, cy_] = [(p.box.x1 + p.box.x2) / 2, (p.box.y1 + p.box.y2) / 2];
    // Turned so that its tunnels face the middle, where the other machines' tunnels are.
    const tunnels = p.leaves.filter((leaf) => leaf.data('kind') === 'tunnel');
    let turn = 0;
    if (n > 1 && tunnels.length) {
      const tx = tunnels.reduce((a, t) => a + t.position('x'), 0) / tunnels.length - cx;
      const ty = tunnels.reduce((a, t) => a + t.position('y'), 0) / tunnels.length - cy_;
      if (Math.hypot(tx, ty) > 1) turn = angle + Math.PI - Math.atan2(ty, tx);
    }
    const [cos, sin] = [Math.cos(turn), Math.sin(turn)];
    p.leaves.forEach((leaf) => {
      const [x, y] = [leaf.position('x') - cx, leaf.position('y') - cy_];
      leaf.position({ x: radius * Math.cos(angle) + x * cos - y * sin, y: radius * Math.sin(angle) + x * sin + y * cos });
    });
  });
}

/** Everything in view, labels included, but never zoomed in past a readable size. */
function fitAll(cy) {
  cy.fit(undefined, FIT_PADDING);
  if (cy.zoom() > MAX_FIT_ZOOM) {
    cy.zoom(MAX_FIT_ZOOM);
    cy.center();
  }
}

function elements(g) {
  const nodes = g.nodes.map((n) => ({
    group: 'nodes',
    data: {
      id: n.id,
      label: n.label,
      kind: n.kind,
      lab: n.lab,
      host: n.host,
      width: Math.ceil(textWidth(n.label, NODE_FONT)) + 8,
      ...(n.parent ? { parent: n.parent } : {}),
      ...(n.machine ? { machine: n.machine } : {}),
    },
    position: { x: n.x, y: n.y },
  }));
  // An end label's middle sits half its width (plus a gap) from the node's border.
  const offset = (text) => (text ? Math.ceil(textWidth(text, EDGE_FONT) / 2) + 10 : 0);
  const edges = g.edges.map((e) => ({
    group: 'edges',
    data: {
      id: e.id,
      source: e.source,
      target: e.target,
      label: e.label,
      mid: midLabel(e, []),
      sourceLabel: e.sourceLabel,
      targetLabel: e.targetLabel,
      sourceOffset: offset(e.sourceLabel),
      targetOffset: offset(e.targetLabel),
      kind: e.kind,
      lab: e.lab,
      width: 2,
    },
  }));
  return [...nodes, ...edges];
}

async function loadGraph() {
  const g = await getJson('/api/graph');
  ui.graph = g;
  ui.readOnly = g.readOnly;
  ui.edgeById = new Map(g.edges.map((e) => [e.id, e]));
  ui.nodeById = new Map(g.nodes.map((n) => [n.id, n]));
  const labs = document.getElementById('labs');
  labs.replaceChildren(...g.labs.map((l) => el('span', { 'data-lab': l.name, title: l.error || l.file || '' }, `${l.name} `)));
  if (ui.cy) ui.cy.destroy();
  const large = g.nodes.length > FORCE_LAYOUT_MAX || g.nodes.some((n) => n.kind === 'group');
  ui.cy = cytoscape({
    container: document.getElementById('graph'),
    elements: elements(g),
    style: STYLE,
    layout: { name: 'preset', fit: false },
    textureOnViewport: large,
    hideEdgesOnViewport: large,
    wheelSensitivity: 0.3,
  });
  // A large lab stays where the server placed it; a small one is laid out by force, starting from
  // those places (randomize false), so the same lab gives the same picture.
  const clusters = ui.cy.nodes('[kind = "machine"]');
  if (!large && clusters.length) layoutMachines(ui.cy, clusters);
  else if (!large) {
    // A radial tree from the best connected node first (deterministic, and a good start for a
    // lab that is mostly stars of hosts around bridges), then springs to give each edge its length.
    const root = ui.cy
      .nodes()
      .sort((a, b) => b.degree() - a.degree() || (a.id() < b.id() ? -1 : 1))
      .first();
    ui.cy.layout({ name: 'breadthfirst', circle: true, roots: root, spacingFactor: 1.5, animate: false, fit: false }).run();
    springLayout(ui.cy);
  }
  // Fitted once the layout is done and the labels have their sizes.
  fitAll(ui.cy);
  // Time from opening the page to the first drawn graph (docs/performance.md reports it).
  ui.cy.one('render', () => (ui.firstDrawMs ??= Math.round(window.performance.now())));
  ui.cy.on('tap', 'node', (ev) => showNode(ev.target.id()));
  ui.cy.on('tap', 'edge', (ev) => showEdge(ev.target.id()));
  ui.graphs++;
  if (ui.state) applyState(ui.state);
}

function liveOf(lab) {
  return ui.state ? ui.state.labs.find((l) => l.lab === lab) : undefined;
}

function endLive(lab, end) {
  const l = liveOf(lab);
  return l ? l.links[`${end.ns}/${end.ifname}`] : undefined;
}

function applyState(s) {
  ui.state = s;
  const cy = ui.cy;
  if (!cy) return;
  cy.batch(() => {
    for (const e of ui.graph.edges) {
      const ce = cy.getElementById(e.id);
      const lives = e.ends.map((x) => endLive(e.lab, x)).filter(Boolean);
      if (!lives.length) continue;
      const down = lives.filter((x) => !x.up || !x.running).length;
      // Traffic seen from the first end of each link: what it sent and received.
      const first = e.kind === 'aggregate' ? lives : [lives[0]];
      const bps = first.reduce((a, x) => a + x.rxBps + x.txBps, 0);
      const cond = lives.map((x) => x.conditions).find(Boolean);
      ce.data('width', Math.min(14, 2 + Math.log10(1 + bps) * 1.5));
      ce.toggleClass('down', e.kind === 'aggregate' ? down === lives.length : down > 0);
      ce.toggleClass('busy', bps > 1000);
      ce.toggleClass('conditioned', Boolean(cond));
      const extra = [down ? (e.kind === 'aggregate' ? `${down} down` : 'DOWN') : '', cond || '', bps > 0 ? rate(bps) : ''].filter(Boolean);
      ce.data('label', extra.length ? `${e.label} [${extra.join(', ')}]` : e.label);
      ce.data('mid', midLabel(e, extra));
    }
    for (const n of ui.graph.nodes) {
      if (n.kind === 'machine') {
        applyMachine(n, liveOf(n.lab));
        continue;
      }
      if (n.kind !== 'host') continue;
      const h = liveOf(n.lab)?.hosts[n.host];
      const cn = cy.getElementById(n.id);
      cn.toggleClass('drift', Boolean(h && h.drift));
      cn.toggleClass('dead', Boolean(h && h.processes.some((p) => p.state !== 'running' && p.mode === 'run')));
    }
  });
  for (const l of s.labs) {
    const span = document.querySelector(`#labs [data-lab="${l.lab}"]`);
    if (!span) continue;
    const away = Object.entries(l.machines || {}).filter(([, m]) => !m.reachable);
    const reach = away.length ? `, ${away.map(([name]) => name).join(', ')} out of reach` : '';
    span.textContent = `${l.lab}: ${l.error ? 'error' : l.inSync ? 'in sync' : `drifted (${l.drift.length})`}${reach} `;
    span.className = l.inSync ? '' : 'drifted';
    span.title = l.error || l.drift.join('\n');
  }
  document.getElementById('status').textContent = `live · ${new Date(s.at).toLocaleTimeString()}`;
  if (ui.selected && ui.selected.kind === 'edge') renderEdgeLive(ui.selected.id);
  if (ui.selected && ui.selected.kind === 'node' && ui.nodeById.has(ui.selected.id)) renderNftLive(ui.nodeById.get(ui.selected.id));
}

/** A machine out of reach: its cluster greyed with the reason, what is inside it faded; the rest stays live. */
function applyMachine(n, live) {
  const m = live && live.machines ? live.machines[n.machine] : undefined;
  const away = Boolean(m && !m.reachable);
  const c = ui.cy.getElementById(n.id);
  c.toggleClass('unreachable', away);
  c.descendants().toggleClass('unreachable', away);
  c.descendants().connectedEdges().toggleClass('unreachable', away);
  c.data('label', away ? `${n.label} — out of reach: ${m.reason}` : n.label);
}

function panel(...children) {
  document.getElementById('panel').replaceChildren(...children);
}

async function showNode(id) {
  stopCapture();
  const n = ui.nodeById.get(id);
  if (!n) return;
  ui.selected = { kind: 'node', id };
  const head = [el('h2', {}, `${n.lab}: ${n.label}`), el('pre', {}, n.lines.join('\n'))];
  if (n.kind !== 'host') return panel(...head);
  panel(...head, el('p', { class: 'hint' }, 'loading…'));
  try {
    const d = await getJson(`/api/host?lab=${encodeURIComponent(n.lab)}&host=${encodeURIComponent(n.host)}`);
    if (!ui.selected || ui.selected.id !== id) return;
    const live = liveOf(n.lab);
    const mark = (r) =>
      el('span', { class: statusClass(r.status) }, r.status === 'drift' ? `drift (${r.differences.join('; ')})` : r.status);
    const parts = [
      ...head,
      el('p', { class: 'hint' }, `netns ${d.ns || '(root)'}`),
      el('h3', {}, 'Interfaces'),
      table(
        ['name', 'type', 'state', 'mtu', ''],
        d.interfaces.map((i) => [i.name, i.type, i.up ? 'up' : 'down', i.mtu, mark(i)]),
      ),
      el('h3', {}, 'Addresses'),
      table(
        ['address', 'interface', ''],
        d.addresses.map((a) => [a.address, a.interface, mark(a)]),
      ),
      el('h3', {}, 'Routes'),
      table(
        ['to', 'via', 'dev', ''],
        d.routes.map((r) => [r.to, r.via || '-', r.dev || '-', mark(r)]),
      ),
    ];
    if (d.processes.length) {
      parts.push(
        el('h3', {}, 'Processes'),
        table(
          ['name', 'mode', 'state'],
          d.processes.map((p) => [p.name, p.mode, el('span', { class: statusClass(p.state) }, p.state)]),
        ),
      );
      for (const p of d.processes) parts.push(el('h3', {}, `Log: ${p.name}`), el('pre', {}, d.logs[p.name] || '(empty)'));
    }
    const counters = live ? live.nft.filter((c) => c.host === n.host) : [];
    if (d.nft.length || counters.length) {
      parts.push(el('h3', {}, 'Firewall / NAT rules'));
      parts.push(
        table(
          ['chain', 'rule', ''],
          d.nft.map((r) => [r.chain, r.rule, mark(r)]),
        ),
      );
      parts.push(el('h3', {}, 'Rule counters (live)'), el('div', { id: 'nft-live' }));
    }
    panel(...parts);
    renderNftLive(n);
  } catch (e) {
    panel(...head, el('p', { class: 'bad' }, e.message));
  }
}

/** Which DNAT, service and filter rule took how many packets: refreshed with every observation. */
function renderNftLive(n) {
  const box = document.getElementById('nft-live');
  if (!box) return;
  const live = liveOf(n.lab);
  const counters = live ? live.nft.filter((c) => c.host === n.host) : [];
  if (!counters.length) return box.replaceChildren(el('p', { class: 'hint' }, 'no rule counters in this table'));
  box.replaceChildren(
    table(
      ['chain', 'rule', 'packets', 'bytes'],
      counters.map((c) => [c.chain, c.rule, el('span', { class: c.packets > 0 ? 'ok' : 'hint' }, c.packets), c.bytes]),
    ),
  );
}

function showEdge(id) {
  stopCapture();
  const e = ui.edgeById.get(id);
  if (!e) return;
  ui.selected = { kind: 'edge', id };
  const end = e.ends[0];
  const parts = [el('h2', {}, `${e.lab}: ${e.kind === 'aggregate' ? e.label : e.label}`), el('div', { id: 'edge-live' })];
  if (end && e.kind !== 'aggregate') {
    const act = async (body, what) => {
      const msg = document.getElementById('action-result');
      msg.textContent = `${what}…`;
      msg.className = 'hint';
      try {
        const r = await post('/api/link', { lab: e.lab, host: end.host, interface: end.name, ...body });
        msg.textContent = `${end.host}:${end.name}: ${r.said.join('; ') || 'nothing to change'}`;
        msg.className = 'ok';
      } catch (err) {
        msg.textContent = err.message;
        msg.className = 'bad';
      }
    };
    const input = (id, placeholder) => el('input', { id, placeholder });
    const disabled = ui.readOnly ? { disabled: 'disabled', title: 'read-only server' } : {};
    parts.push(
      el('h3', {}, `Act on ${end.host}:${end.name}`),
      el('button', { id: 'link-down', ...disabled, onclick: () => act({ state: 'down' }, 'setting down') }, 'down'),
      el('button', { id: 'link-up', ...disabled, onclick: () => act({ state: 'up' }, 'setting up') }, 'up'),
      el('div', {}, input('cond-delay', 'delay 100ms'), input('cond-loss', 'loss 5%'), input('cond-rate', 'rate 5mbit')),
      el(
        'button',
        {
          id: 'link-conditions',
          ...disabled,
          onclick: () => {
            const conditions = {};
            for (const k of ['delay', 'loss', 'rate']) {
              const v = document.getElementById(`cond-${k}`).value.trim();
              if (v) conditions[k] = v;
            }
            act({ conditions }, 'changing conditions');
          },
        },
        'set conditions',
      ),
      el('button', { id: 'link-clear', ...disabled, onclick: () => act({ clear: true }, 'clearing conditions') }, 'clear conditions'),
      el('p', { id: 'action-result', class: 'hint' }, ui.readOnly ? 'read-only server: actions are refused' : ''),
      el('h3', {}, 'Capture'),
      el('input', { id: 'capture-count', value: '10' }),
      el('button', { id: 'capture-start', ...disabled, onclick: () => startCapture(e.lab, end) }, 'capture'),
      el('pre', { id: 'capture-out' }),
    );
  }
  panel(...parts);
  renderEdgeLive(id);
}

function renderEdgeLive(id) {
  const box = document.getElementById('edge-live');
  const e = ui.edgeById.get(id);
  if (!box || !e) return;
  const rows = e.ends.slice(0, 50).map((x) => {
    const l = endLive(e.lab, x);
    if (!l) return [`${x.host}:${x.name}`, '?', '', '', '', ''];
    return [
      `${x.host}:${x.name}`,
      el('span', { class: l.up && l.running ? 'ok' : 'bad' }, l.up ? (l.running ? 'up' : 'no carrier') : 'down'),
      `rx ${pps(l.rxPps)} ${rate(l.rxBps)}`,
      `tx ${pps(l.txPps)} ${rate(l.txBps)}`,
      `${l.dropped} dropped`,
      l.conditions || 'no conditions',
    ];
  });
  box.replaceChildren(table(['interface', 'state', 'received', 'sent', '', 'conditions'], rows));
}

function stopCapture() {
  if (ui.capture) ui.capture.close();
  ui.capture = null;
}

function startCapture(lab, end) {
  stopCapture();
  const out = document.getElementById('capture-out');
  const count = document.getElementById('capture-count').value.trim() || '10';
  out.textContent = '';
  const q = `/api/capture?lab=${encodeURIComponent(lab)}&host=${encodeURIComponent(end.host)}&interface=${encodeURIComponent(end.name)}&count=${encodeURIComponent(count)}`;
  const es = new EventSource(withToken(q));
  ui.capture = es;
  const line = (t) => out.append(document.createTextNode(`${t}\n`));
  es.addEventListener('listening', () => line(`listening on ${end.host}:${end.name}…`));
  es.addEventListener('packet', (m) => line(JSON.parse(m.data)));
  es.addEventListener('end', (m) => {
    line(`-- ${JSON.parse(m.data).summary}`);
    stopCapture();
  });
  es.addEventListener('failed', (m) => line(`failed: ${JSON.parse(m.data)}`));
  es.onerror = () => {
    // A refused capture (no token, read-only) answers with an error status, not a stream.
    if (ui.capture === es) {
      line('capture refused or ended');
      stopCapture();
    }
  };
}

function connect() {
  const es = new EventSource(withToken('/api/events'));
  es.addEventListener('state', (m) => {
    ui.events++;
    applyState(JSON.parse(m.data));
  });
  es.addEventListener('graph', () => void loadGraph());
  // EventSource reconnects by itself; the page says so meanwhile.
  es.onerror = () => {
    document.getElementById('status').textContent = 'reconnecting…';
  };
  es.onopen = () => {
    document.getElementById('status').textContent = 'live';
  };
  ui.events$ = es;
}

loadGraph().then(connect, (e) => {
  document.getElementById('status').textContent = e.message;
});
