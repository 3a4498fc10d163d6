// `netlab ui` on the coordinator of a lab across three machines (test/live/machines-harness.ts:
// each machine a namespace with a real sshd), in Debian's chromium: every host drawn in its
// machine's cluster, a link set down in a remote machine's kernel (or by `netlab link` on the
// coordinator) seen on the page within two seconds, the page's buttons and capture acting on the
// machine of the link, and a machine whose sshd stops drawn as out of reach while the others stay
// live. One boot of the machines for the whole file. With NETLAB_UI_SCREENSHOTS=1 it saves
// docs/img/ui-machines.png.
import { execa, type ResultPromise } from 'execa';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFile, netlab, NETLAB } from './cli.js';
import { startMachines, type Harness, type TestMachine } from './machines-harness.js';
import { spanLab } from '../fixtures/span-lab.js';
import { sandboxSkipReason } from './sandbox.js';

const LAB = 'uim';
/** A change in a machine's kernel to the page: one observation a second, plus the observation's own time. */
const PAGE_DEADLINE_MS = 2000;
/** A machine whose connection is cut: ssh notices at once (the session ends); the page within a tick. */
const REACH_DEADLINE_MS = 15_000;

type Cy = {
  nodes(s?: string): El[];
  edges(s?: string): El[];
  getElementById(id: string): El;
};
type El = {
  id(): string;
  data(k: string): string;
  hasClass(c: string): boolean;
  parent(): El[] & { length: number };
  ancestors(s?: string): El[];
  emit(e: string): void;
};
type UiWindow = {
  netlabUi?: { cy: Cy; graphs: number; events: number; graph: { edges: { id: string; ends: { host: string; name: string }[] }[] } };
};

/** Starts `netlab ui` with the machines' ssh config and resolves with the URL it prints. */
async function startUi(env: Record<string, string>): Promise<{ proc: ResultPromise; url: string }> {
  const proc = execa('node', [NETLAB, 'ui', LAB, '--listen', '127.0.0.1:0'], {
    reject: false,
    env: { NO_COLOR: '1', ...env },
    stdin: 'ignore',
  });
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    proc.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /^(http:\/\/\S+)\n/m.exec(seen);
      if (m) resolve(m[1]!);
    });
    void proc.then((r) => reject(new Error(`netlab ui exited early (${r.exitCode}): ${String(r.stderr)}`)));
  });
  return { proc, url };
}

async function openPage(browser: Browser, url: string, deviceScaleFactor = 1): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, deviceScaleFactor });
  await page.goto(url);
  // Every machine answered once (its tunnels' MTU is in the labels then).
  await page.waitForFunction(() => {
    const ui = (window as unknown as UiWindow).netlabUi;
    return ui !== undefined && ui.graphs > 0 && ui.events > 0 && ui.cy.edges('[kind = "vxlan"]').every((e) => /mtu/.test(e.data('label')));
  });
  return page;
}

/** The id of the edge whose first end is HOST:IF. */
function edgeOf(page: Page, endpoint: string): Promise<string> {
  return page.evaluate((ep) => {
    const ui = (window as unknown as UiWindow).netlabUi!;
    return ui.graph.edges.find((e) => e.ends[0] && `${e.ends[0].host}:${e.ends[0].name}` === ep)!.id;
  }, endpoint);
}

function edgeDown(page: Page, id: string, down: boolean) {
  return page.waitForFunction(
    ([edge, want]) => (window as unknown as UiWindow).netlabUi!.cy.getElementById(edge as string).hasClass('down') === want,
    [id, down] as const,
    { timeout: PAGE_DEADLINE_MS },
  );
}

function machineReachable(page: Page, machine: string, reachable: boolean) {
  return page.waitForFunction(
    ([m, want]) => {
      const c = (window as unknown as UiWindow).netlabUi!.cy.nodes(`[kind = "machine"][machine = "${m as string}"]`)[0];
      return c !== undefined && c.hasClass('unreachable') === !want;
    },
    [machine, reachable] as const,
    { timeout: REACH_DEADLINE_MS },
  );
}

async function linkUp(h: Harness, m: TestMachine, ns: string, dev: string): Promise<boolean> {
  const r = await h.enter(m, 'ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev]);
  const [l] = JSON.parse(r.stdout) as { flags: string[] }[];
  return l!.flags.includes('UP');
}

/**
 * Cuts a machine off as a crash would: its sshd stops listening and its sessions end. The sessions
 * are the sshd processes inside that machine's network namespace, which only this test made.
 */
async function cutOff(h: Harness, m: TestMachine): Promise<void> {
  // The listener first, so that no new session starts; its sessions hold its stderr open, so the
  // harness's wait for it to end can only end once they are gone too.
  process.kill(m.sshd!, 'SIGTERM');
  const netns = readlinkSync(`/proc/${m.holder}/ns/net`);
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (Number(pid) === m.sshd || readlinkSync(`/proc/${pid}/ns/net`) !== netns) continue;
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'sshd') continue;
      process.kill(Number(pid), 'SIGTERM');
    } catch {
      // Ended meanwhile.
    }
  }
  await h.stopSshd(m);
}

