// `netlab ui` in a real browser (Debian's chromium driven by playwright-core), inside the sandbox:
// the docker-bridge lab is drawn whole, a `netlab link` change shows on the page, the page's
// buttons change the kernel, and nothing acts without the token or on a read-only server. With
// NETLAB_UI_SCREENSHOTS=1 it also saves a picture of every catalogue lab this kernel builds
// (docs/img/ui-<lab>.png).
import { execa, type ResultPromise } from 'execa';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { parse } from 'yaml';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLabs } from '../../src/lab/index.js';
import { netlab, NETLAB } from './cli.js';
import { sandboxSkipReason, sh } from './sandbox.js';

const LAB_FILE = 'labs/docker-bridge.yaml';
const LAB = 'docker';
/** `netlab link` to the page: one observation a second, plus the observation's own time. */
const PAGE_DEADLINE_MS = 2000;

interface Ui {
  proc: ResultPromise;
  url: string;
  base: string;
  token: string;
}

/** Starts `netlab ui ARGS...` and resolves with the URL it prints. */
async function startUi(args: string[]): Promise<Ui> {
  const proc = execa('node', [NETLAB, 'ui', ...args], { reject: false, env: { NO_COLOR: '1' }, stdin: 'ignore' });
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    proc.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /^(http:\/\/\S+)\n/m.exec(seen);
      if (m) resolve(m[1]!);
    });
    void proc.then((r) => reject(new Error(`netlab ui exited early (${r.exitCode}): ${String(r.stderr)}`)));
  });
  const u = new URL(url);
  return { proc, url, base: `${u.protocol}//${u.host}`, token: u.searchParams.get('token')! };
}

async function stopUi(ui: Ui): Promise<number | undefined> {
  ui.proc.kill('SIGTERM');
  return (await ui.proc).exitCode;
}

/** A raw HTTP request (fetch would not let the test send a foreign Host header). */
function http(
  base: string,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: o.method ?? 'GET', headers: o.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

async function linkState(ns: string, dev: string): Promise<string> {
  const r = await sh('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev]);
  const [l] = JSON.parse(r.stdout) as { flags: string[] }[];
  return l!.flags.includes('UP') ? 'up' : 'down';
}

/** JSON without the values that change by themselves: bridge timers count down, counters count. */
function steady(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(steady);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !k.endsWith('_timer') && k !== 'counter')
        .map(([k, x]) => [k, steady(x)]),
    );
  return v;
}

/** Everything the kernel holds for the lab (`ip -j`, `nft -j`, `tc -j`), to compare before and after viewing. */
async function kernelDump(): Promise<string> {
  const all = JSON.parse((await sh('ip', ['-j', 'netns', 'list'])).stdout || '[]') as { name: string }[];
  const parts: unknown[] = [];
  for (const { name } of all.filter((n) => n.name.startsWith(`${LAB}-`)).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    for (const args of [['-d', 'link'], ['addr'], ['route'], ['-6', 'route'], ['rule']])
      parts.push(JSON.parse((await sh('ip', ['-n', name, '-j', ...args, 'show'])).stdout || '[]'));
    parts.push(JSON.parse((await sh('ip', ['netns', 'exec', name, 'nft', '-j', 'list', 'ruleset'])).stdout || '{}'));
    parts.push(JSON.parse((await sh('ip', ['netns', 'exec', name, 'tc', '-j', 'qdisc', 'show'])).stdout || '[]'));
  }
  return JSON.stringify(steady(parts), null, 1);
}

/** The page's cytoscape model: what is drawn. */
function drawn(page: Page) {
  return page.evaluate(() => {
    const ui = (window as unknown as { netlabUi: { cy: { nodes(): unknown[]; edges(): unknown[] } } }).netlabUi;
    type El = { data(k: string): string; position(): { x: number; y: number }; hasClass(c: string): boolean };
    return {
      nodes: (ui.cy.nodes() as El[]).map((n) => ({
        kind: n.data('kind'),
        host: n.data('host'),
        label: n.data('label'),
        pos: n.position(),
      })),
      edges: (ui.cy.edges() as El[]).map((e) => ({
        id: e.data('id'),
        kind: e.data('kind'),
        label: e.data('label'),
        down: e.hasClass('down'),
      })),
    };
  });
}

