#!/usr/bin/env node
// npm run bench: netlab at scale against the one-process-per-operation approach, measured in
// the same run on the same machine.
//
// For each size N, a star lab (netlab gen: N hosts, each with a veth to one hub bridge, an address
// and a default route) is applied from nothing, re-applied with no change, changed in one host
// (its address) and destroyed, each with the CLI as users run it (wall time includes starting
// node). Beside it, a baseline builds, reads back, changes and tears down the same topology with
// one `ip` process per operation (netns add, link add, addr add, route add, ...; one `ip -batch`
// read per namespace; the changed address deleted and added; per-veth deletion for teardown).
// Then the nft case: 500 DNAT rules and a 100-backend service on the hub. The one-host change
// is measured three ways: as a fresh CLI run (the edited file parsed and checked whole), saved
// while `netlab watch` runs (the median time to applied and verified), and `netlab apply` while
// `netlab serve` runs (the median wall time of the CLI run, once the server has warmed up over
// three runs).
//
// Everything runs inside a private sandbox (unshare --net --mount, tmpfs on /run/netns and
// /run/netlab), like the live test tier: the script re-executes itself inside it.
//
//   node test/bench/run.mjs [--sizes 10,100,500,1000] [--repeat K] [--quick] [--json] [--no-build] [--no-baseline] [--no-docs]
//   node test/bench/run.mjs --machines M [--repeat K] [--json] [--no-build]
//
// --machines M: a 500 x M-host star across M machines (namespaces running sshd) against the
// 500-host star on one machine; see test/bench/machines.mjs.
//
// The results table also goes into docs/performance.md, between its bench markers (--no-docs: not).
//
// With --repeat K each size is measured K times and every figure is the fastest of the K runs
// (the least disturbed by other load on the machine).
//
// Ratios compare with the baseline measured in the same run; nothing here asserts a time.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { replaceBetweenMarkers } from './docs-table.mjs';
import { enterSandbox, timed } from './sandbox.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NETLAB = join(ROOT, 'dist/cli/netlab.js');
const SELF = fileURLToPath(import.meta.url);
const PERFORMANCE_PAGE = join(ROOT, 'docs/performance.md');

function parseArgs(argv) {
  const o = { json: false, quick: false, build: true, baseline: true, docs: true, sizes: null, repeat: 1, machines: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') o.json = true;
    else if (a === '--quick') o.quick = true;
    else if (a === '--no-build') o.build = false;
    else if (a === '--no-baseline') o.baseline = false;
    else if (a === '--no-docs') o.docs = false;
    else if (a === '--sizes' || a.startsWith('--sizes=')) {
      const v = a.includes('=') ? a.slice('--sizes='.length) : argv[++i];
      o.sizes = String(v ?? '')
        .split(',')
        .filter(Boolean)
        .map(Number);
      if (!o.sizes.length || o.sizes.some((n) => !Number.isInteger(n) || n < 1)) usage(`bad --sizes ${v}`);
    } else if (a === '--repeat' || a.startsWith('--repeat=')) {
      const v = a.includes('=') ? a.slice('--repeat='.length) : argv[++i];
      o.repeat = Number(v);
      if (!Number.isInteger(o.repeat) || o.repeat < 1) usage(`bad --repeat ${v}`);
    } else if (a === '--machines' || a.startsWith('--machines=')) {
      const v = a.includes('=') ? a.slice('--machines='.length) : argv[++i];
      o.machines = Number(v);
      if (!Number.isInteger(o.machines) || o.machines < 2 || o.machines > 9) usage(`bad --machines ${v} (2..9)`);
    } else if (a === '--help' || a === '-h') usage();
    else usage(`unknown option ${a}`);
  }
  o.sizes ??= o.quick ? [10, 100] : [10, 100, 500, 1000];
  return o;
}

function usage(message) {
  if (message) process.stderr.write(`bench: ${message}\n`);
  process.stderr.write(
    'usage: node test/bench/run.mjs [--sizes 10,100,500,1000] [--repeat K] [--quick] [--json] [--no-build] [--no-baseline] [--no-docs]\n' +
      '       node test/bench/run.mjs --machines M [--repeat K] [--json] [--no-build]\n',
  );
  process.exit(message ? 2 : 0);
}

