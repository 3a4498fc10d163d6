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

const STYLE = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'font-size': 11,
      'text-valign': 'center',
      'text-halign': 'center',
      'min-zoomed-font-size': 7,
      'border-width': 1,
      'border-color': '#7a8599',
    },
  },
  {
    selector: 'node[kind = "host"]',
    style: { shape: 'round-rectangle', width: 'label', height: 24, padding: 8, 'background-color': '#dbe7ff' },
  },
  {
    selector: 'node[kind = "bridge"]',
    style: { shape: 'hexagon', width: 'label', height: 30, padding: 10, 'background-color': '#ffe7b3' },
  },
  {
    selector: 'node[kind = "group"]',
    style: { shape: 'round-rectangle', 'background-color': '#eef1f6', 'text-valign': 'top', 'font-size': 13, 'border-style': 'dashed' },
  },
  { selector: 'node.drift', style: { 'border-color': '#d08700', 'border-width': 3 } },
  { selector: 'node.dead', style: { 'border-color': '#b3261e', 'border-width': 3, 'border-style': 'dashed' } },
  {
    selector: 'edge',
    style: {
      width: 'data(width)',
      'line-color': '#5b6b85',
      'curve-style': 'bezier',
      label: 'data(label)',
      'font-size': 9,
      'text-rotation': 'autorotate',
      'text-background-color': '#f7f8fa',
      'text-background-opacity': 0.85,
      'min-zoomed-font-size': 7,
    },
  },
  { selector: 'edge[kind = "bridge"], edge[kind = "device"], edge[kind = "vxlan"]', style: { 'line-style': 'dotted' } },
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

function elements(g) {
  const nodes = g.nodes.map((n) => ({
    group: 'nodes',
    data: { id: n.id, label: n.label, kind: n.kind, lab: n.lab, host: n.host, ...(n.parent ? { parent: n.parent } : {}) },
    position: { x: n.x, y: n.y },
  }));
  const edges = g.edges.map((e) => ({
    group: 'edges',
    data: { id: e.id, source: e.source, target: e.target, label: e.label, base: e.label, kind: e.kind, lab: e.lab, width: 2 },
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
    layout: large
      ? { name: 'preset', fit: true, padding: 30 }
      : // randomize false starts from the server's positions: the same lab gives the same picture.
        {
          name: 'cose',
          randomize: false,
          animate: false,
          fit: true,
          padding: 30,
          idealEdgeLength: 110,
          nodeRepulsion: 9000,
          numIter: 1500,
        },
    textureOnViewport: large,
    hideEdgesOnViewport: large,
    wheelSensitivity: 0.3,
  });
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
    }
    for (const n of ui.graph.nodes) {
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
    span.textContent = `${l.lab}: ${l.error ? 'error' : l.inSync ? 'in sync' : `drifted (${l.drift.length})`} `;
    span.className = l.inSync ? '' : 'drifted';
    span.title = l.error || l.drift.join('\n');
  }
  document.getElementById('status').textContent = `live · ${new Date(s.at).toLocaleTimeString()}`;
  if (ui.selected && ui.selected.kind === 'edge') renderEdgeLive(ui.selected.id);
  if (ui.selected && ui.selected.kind === 'node' && ui.nodeById.has(ui.selected.id)) renderNftLive(ui.nodeById.get(ui.selected.id));
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