async function openPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  await page.goto(url);
  await page.waitForFunction(() => {
    const ui = (window as unknown as { netlabUi?: { graphs: number; events: number } }).netlabUi;
    return ui !== undefined && ui.graphs > 0 && ui.events > 0;
  });
  expect(violations, 'the page runs under its Content-Security-Policy').toEqual([]);
  return page;
}

/** The id of the edge whose first end is HOST:IF. */
async function edgeOf(page: Page, endpoint: string): Promise<string> {
  return page.evaluate((ep) => {
    const ui = (window as unknown as { netlabUi: { graph: { edges: { id: string; ends: { host: string; name: string }[] }[] } } }).netlabUi;
    return ui.graph.edges.find((e) => e.ends[0] && `${e.ends[0].host}:${e.ends[0].name}` === ep)!.id;
  }, endpoint);
}

function edgeDown(page: Page, id: string, down: boolean) {
  return page.waitForFunction(
    ([edge, want]) => {
      const ui = (window as unknown as { netlabUi: { cy: { getElementById(i: string): { hasClass(c: string): boolean } } } }).netlabUi;
      return ui.cy.getElementById(edge as string).hasClass('down') === want;
    },
    [id, down] as const,
    { timeout: PAGE_DEADLINE_MS },
  );
}

async function selectEdge(page: Page, id: string): Promise<void> {
  await page.evaluate((edge) => {
    const ui = (window as unknown as { netlabUi: { cy: { getElementById(i: string): { emit(e: string): void } } } }).netlabUi;
    ui.cy.getElementById(edge).emit('tap');
  }, id);
}