const opts = parseArgs(process.argv.slice(2));
const log = (text) => process.stderr.write(`${text}\n`);

// ---- outside the sandbox: build, then re-execute inside it ----------------------------------

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

if (process.env.NETLAB_BENCH_INNER !== '1') {
  if (process.getuid?.() !== 0) usage('needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for the sandbox)');
  for (const cmd of ['unshare', 'ip', 'nft', 'perl', ...(opts.machines ? ['ssh', 'ssh-keygen', '/usr/sbin/sshd'] : [])])
    if (!which(cmd)) usage(`${cmd} is not installed${opts.machines ? ' (apt-get install openssh-server openssh-client)' : ''}`);
  if (opts.build) {
    log('bench: building (npm run build: tsc, then the precompiled schema validator) ...');
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const b =
      tsc.status === 0 ? spawnSync(process.execPath, [join(ROOT, 'dist/lab/schema-compile.js')], { cwd: ROOT, encoding: 'utf8' }) : tsc;
    if (b.status !== 0) {
      log(`${b.stdout}${b.stderr}\nbench: the build failed; fix it, or run with --no-build to measure the existing dist/`);
      process.exit(1);
    }
  }
  if (!existsSync(NETLAB)) usage(`${NETLAB} is missing: build first (npm run build)`);
}
enterSandbox(SELF, 'bench');

// ---- inside the sandbox ---------------------------------------------------------------------

const { starLabYaml, starAddress } = await import(pathToFileURL(join(ROOT, 'dist/cli/gen.js')).href);
const work = mkdtempSync(join(tmpdir(), 'netlab-bench-'));

/** One netlab command with NETLAB_PROFILE: wall time and the process's own profile (stages, processes, peak RSS). */
async function netlab(args, env = {}) {
  const r = await timed(process.execPath, [NETLAB, ...args], { env: { NETLAB_PROFILE: '1', ...env } });
  if (r.code !== 0) throw new Error(`netlab ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  const line = r.stderr.split('\n').find((l) => l.startsWith('NETLAB_PROFILE '));
  const profile = line ? JSON.parse(line.slice('NETLAB_PROFILE '.length)) : null;
  return { ms: r.ms, profile, stdout: r.stdout };
}

async function sh(script, what) {
  const r = await timed('sh', ['-e'], { input: script });
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.slice(0, 2000)}`);
  return r.ms;
}

/** The same star, one `ip` process per operation (the way a shell script builds it). */
function baselineBuild(n) {
  const off = 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1';
  const lines = [
    'ip netns add bl-hub',
    `ip netns exec bl-hub ${off}`,
    'ip -n bl-hub link set lo up',
    'ip -n bl-hub link add name br0 type bridge',
    'ip -n bl-hub addr add 10.10.0.1/16 dev br0',
    'ip -n bl-hub link set br0 up',
  ];
  for (let i = 1; i <= n; i++)
    lines.push(
      `ip netns add bl-h${i}`,
      `ip netns exec bl-h${i} ${off}`,
      `ip -n bl-h${i} link set lo up`,
      `ip -n bl-hub link add name p${i} type veth peer name eth0 netns bl-h${i}`,
      `ip -n bl-hub link set p${i} master br0 up`,
      `ip -n bl-h${i} link set eth0 up`,
      `ip -n bl-h${i} addr add ${starAddress(i)}/16 dev eth0`,
      `ip -n bl-h${i} route add default via 10.10.0.1`,
    );
  return `${lines.join('\n')}\n`;
}

/** Reading the state back as a script would: one `ip -d -j -batch` per namespace (links, addresses, routes). */
function baselineRead(n) {
  const read = (ns) => `printf 'link show\\naddr show\\nroute show table all\\n' | ip -n ${ns} -d -j -batch - > /dev/null`;
  return `${['bl-hub', ...Array.from({ length: n }, (_, i) => `bl-h${i + 1}`)].map(read).join('\n')}\n`;
}

