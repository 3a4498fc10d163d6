#!/usr/bin/env node
// The cost of `netlab ui` on an idle lab: a star of N hosts (netlab gen) is applied, `netlab ui`
// serves it, and the CPU time of the server's whole process tree (utime+stime from /proc, its
// helpers included) is measured over a window with no page open, then with one page open
// (Debian's chromium driven by playwright-core), and the events the page received are counted.
// The issue asks for at most one observation a second, and only while a page is open.
//
// Everything runs inside a private sandbox (unshare --net --mount, tmpfs on /run/netns and a
// 0700 tmpfs on /run/netlab: netlab refuses a state directory others can write), like the live
// tier: the script re-executes itself inside it. Build first (npm run build).
//
//   node test/bench/ui-cpu.mjs [--hosts 500] [--seconds 60] [--json]
//
// Nothing here asserts a time; docs/performance.md quotes what it printed.
// The functions given to page.evaluate run in the page, where these are defined.
/* global window, document */
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setInterval, clearInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { enterSandbox } from './sandbox.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NETLAB = join(ROOT, 'dist/cli/netlab.js');
const SELF = fileURLToPath(import.meta.url);
const CHROMIUM = '/usr/bin/chromium';
/** sysconf(_SC_CLK_TCK) on Linux. */
const TICKS = 100;

function usage(msg) {
  console.error(`ui-cpu: ${msg}\nusage: node test/bench/ui-cpu.mjs [--hosts N] [--seconds S] [--json]`);
  process.exit(1);
}

const opts = { hosts: 500, seconds: 60, json: false };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--json') opts.json = true;
  else if (a === '--hosts' || a === '--seconds') {
    const v = Number(process.argv[++i]);
    if (!Number.isInteger(v) || v < 1) usage(`bad ${a} ${process.argv[i]}`);
    opts[a.slice(2)] = v;
  } else usage(`unknown argument ${a}`);
}

if (process.env.NETLAB_BENCH_INNER !== '1') {
  if (process.getuid?.() !== 0) usage('needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for the sandbox)');
  if (!existsSync(NETLAB)) usage(`${NETLAB} is missing: build first (npm run build)`);
  if (!existsSync(CHROMIUM)) usage(`${CHROMIUM} is missing: apt-get install chromium`);
}
enterSandbox(SELF, 'ui-cpu');

// ---- inside the sandbox ---------------------------------------------------------------------

const { execa } = await import('execa');
const { chromium } = await import('playwright-core');
const log = (s) => {
  if (!opts.json) console.log(s);
};

/** utime+stime of a process, and its reaped children's cutime+cstime, in seconds (zero once it is gone). */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { own: (Number(f[11]) + Number(f[12])) / TICKS, reaped: (Number(f[13]) + Number(f[14])) / TICKS };
  } catch {
    return { own: 0, reaped: 0 };
  }
}