describe.skipIf(sandboxSkipReason !== null)('netlab ui in a real browser', () => {
  let browser: Browser;
  let ui: Ui;
  const lab = parse(readFileSync(LAB_FILE, 'utf8')) as { hosts: Record<string, unknown>; links: { a: string; b: string }[] };

  beforeAll(async () => {
    const r = await netlab(['apply', '--yes', LAB_FILE]);
    expect(r.code, r.all).toBe(0);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    ui = await startUi([LAB, '--listen', '127.0.0.1:0']);
  });
  afterAll(async () => {
    await browser?.close();
    if (ui) await stopUi(ui);
    await netlab(['destroy', '--yes', '--lab', LAB]);
  });

  it('draws every host and every link of the lab, and the same picture twice', async () => {
    const before = await kernelDump();
    const page = await openPage(browser, ui.url);
    const d = await drawn(page);
    expect(
      d.nodes
        .filter((n) => n.kind === 'host')
        .map((n) => n.host)
        .sort(),
    ).toEqual(Object.keys(lab.hosts).sort());
    expect(d.nodes.filter((n) => n.kind === 'bridge').map((n) => n.label)).toEqual(['host:docker0']);
    // Each link of the file is one veth edge, labelled with both interfaces' names and addresses.
    const veths = d.edges.filter((e) => e.kind === 'veth');
    expect(veths).toHaveLength(lab.links.length);
    expect(veths.map((e) => e.label).sort()).toEqual([
      expect.stringMatching(/^eth0 172\.17\.0\.2\/16 — veth[0-9a-f]+ \(docker0\)$/),
      expect.stringMatching(/^eth0 172\.17\.0\.3\/16 — veth[0-9a-f]+ \(docker0\)$/),
      'uplink 203.0.113.1/24 — eth0 203.0.113.254/24',
    ]);
    expect(d.edges.filter((e) => e.down)).toEqual([]);
    const again = await openPage(browser, ui.url);
    expect((await drawn(again)).nodes.map((n) => n.pos)).toEqual(d.nodes.map((n) => n.pos));
    // Viewing (several observations with two pages open) changed nothing in the kernel.
    await page.waitForFunction(() => (window as unknown as { netlabUi: { events: number } }).netlabUi.events >= 3);
    expect(await kernelDump()).toBe(before);
    await again.close();
    await page.close();
  });

  it('shows a `netlab link` down and up within two seconds', async () => {
    const page = await openPage(browser, ui.url);
    const edge = await edgeOf(page, 'web:eth0');
    expect((await netlab(['link', LAB, 'web:eth0', 'down'])).code).toBe(0);
    await edgeDown(page, edge, true);
    expect((await netlab(['link', LAB, 'web:eth0', 'up'])).code).toBe(0);
    await edgeDown(page, edge, false);
    await page.close();
  });

  it("changes the kernel with the page's down and up buttons", async () => {
    const page = await openPage(browser, ui.url);
    const edge = await edgeOf(page, 'db:eth0');
    await selectEdge(page, edge);
    await page.click('#link-down');
    await page.waitForFunction(() => document.getElementById('action-result')?.className === 'ok');
    expect(await linkState('docker-db', 'eth0')).toBe('down');
    await edgeDown(page, edge, true);
    await page.click('#link-up');
    await page.waitForFunction(() => /set up/.test(document.getElementById('action-result')?.textContent ?? ''));
    expect(await linkState('docker-db', 'eth0')).toBe('up');
    await page.close();
  });

  it('refuses actions without the token, and requests naming another host', async () => {
    // The page without its token: it draws (reads are open on loopback) but cannot act.
    const page = await openPage(browser, ui.base + '/');
    await selectEdge(page, await edgeOf(page, 'web:eth0'));
    await page.click('#link-down');
    await page.waitForFunction(() => document.getElementById('action-result')?.className === 'bad');
    expect(await page.textContent('#action-result')).toMatch(/needs the access token/);
    expect(await linkState('docker-web', 'eth0')).toBe('up');
    await page.close();
    const body = JSON.stringify({ lab: LAB, host: 'web', interface: 'eth0', state: 'down' });
    const wrong = await http(ui.base, '/api/link', { method: 'POST', headers: { 'x-netlab-token': 'x'.repeat(ui.token.length) }, body });
    expect(wrong.status).toBe(403);
    const rebinding = await http(ui.base, '/api/graph', { headers: { host: `evil.example:${new URL(ui.base).port}` } });
    expect(rebinding.status).toBe(421);
    const foreign = await http(ui.base, '/api/link', {
      method: 'POST',
      headers: { 'x-netlab-token': ui.token, origin: 'http://evil.example' },
      body,
    });
    expect(foreign.status).toBe(403);
    const huge = await http(ui.base, '/api/link', { method: 'POST', headers: { 'x-netlab-token': ui.token }, body: 'x'.repeat(10_000) });
    expect(huge.status).toBe(413);
    const badName = await http(ui.base, '/api/link', {
      method: 'POST',
      headers: { 'x-netlab-token': ui.token },
      body: JSON.stringify({ lab: LAB, host: '../etc', interface: 'eth0', state: 'down' }),
    });
    expect(badName.status).toBe(400);
    expect(await linkState('docker-web', 'eth0')).toBe('up');
  });

  it("shows the published port's DNAT counter rise on the host panel", async () => {
    const page = await openPage(browser, ui.url);
    await page.evaluate(() => {
      const ui = (window as unknown as { netlabUi: { cy: { getElementById(i: string): { emit(e: string): void } } } }).netlabUi;
      ui.cy.getElementById('docker/h_host').emit('tap');
    });
    const dnatPackets = () =>
      page.evaluate(() => {
        const rows = [...document.querySelectorAll('#nft-live tr')].map((r) =>
          [...r.querySelectorAll('td')].map((c) => c.textContent ?? ''),
        );
        const row = rows.find((r) => r[0] === 'nl_prerouting' && /tcp dport 8080 dnat ip to 172\.17\.0\.2:80$/.test(r[1] ?? ''));
        return row ? Number(row[2]) : null;
      });
    await page.waitForFunction(() => document.querySelectorAll('#nft-live td').length > 0);
    const before = await dnatPackets();
    expect(before, 'the DNAT rule of the published port is listed with its counter').not.toBeNull();
    // One new connection from outside: nat chains count its first packet only. Its answer does not
    // matter here (an earlier test took web's link down, and with it web's default route).
    const connect = "require('net').connect(8080, '203.0.113.1').on('error', () => process.exit(0))";
    const client = execa('ip', ['netns', 'exec', 'docker-internet', 'node', '-e', connect], { reject: false });
    await page.waitForFunction(
      (n) => {
        const rows = [...document.querySelectorAll('#nft-live tr')].map((r) =>
          [...r.querySelectorAll('td')].map((c) => c.textContent ?? ''),
        );
        const row = rows.find((r) => r[0] === 'nl_prerouting' && /tcp dport 8080 dnat/.test(r[1] ?? ''));
        return row !== undefined && Number(row[2]) > n;
      },
      before!,
      { timeout: 5000 },
    );
    client.kill('SIGTERM');
    await client;
    await page.close();
  });

  it('streams a capture into the page', async () => {
    const page = await openPage(browser, ui.url);
    await selectEdge(page, await edgeOf(page, 'web:eth0'));
    await page.fill('#capture-count', '4');
    await page.click('#capture-start');
    await page.waitForFunction(() => /listening on/.test(document.getElementById('capture-out')?.textContent ?? ''), undefined, {
      timeout: 15_000,
    });
    await sh('ip', ['netns', 'exec', 'docker-web', 'ping', '-c', '4', '-i', '0.2', '172.17.0.3']);
    await page.waitForFunction(() => /4 packets captured/.test(document.getElementById('capture-out')?.textContent ?? ''), undefined, {
      timeout: 15_000,
    });
    expect(await page.textContent('#capture-out')).toMatch(/ICMP echo/);
    await page.close();
  });

  it('survives pages that go away, and a page reconnects to a restarted server', async () => {
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const req = request(`${ui.base}/api/events`, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => resolve());
        req.end();
      });
    }
    expect((await http(ui.base, '/api/graph')).status).toBe(200);
    const page = await openPage(browser, ui.base + '/');
    const port = new URL(ui.base).port;
    expect(await stopUi(ui)).toBe(0);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'reconnecting…');
    const seen = await page.evaluate(() => (window as unknown as { netlabUi: { events: number } }).netlabUi.events);
    ui = await startUi([LAB, '--listen', `127.0.0.1:${port}`]);
    await page.waitForFunction((n) => (window as unknown as { netlabUi: { events: number } }).netlabUi.events > n, seen, {
      timeout: 10_000,
    });
    await page.close();
  });

  it('reconnects a page whose event stream is cut, and the server goes on', async () => {
    const page = await openPage(browser, ui.url);
    const seen = await page.evaluate(() => (window as unknown as { netlabUi: { events: number } }).netlabUi.events);
    // As a network drop does: the kernel resets every connection of the server's port.
    await sh('ss', ['-K', 'sport', '=', `:${new URL(ui.base).port}`], { reject: false });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'reconnecting…');
    await page.waitForFunction(
      (n) =>
        (window as unknown as { netlabUi: { events: number } }).netlabUi.events > n &&
        document.getElementById('status')?.textContent !== 'reconnecting…',
      seen,
      { timeout: 10_000 },
    );
    expect(ui.proc.exitCode).toBeNull();
    expect((await http(ui.base, '/api/graph')).status).toBe(200);
    await page.close();
  });

  it('observes at most once a second while a link flaps thousands of times a second', async () => {
    const page = await openPage(browser, ui.url);
    const edge = await edgeOf(page, 'db:eth0');
    const states: number[] = [];
    const events = request(`${ui.base}/api/events`, (res) => {
      res.setEncoding('utf8');
      res.on('data', (t: string) => {
        for (const m of t.matchAll(/^event: state\ndata: (.*)$/gm)) states.push((JSON.parse(m[1]!) as { seq: number }).seq);
      });
    });
    events.on('error', () => undefined);
    events.end();
    await page.waitForFunction(() => (window as unknown as { netlabUi: { events: number } }).netlabUi.events > 1);
    const FLAPS = 20_000;
    const batch = Array.from({ length: FLAPS }, (_, i) => `link set dev eth0 ${i % 2 ? 'up' : 'down'}`).join('\n') + '\n';
    const before = states.length;
    const t0 = Date.now();
    const flapping = sh('ip', ['-n', 'docker-db', '-batch', '-'], { input: batch });
    // The server keeps answering while the kernel churns.
    expect((await http(ui.base, '/api/graph')).status).toBe(200);
    await flapping;
    const seconds = (Date.now() - t0) / 1000;
    const during = states.length - before;
    console.log(`${FLAPS} link changes in ${seconds.toFixed(1)} s (${Math.round(FLAPS / seconds)}/s): ${during} observations pushed`);
    // One observation a second, plus the one that may have been running when the flapping began.
    expect(during).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    expect(await linkState('docker-db', 'eth0')).toBe('up');
    await edgeDown(page, edge, false);
    events.destroy();
    await page.close();
  });

  it('refuses every action on a read-only server, and a port in use', async () => {
    const ro = await startUi([LAB, '--listen', '127.0.0.1:0', '--read-only']);
    try {
      const r = await http(ro.base, '/api/link', {
        method: 'POST',
        headers: { 'x-netlab-token': ro.token },
        body: JSON.stringify({ lab: LAB, host: 'web', interface: 'eth0', state: 'down' }),
      });
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body).error).toMatch(/read-only/);
      expect(await linkState('docker-web', 'eth0')).toBe('up');
      const busy = await netlab(['ui', LAB, '--listen', `127.0.0.1:${new URL(ro.base).port}`]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(/the port is in use/);
      const missing = await netlab(['ui', 'nosuchlab']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/lab "nosuchlab" is not applied/);
      const badName = await netlab(['ui', '../etc']);
      expect(badName.code).toBe(1);
      expect(badName.stderr).toMatch(/"\.\.\/etc" is not a lab name/);
      const badListen = await netlab(['ui', LAB, '--listen', 'example.com:80']);
      expect(badListen.code).toBe(1);
      expect(badListen.stderr).toMatch(/is not ADDRESS:PORT/);
    } finally {
      await stopUi(ro);
    }
  });
});