describe.skipIf(sandboxSkipReason !== null)('netlab ui of a lab across machines', () => {
  let h: Harness;
  let browser: Browser;
  let ui: { proc: ResultPromise; url: string };
  let m2: TestMachine, m3: TestMachine;

  beforeAll(async () => {
    h = await startMachines(3);
    [, m2, m3] = h.machines as [TestMachine, TestMachine, TestMachine];
    const r = await netlab(['apply', '--yes', labFile(LAB, spanLab(h.machinesYaml(), { name: LAB }))], { env: h.env });
    expect(r.code, r.all).toBe(0);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    ui = await startUi(h.env);
  });
  afterAll(async () => {
    try {
      await browser?.close();
      if (ui) {
        ui.proc.kill('SIGTERM');
        await ui.proc;
      }
      if (h) {
        if (h.machines[2]!.sshd === null) await h.startSshd(h.machines[2]!);
        await netlab(['destroy', '--yes', '--lab', LAB], { env: h.env });
      }
    } finally {
      await h?.stop();
    }
  });

  it("draws every host inside its machine's cluster and the tunnels between them", async () => {
    const page = await openPage(browser, ui.url, process.env.NETLAB_UI_SCREENSHOTS === '1' ? 2 : 1);
    const placed = await page.evaluate(() => {
      const { cy } = (window as unknown as UiWindow).netlabUi!;
      return Object.fromEntries(
        cy.nodes('[kind = "host"]').map((n) => [n.data('host'), n.ancestors('[kind = "machine"]').map((c) => c.data('machine'))]),
      );
    });
    expect(placed).toEqual({ sw: ['m1'], a1: ['m1'], a2: ['m2'], a3: ['m3'], r2: ['m2'], r3: ['m3'] });
    const tunnels = await page.evaluate(() =>
      (window as unknown as UiWindow).netlabUi!.cy.edges('[kind = "vxlan"]').map((e) => e.data('label')),
    );
    // The bridge segment between every two of the three machines, the routed link between m2 and m3.
    expect(tunnels).toHaveLength(4);
    for (const t of tunnels) expect(t).toMatch(/^vxlan \d+ · mtu 1450$/);
    if (process.env.NETLAB_UI_SCREENSHOTS === '1') await page.screenshot({ path: 'docs/img/ui-machines.png' });
    await page.close();
  });

  it("shows a link set down in a remote machine's kernel within two seconds", async () => {
    const page = await openPage(browser, ui.url);
    const edge = await edgeOf(page, 'a2:eth0');
    await h.enter(m2, 'ip', ['-n', `${LAB}-a2`, 'link', 'set', 'dev', 'eth0', 'down']);
    await edgeDown(page, edge, true);
    await h.enter(m2, 'ip', ['-n', `${LAB}-a2`, 'link', 'set', 'dev', 'eth0', 'up']);
    await edgeDown(page, edge, false);
    await page.close();
  });

  it('shows a `netlab link` on the coordinator, made on the machine of the host', async () => {
    const page = await openPage(browser, ui.url);
    const edge = await edgeOf(page, 'a3:eth0');
    const down = await netlab(['link', LAB, 'a3:eth0', 'down'], { env: h.env });
    expect(down.code, down.all).toBe(0);
    expect(down.stdout).toBe(`${LAB}: a3:eth0 on m3 (root@198.18.0.3): set down`);
    expect(await linkUp(h, m3, `${LAB}-a3`, 'eth0')).toBe(false);
    await edgeDown(page, edge, true);
    const up = await netlab(['link', LAB, 'a3:eth0', 'up'], { env: h.env });
    expect(up.code, up.all).toBe(0);
    expect(await linkUp(h, m3, `${LAB}-a3`, 'eth0')).toBe(true);
    await edgeDown(page, edge, false);
    // A host no machine holds: said so, nothing changed.
    const none = await netlab(['link', LAB, 'zz:eth0', 'down'], { env: h.env });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/host "zz" is not on any machine of lab "uim"/);
    await page.close();
  });

  it("acts on the machine of the link with the page's down and up buttons", async () => {
    const page = await openPage(browser, ui.url);
    const edge = await edgeOf(page, 'r3:eth1');
    await page.evaluate((id) => (window as unknown as UiWindow).netlabUi!.cy.getElementById(id).emit('tap'), edge);
    await page.click('#link-down');
    await page.waitForFunction(() => document.getElementById('action-result')?.className === 'ok');
    expect(await page.textContent('#action-result')).toBe('r3:eth1: set down');
    expect(await linkUp(h, m3, `${LAB}-r3`, 'eth1')).toBe(false);
    await edgeDown(page, edge, true);
    await page.click('#link-up');
    await page.waitForFunction(() => /set up/.test(document.getElementById('action-result')?.textContent ?? ''));
    expect(await linkUp(h, m3, `${LAB}-r3`, 'eth1')).toBe(true);
    await edgeDown(page, edge, false);
    await page.close();
  });

  it('streams a capture on a host of another machine into the page', async () => {
    const page = await openPage(browser, ui.url);
    const edge = await edgeOf(page, 'r3:eth1');
    await page.evaluate((id) => (window as unknown as UiWindow).netlabUi!.cy.getElementById(id).emit('tap'), edge);
    // A first ping, so that the neighbours are known and the capture's two packets are the ping's.
    await h.enter(m2, 'ip', ['netns', 'exec', `${LAB}-r2`, 'ping', '-c', '1', '-W', '2', '10.9.0.2']);
    await page.fill('#capture-count', '2');
    await page.click('#capture-start');
    await page.waitForFunction(() => /listening on/.test(document.getElementById('capture-out')?.textContent ?? ''));
    // r2 on m2 pings r3 on m3: the echo request and the reply on r3's eth1.
    await h.enter(m2, 'ip', ['netns', 'exec', `${LAB}-r2`, 'ping', '-c', '1', '-W', '2', '10.9.0.2']);
    await page.waitForFunction(() => /2 packets captured/.test(document.getElementById('capture-out')?.textContent ?? ''));
    const out = (await page.textContent('#capture-out')) ?? '';
    expect(out).toMatch(/10\.9\.0\.1 > 10\.9\.0\.2: ICMP echo request/);
    expect(out).toMatch(/10\.9\.0\.2 > 10\.9\.0\.1: ICMP echo reply/);
    expect(out.match(/listening on/g)).toHaveLength(1);
    await page.close();
  });

  it("starts a machine's responder again over the connection it has, when the responder ended", async () => {
    const page = await openPage(browser, ui.url);
    const netns = readlinkSync(`/proc/${m2.holder}/ns/net`);
    const procs = (pred: (cmdline: string[], pid: number) => boolean) =>
      readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .flatMap((p) => {
          try {
            return pred(readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0'), Number(p)) ? [Number(p)] : [];
          } catch {
            return [];
          }
        });
    const [watcher] = procs((c, pid) => c.includes('watch') && c.includes('machine') && readlinkSync(`/proc/${pid}/ns/net`) === netns);
    expect(watcher).toBeDefined();
    const masters = () => procs((c) => c[0] === 'ssh' && c.includes('-N') && c.includes(m2.address));
    const before = masters();
    process.kill(watcher!, 'SIGTERM');
    await machineReachable(page, 'm2', false);
    await machineReachable(page, 'm2', true);
    // No second connection to m2 left in the background: the responder came back over the first.
    expect(masters().filter((p) => !before.includes(p))).toEqual([]);
    await page.close();
  });

  it('shows a machine whose sshd stopped as out of reach, the others live', async () => {
    const page = await openPage(browser, ui.url);
    await cutOff(h, m3);
    await machineReachable(page, 'm3', false);
    const label = await page.evaluate(() =>
      (window as unknown as UiWindow).netlabUi!.cy.nodes('[kind = "machine"][machine = "m3"]')[0]!.data('label'),
    );
    expect(label).toMatch(/^m3 \(root@198\.18\.0\.3\) — out of reach: .*(refused|closed|ended|connect)/i);
    expect(await page.textContent('#labs')).toMatch(/m3 out of reach/);
    // m1 and m2 are still observed: a link set down on m2 shows as before.
    for (const m of ['m1', 'm2']) await machineReachable(page, m, true);
    const edge = await edgeOf(page, 'a2:eth0');
    await h.enter(m2, 'ip', ['-n', `${LAB}-a2`, 'link', 'set', 'dev', 'eth0', 'down']);
    await edgeDown(page, edge, true);
    await h.enter(m2, 'ip', ['-n', `${LAB}-a2`, 'link', 'set', 'dev', 'eth0', 'up']);
    await edgeDown(page, edge, false);
    // Back in reach once its sshd runs again.
    await h.startSshd(m3);
    await machineReachable(page, 'm3', true);
    await page.close();
  });
});