function childrenOf(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** CPU seconds of a process and every live descendant (reaped ones are in their parent's c-times). */
function treeCpu(pid) {
  const { own, reaped } = cpuOf(pid);
  return childrenOf(pid).reduce((a, c) => a + treeCpu(c), own + reaped);
}

/** CPU of the server's tree over `seconds`, and how many observations the page got meanwhile. */
async function measure(what, pid, seconds, count = () => 0) {
  const [c0, s0, n0, t0] = [treeCpu(pid), cpuOf(pid).own, count(), process.hrtime.bigint()];
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const [c1, s1, n1, t1] = [treeCpu(pid), cpuOf(pid).own, count(), process.hrtime.bigint()];
  const wall = Number(t1 - t0) / 1e9;
  const cpu = c1 - c0;
  const server = s1 - s0;
  const events = n1 - n0;
  const r = {
    what,
    wallSeconds: +wall.toFixed(1),
    cpuSeconds: +cpu.toFixed(2),
    serverCpuSeconds: +server.toFixed(2),
    percent: +((100 * cpu) / wall).toFixed(1),
    events,
    eventsPerSecond: +(events / wall).toFixed(2),
  };
  log(
    `${what}: ${r.cpuSeconds} s CPU in ${r.wallSeconds} s (${r.percent}% of one core; node itself ${r.serverCpuSeconds} s, ` +
      `its helper processes the rest); the page received ${events} observations`,
  );
  return r;
}

const work = mkdtempSync(join(tmpdir(), 'netlab-ui-cpu-'));
const file = join(work, 'uicpu.yaml');
const gen = await execa(process.execPath, [NETLAB, 'gen', '--hosts', String(opts.hosts), '--name', 'uicpu', '-o', file], {
  reject: false,
  all: true,
});
if (gen.exitCode !== 0) usage(`netlab gen failed:\n${gen.all}`);
let t = Date.now();
const applied = await execa(process.execPath, [NETLAB, 'apply', '--yes', file], { reject: false, all: true, env: { NO_COLOR: '1' } });
if (applied.exitCode !== 0) {
  console.error(`ui-cpu: netlab apply failed (exit ${applied.exitCode}):\n${applied.all}`);
  process.exit(1);
}
log(`applied ${opts.hosts} hosts in ${((Date.now() - t) / 1000).toFixed(1)} s`);

const ui = execa(process.execPath, [NETLAB, 'ui', 'uicpu', '--listen', '127.0.0.1:0'], {
  reject: false,
  env: { NO_COLOR: '1' },
  stdin: 'ignore',
});
const results = { hosts: opts.hosts, seconds: opts.seconds, windows: [] };
let browser;
try {
  const url = await new Promise((resolve, reject) => {
    let seen = '';
    ui.stdout.on('data', (d) => {
      seen += d;
      const m = /^(http:\/\/\S+)\n/m.exec(seen);
      if (m) resolve(m[1]);
    });
    void ui.then((r) => reject(new Error(`netlab ui exited (${r.exitCode}): ${r.stderr}`)));
  });
  // Settle first: the server's start-up (loading the record, first graph) is not idle cost.
  await new Promise((r) => setTimeout(r, 3000));
  results.windows.push(await measure('no page open', ui.pid, opts.seconds));

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  t = Date.now();
  await page.goto(url);
  await page.waitForFunction(() => window.netlabUi && window.netlabUi.firstDrawMs !== null && window.netlabUi.events > 0, undefined, {
    timeout: 120_000,
  });
  results.firstDrawMs = await page.evaluate(() => window.netlabUi.firstDrawMs);
  results.firstEventMs = Date.now() - t;
  log(`page: first draw after ${results.firstDrawMs} ms (page clock), first observation after ${results.firstEventMs} ms`);
  let events = await page.evaluate(() => window.netlabUi.events);
  const poll = setInterval(() => {
    page
      .evaluate(() => window.netlabUi.events)
      .then((n) => (events = n))
      .catch(() => undefined);
  }, 500);
  const open = await measure('one page open', ui.pid, opts.seconds, () => events);
  clearInterval(poll);
  results.windows.push(open);
  t = Date.now();
  // A block, not an expression: evaluate would send back the element, the whole graph with it.
  await page.evaluate(
    (id) => {
      window.netlabUi.cy.getElementById(id).emit('tap');
    },
    `uicpu/h_h${Math.ceil(opts.hosts / 2)}`,
  );
  await page.waitForFunction(() => /Interfaces/.test(document.getElementById('panel').textContent));
  results.hostPanelMs = Date.now() - t;
  log(`host panel shown ${results.hostPanelMs} ms after a click`);
  await browser.close();
  browser = undefined;
  // The page is gone: the server must go back to idle.
  await new Promise((r) => setTimeout(r, 3000));
  results.windows.push(await measure('page closed again', ui.pid, Math.min(opts.seconds, 20)));
} finally {
  await browser?.close();
  ui.kill('SIGTERM');
  await ui;
  await execa(process.execPath, [NETLAB, 'destroy', '--yes', file], { reject: false });
}
if (opts.json) console.log(JSON.stringify(results));