/** The one-host change by hand: the old address out, the new one in. */
function baselineChange(n) {
  const k = Math.ceil(n / 2);
  return `ip -n bl-h${k} addr del ${starAddress(k)}/16 dev eth0\nip -n bl-h${k} addr add ${starAddress(n + 1)}/16 dev eth0\n`;
}

/** Teardown one process per operation: each veth, then each namespace. */
function baselineTeardown(n) {
  const lines = [];
  for (let i = 1; i <= n; i++) lines.push(`ip -n bl-hub link del p${i}`);
  for (let i = 1; i <= n; i++) lines.push(`ip netns del bl-h${i}`);
  lines.push('ip netns del bl-hub');
  return `${lines.join('\n')}\n`;
}

function netnsCount() {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(' /run/netns/')).length;
  } catch {
    return -1;
  }
}

/** Namespaces named by the object ids of plan steps (`kind:ns/...`, `netns:NAME`). */
function namespacesOf(steps) {
  const out = new Set();
  for (const s of steps)
    for (const id of s.objects) {
      const rest = id.slice(id.indexOf(':') + 1);
      out.add(id.startsWith('netns:') ? rest : rest.split('/')[0]);
    }
  return [...out].sort();
}

/** Empties netlab's cache of checked labs (src/lab/cache.ts) in the sandbox's state directory. */
function forgetCheckedLabs() {
  rmSync('/run/netlab/.lab-cache', { recursive: true, force: true });
}

/**
 * The one-host change as `netlab watch` makes it, in a process already running: from the file
 * saved (written aside and renamed over, as editors do) to the change applied and verified (the
 * watch's `applied` event). One latency per edit, in ms.
 */