/** The catalogue labs the live kernel builds: those test/live/catalogue.test.ts applies here. */
const NOT_HERE = new Set(['vlan-trunk', 'macvlan-ipvlan', 'container-attach']);
const catalogue = readdirSync('labs')
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.slice(0, -'.yaml'.length))
  .filter((name) => !NOT_HERE.has(name))
  .sort();

describe.skipIf(sandboxSkipReason !== null || process.env.NETLAB_UI_SCREENSHOTS !== '1')('netlab ui screenshots', () => {
  for (const name of catalogue) {
    it(`docs/img/ui-${name}.png`, async () => {
      const file = `labs/${name}.yaml`;
      const applied = await netlab(['apply', '--yes', file]);
      expect(applied.code, applied.all).toBe(0);
      const { labs } = await loadLabs([file]);
      const labName = labs[0]!.name;
      const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
      const ui = await startUi([labName, '--listen', '127.0.0.1:0']);
      try {
        const page = await openPage(browser, ui.url);
        const hosts = (await drawn(page)).nodes.filter((n) => n.kind === 'host').map((n) => n.host);
        expect(hosts.sort()).toEqual(labs[0]!.hosts.map((h) => h.name).sort());
        await page.screenshot({ path: `docs/img/ui-${name}.png` });
      } finally {
        await browser.close();
        await stopUi(ui);
        await netlab(['destroy', '--yes', file]);
      }
    });
  }
});