async function watchLatencies(file, edits) {
  const child = spawn(process.execPath, [NETLAB, 'watch', '--json', '--debounce', '1ms', '--interval', '1h', file], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const pending = [];
  const events = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line);
    events.push(event);
    for (const w of pending.splice(0)) if (!w(event)) pending.push(w);
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  const next = (kinds) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bench: watch gave no ${kinds.join('/')} event: ${stderr}`)), 60_000);
      pending.push((e) => kinds.includes(e.event) && (clearTimeout(timer), resolve(e), true));
    });
  try {
    await next(['in-sync', 'applied']);
    const out = [];
    for (const text of edits) {
      writeFileSync(`${file}.tmp`, text);
      const t0 = Date.now();
      renameSync(`${file}.tmp`, file);
      const e = await next(['applied', 'failed', 'invalid']);
      if (e.event !== 'applied') throw new Error(`bench: watch ${e.event}: ${e.result}`);
      out.push(Date.parse(e.time) - t0);
    }
    return out;
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/**
 * The one-host change as `netlab apply` makes it while `netlab serve` runs: the CLI hands the
 * command to the warm server. Wall time of each CLI run, in ms.
 */
async function serveLatencies(file, edits) {
  const server = spawn(process.execPath, [NETLAB, 'serve'], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const exited = new Promise((resolve) => server.on('close', resolve));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench: netlab serve did not start: ${log}`)), 30_000);
    server.stderr.on('data', (d) => {
      log += d;
      if (log.includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  try {
    const out = [];
    for (const text of edits) {
      writeFileSync(file, text);
      const r = await timed(process.execPath, [NETLAB, 'apply', '--yes', file]);
      if (r.code !== 0) throw new Error(`bench: apply through netlab serve exited ${r.code}: ${r.stderr}`);
      out.push(r.ms);
    }
    if ((log.match(/apply --yes .*: exit 0 in/g) ?? []).length !== edits.length)
      throw new Error(`bench: the server did not run every change: ${log}`);
    return out;
  } finally {
    server.kill('SIGTERM');
    await exited;
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const peak = (...ps) => Math.max(...ps.map((p) => p?.profile?.maxRssKb ?? 0));

async function measureSize(n) {
  const name = `b${n}`;
  const file = join(work, `${name}.yaml`);
  const text = starLabYaml({ name, hosts: n });
  writeFileSync(file, text);
  log(`bench: N=${n}: apply`);
  // Apply is measured with a cold spec cache (a new file is checked in full); re-apply and
  // destroy find the checked lab there, as users' runs of an unchanged file do.
  forgetCheckedLabs();
  const apply = await netlab(['apply', '--yes', file]);
  log(`bench: N=${n}: re-apply (no change)`);
  const reapply = await netlab(['apply', '--yes', file]);
  // One host's address changes: only that host's namespace may be touched.
  const k = Math.ceil(n / 2);
  const before = `  h${k}:\n    interfaces: { eth0: { addresses: [${starAddress(k)}/16] } }`;
  if (!text.includes(before)) throw new Error(`bench: cannot find host h${k} in the generated lab`);
  const changed = (address) => text.replace(before, `  h${k}:\n    interfaces: { eth0: { addresses: [${address}/16] } }`);
  // A fresh CLI run: the edited file is checked whole.
  writeFileSync(file, changed(starAddress(n + 1)));
  log(`bench: N=${n}: one-host change`);
  const change = await netlab(['apply', '--yes', '--json', file]);
  const steps = JSON.parse(change.stdout).labs[0].steps;
  log(`bench: N=${n}: one-host change through a running netlab watch`);
  const watched = await watchLatencies(
    file,
    [3, 4, 5, 6, 7].map((i) => changed(starAddress(n + i))),
  );
  log(`bench: N=${n}: one-host change through netlab serve`);
  const servedMs = await serveLatencies(
    file,
    [8, 9, 10, 11, 12, 13, 14, 15].map((i) => changed(starAddress(n + i))),
  );
  log(`bench: N=${n}: destroy`);
  const destroy = await netlab(['destroy', '--yes', file]);
  if (netnsCount() !== 0) throw new Error(`bench: ${netnsCount()} namespaces left after destroy`);
  let baseline = null;
  if (opts.baseline) {
    log(`bench: N=${n}: baseline (one ip process per operation)`);
    const build = await sh(baselineBuild(n), 'baseline build');
    const read = await sh(baselineRead(n), 'baseline read');
    const change = await sh(baselineChange(n), 'baseline change');
    const teardown = await sh(baselineTeardown(n), 'baseline teardown');
    if (netnsCount() !== 0) throw new Error('bench: baseline left namespaces behind');
    baseline = { buildMs: build, readMs: read, changeMs: change, teardownMs: teardown };
  }
  const ms = (r) => Math.round(r.ms);
  return {
    n,
    applyMs: ms(apply),
    reapplyMs: ms(reapply),
    changeMs: ms(change),
    // The first edit meets a process that has applied once; the median is the settled figure.
    watchChangeMs: median(watched),
    // A server is meant to run for a long time: its first runs warm the JIT up (they are listed
    // apart); the figure is the median of the five after them.
    serveChangeMs: Math.round(median(servedMs.slice(3))),
    serveWarmupMs: servedMs.slice(0, 3).map(Math.round),
    changeTouched: namespacesOf(steps),
    changeSteps: steps.length,
    destroyMs: ms(destroy),
    peakRssKb: peak(apply, reapply, change, destroy),
    processes: {
      apply: apply.profile?.counts?.processes ?? null,
      reapply: reapply.profile?.counts?.processes ?? null,
      change: change.profile?.counts?.processes ?? null,
      destroy: destroy.profile?.counts?.processes ?? null,
    },
    profiles: {
      apply: apply.profile,
      reapply: reapply.profile,
      change: change.profile,
      destroy: destroy.profile,
    },
    baseline: baseline && {
      buildMs: Math.round(baseline.buildMs),
      readMs: Math.round(baseline.readMs),
      changeMs: Math.round(baseline.changeMs),
      teardownMs: Math.round(baseline.teardownMs),
    },
    ratios: baseline && ratiosOf(baseline, { applyMs: apply.ms, reapplyMs: reapply.ms, changeMs: change.ms, destroyMs: destroy.ms }),
  };
}

async function measureNft() {
  const hosts = opts.quick ? 20 : 100;
  const name = 'bnat';
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, starLabYaml({ name, hosts, dnat: 500, backends: 100 }));
  log(`bench: nft: ${hosts} hosts, 500 DNAT rules, a 100-backend service`);
  const apply = await netlab(['apply', '--yes', file]);
  const reapply = await netlab(['apply', '--yes', file]);
  const destroy = await netlab(['destroy', '--yes', file]);
  const spans = apply.profile?.spans ?? {};
  return {
    hosts,
    dnat: 500,
    backends: 100,
    nftStepMs:
      Object.entries(spans)
        .filter(([k]) => /^round \d+: nft$/.test(k))
        .reduce((n, [, v]) => n + v, 0) || null,
    applyMs: Math.round(apply.ms),
    reapplyMs: Math.round(reapply.ms),
    destroyMs: Math.round(destroy.ms),
    peakRssKb: peak(apply, reapply, destroy),
  };
}

/**
 * Link conditions: a rate limit on every link of a star (both ends, so one tc batch per namespace,
 * the hub's with one line per link), applied from nothing beside the same apply without them.
 */
async function measureConditions() {
  const links = opts.quick ? 50 : 500;
  const name = 'bcond';
  const file = join(work, `${name}.yaml`);
  const plain = starLabYaml({ name, hosts: links });
  const shaped = plain.replace(/^( {2}- \{ a: h\d+:eth0, b: hub:br0) \}$/gm, '$1, conditions: { rate: 100mbit, limit: 100 } }');
  if (shaped === plain) throw new Error('bench: cannot find the links of the generated lab');
  writeFileSync(file, plain);
  log(`bench: conditions: ${links} links, apply without them`);
  const without = await netlab(['apply', '--yes', file]);
  await netlab(['destroy', '--yes', file]);
  writeFileSync(file, shaped);
  log(`bench: conditions: ${links} links with a rate limit and a queue limit on both ends`);
  const apply = await netlab(['apply', '--yes', file]);
  const reapply = await netlab(['apply', '--yes', '--json', file]);
  const reapplySteps = JSON.parse(reapply.stdout).labs[0].steps.length;
  if (reapplySteps !== 0) throw new Error(`bench: re-applying the conditions took ${reapplySteps} steps`);
  const destroy = await netlab(['destroy', '--yes', file]);
  const tcRounds = Object.entries(apply.profile?.spans ?? {}).filter(([k]) => /^round \d+: tc$/.test(k));
  return {
    links,
    qdiscs: 2 * links,
    applyWithoutMs: Math.round(without.ms),
    applyMs: Math.round(apply.ms),
    tcStepMs: tcRounds.reduce((n, [, v]) => n + v, 0) || null,
    reapplyMs: Math.round(reapply.ms),
    destroyMs: Math.round(destroy.ms),
  };
}

/**
 * `netlab validate` alone at 1k, 10k and 100k hosts: seconds, peak RSS and how much each grows per
 * 10x hosts (1.0 would be constant, 10 linear, 100 quadratic). Two shapes: hosts with empty bodies
 * (`h1: {}`) and netlab gen's star (in a /16 up to 65533 hosts, a /15 past that: 100k is a star too).
 */
async function measureValidate() {
  const sizes = opts.quick ? [1000, 10000] : [1000, 10000, 100000];
  const shapes = {
    'empty hosts': (n) => `name: bv\nhosts:\n${Array.from({ length: n }, (_, i) => `  h${i + 1}: {}`).join('\n')}\n`,
    'gen star': (n) => starLabYaml({ name: 'bv', hosts: n }),
  };
  const out = [];
  for (const [shape, text] of Object.entries(shapes)) {
    let last = null;
    for (const n of sizes) {
      const hosts = n;
      const file = join(work, `validate-${hosts}.yaml`);
      writeFileSync(file, text(n));
      log(`bench: validate: ${shape}, ${hosts} hosts`);
      const r = await netlab(['validate', file]);
      const row = { shape, hosts, ms: Math.round(r.ms), peakRssKb: r.profile?.maxRssKb ?? null, growthPer10x: null };
      if (last) {
        const per10x = (a, b) => +((b / a) ** (1 / Math.log10(hosts / last.hosts))).toFixed(1);
        row.growthPer10x = {
          time: per10x(last.ms, row.ms),
          rss: row.peakRssKb && last.peakRssKb ? per10x(last.peakRssKb, row.peakRssKb) : null,
        };
      }
      out.push(row);
      last = row;
    }
  }
  return out;
}

/** Every figure the fastest of several runs; profiles and process counts from the fastest apply. */
function fastest(runs) {
  if (runs.length === 1) return runs[0];
  const best = runs.reduce((a, b) => (b.applyMs < a.applyMs ? b : a));
  const min = (f) => Math.min(...runs.map(f));
  const out = { ...best, repeat: runs.length };
  for (const k of ['applyMs', 'reapplyMs', 'changeMs', 'watchChangeMs', 'serveChangeMs', 'destroyMs']) out[k] = min((r) => r[k]);
  out.peakRssKb = Math.max(...runs.map((r) => r.peakRssKb));
  for (const op of Object.keys(best.profiles)) {
    const quickest = runs.map((r) => r.profiles[op]).reduce((a, b) => ((b?.totalMs ?? Infinity) < (a?.totalMs ?? Infinity) ? b : a));
    out.profiles = { ...out.profiles, [op]: quickest };
  }
  if (best.baseline) {
    out.baseline = Object.fromEntries(['buildMs', 'readMs', 'changeMs', 'teardownMs'].map((k) => [k, min((r) => r.baseline[k])]));
    out.ratios = ratiosOf(out.baseline, out);
  }
  return out;
}

/** How many times faster netlab is than the baseline, per operation. */
function ratiosOf(baseline, netlab) {
  const r = (b, n) => (b / n >= 1 ? +(b / n).toFixed(1) : +(b / n).toPrecision(2));
  return {
    build: r(baseline.buildMs, netlab.applyMs),
    read: r(baseline.readMs, netlab.reapplyMs),
    change: r(baseline.changeMs, netlab.changeMs),
    teardown: r(baseline.teardownMs, netlab.destroyMs),
  };
}

function machine() {
  const v = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout?.trim().split('\n')[0] ?? '';
  let debian = '';
  try {
    debian = readFileSync('/etc/debian_version', 'utf8').trim();
  } catch {
    /* not Debian */
  }
  return {
    cpus: cpus().length,
    kernel: release(),
    debian,
    node: process.versions.node,
    iproute2: v('ip', ['-V']),
    nft: v('nft', ['--version']),
    concurrency: Number(process.env.NETLAB_CONCURRENCY ?? 8),
  };
}

const sec = (ms) => (ms === null || ms === undefined ? '-' : (ms / 1000).toFixed(2));
const mb = (kb) => (kb ? `${Math.round(kb / 1024)}` : '-');

function table(results, nft, m, conditions, validate) {
  const out = [];
  out.push(
    `netlab bench: ${m.cpus} cores, Linux ${m.kernel}${m.debian ? `, Debian ${m.debian}` : ''}, node ${m.node}, ${m.iproute2}${
      opts.repeat > 1 ? ` (fastest of ${opts.repeat} runs)` : ''
    }`,
    '',
    '| N | apply | baseline build | ratio | re-apply | baseline read | ratio | one-host change | via watch | via serve | baseline change | ratio | destroy | baseline teardown | ratio | peak RSS MB | processes (apply) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  const x = (r, k) => (r.ratios ? `${r.ratios[k]}x` : '-');
  for (const r of results)
    out.push(
      `| ${r.n} | ${sec(r.applyMs)} s | ${sec(r.baseline?.buildMs)} s | ${x(r, 'build')} | ${sec(r.reapplyMs)} s | ${sec(r.baseline?.readMs)} s | ${x(r, 'read')} | ${sec(r.changeMs)} s | ${sec(r.watchChangeMs)} s | ${sec(r.serveChangeMs)} s | ${sec(r.baseline?.changeMs)} s | ${x(r, 'change')} | ${sec(r.destroyMs)} s | ${sec(r.baseline?.teardownMs)} s | ${x(r, 'teardown')} | ${mb(r.peakRssKb)} | ${r.processes.apply ?? '-'} |`,
    );
  out.push('', 'Where the time goes (ms; load = starting node and loading netlab, observe includes verify):', '');
  out.push(
    '| N | command | total | load | spec | preflight | observe | plan | execute | processes |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of results)
    for (const [op, p] of Object.entries(r.profiles)) {
      if (!p) continue;
      const s = p.spans ?? {};
      const f = (v) => (v === undefined ? '-' : Math.round(v));
      out.push(
        `| ${r.n} | ${op} | ${f(p.totalMs)} | ${f(p.loadMs)} | ${f(s.spec)} | ${f(s.preflight)} | ${f(s.observe)} | ${f(s.plan)} | ${f(s.execute)} | ${p.counts?.processes ?? '-'} |`,
      );
    }
  out.push('');
  for (const r of results) out.push(`N=${r.n}: the one-host change touched ${r.changeTouched.join(', ')} (${r.changeSteps} steps)`);
  for (const r of results)
    if (r.serveWarmupMs)
      out.push(
        `N=${r.n}: through netlab serve, the first three changes (warming up) took ${r.serveWarmupMs.map((ms) => sec(ms)).join(', ')} s`,
      );
  if (nft)
    out.push(
      '',
      `nft: ${nft.hosts} hosts, ${nft.dnat} DNAT rules and a ${nft.backends}-backend service: nft step ${nft.nftStepMs === null ? '-' : `${Math.round(nft.nftStepMs)} ms`}, apply ${sec(nft.applyMs)} s, re-apply ${sec(nft.reapplyMs)} s, destroy ${sec(nft.destroyMs)} s, peak RSS ${mb(nft.peakRssKb)} MB`,
    );
  if (conditions)
    out.push(
      '',
      `conditions on ${conditions.links} links (${conditions.qdiscs} tbf + pfifo trees, one tc batch per namespace): apply ${sec(conditions.applyMs)} s (without conditions ${sec(conditions.applyWithoutMs)} s; tc step ${conditions.tcStepMs === null ? '-' : `${Math.round(conditions.tcStepMs)} ms`}), re-apply ${sec(conditions.reapplyMs)} s (0 steps), destroy ${sec(conditions.destroyMs)} s`,
    );
  if (validate) {
    out.push('', 'netlab validate alone (growth per 10x hosts: 10 is linear, 100 quadratic):', '');
    out.push('| lab | hosts | seconds | peak RSS MB | time growth per 10x | RSS growth per 10x |', '|---|---:|---:|---:|---:|---:|');
    for (const v of validate)
      out.push(
        `| ${v.shape} | ${v.hosts} | ${sec(v.ms)} | ${mb(v.peakRssKb)} | ${v.growthPer10x?.time ?? '-'} | ${v.growthPer10x?.rss ?? '-'} |`,
      );
  }
  return out.join('\n');
}

try {
  if (opts.machines) {
    const { benchMachines, machinesTable } = await import('./machines.mjs');
    const r = await benchMachines({
      root: ROOT,
      work,
      m: opts.machines,
      repeat: opts.repeat,
      netlab,
      log,
      starLabYaml,
      starAddress,
      netnsCount,
    });
    process.stdout.write(opts.json ? `${JSON.stringify({ machine: machine(), ...r }, null, 2)}\n` : `${machinesTable(r)}\n`);
  } else await benchOneMachine();
} catch (e) {
  log(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}

async function benchOneMachine() {
  const m = machine();
  const results = [];
  for (const n of opts.sizes) {
    const runs = [];
    for (let k = 0; k < opts.repeat; k++) runs.push(await measureSize(n));
    results.push(fastest(runs));
  }
  const nft = await measureNft();
  const conditions = await measureConditions();
  const validate = await measureValidate();
  if (opts.json) process.stdout.write(`${JSON.stringify({ machine: m, results, nft, conditions, validate }, null, 2)}\n`);
  else process.stdout.write(`${table(results, nft, m, conditions, validate)}\n`);
  if (opts.docs) {
    writeFileSync(
      PERFORMANCE_PAGE,
      replaceBetweenMarkers(readFileSync(PERFORMANCE_PAGE, 'utf8'), table(results, nft, m, conditions, validate)),
    );
    log(`bench: results written to ${PERFORMANCE_PAGE}`);
  }
}
