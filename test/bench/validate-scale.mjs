#!/usr/bin/env node
// `netlab validate` of one big generated lab (netlab gen's star, gen.ts's own generator), with
// nothing taken from the cache of checked labs: each run gets a fresh, empty state directory (a
// tmpfs on /run/netlab in its own sandbox), as a first check of a file does.
// Prints, per run and as best and median of the runs, the wall time, the CPU time (user + system:
// steadier than wall time on a loaded machine) and the peak RSS, as /usr/bin/time -v reports them.
//
//   node test/bench/validate-scale.mjs [--hosts 100000] [--repeat 3] [--keep FILE]
//
// Build first (npm run build): it runs dist/.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NETLAB = join(ROOT, 'dist/cli/netlab.js');

function usage(message) {
  if (message) process.stderr.write(`validate-scale: ${message}\n`);
  process.stderr.write('usage: node test/bench/validate-scale.mjs [--hosts N] [--repeat K] [--keep FILE]\n');
  process.exit(message ? 2 : 0);
}

const opts = { hosts: 100000, repeat: 3, keep: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const [flag, inline] = argv[i].split('=', 2);
  const value = () => inline ?? argv[++i];
  if (flag === '--hosts') opts.hosts = Number(value());
  else if (flag === '--repeat') opts.repeat = Number(value());
  else if (flag === '--keep') opts.keep = value();
  else if (flag === '--help' || flag === '-h') usage();
  else usage(`unknown option ${argv[i]}`);
}
if (!Number.isInteger(opts.hosts) || opts.hosts < 1) usage('--hosts must be a positive integer');
if (!Number.isInteger(opts.repeat) || opts.repeat < 1) usage('--repeat must be a positive integer');
if (process.getuid?.() !== 0) usage('needs root (for the unshare sandbox)');
if (!existsSync(NETLAB)) usage(`${NETLAB} is missing: build first (npm run build)`);
if (!existsSync('/usr/bin/time')) usage('/usr/bin/time is not installed (Debian: apt-get install time)');

const { starLabYaml } = await import(pathToFileURL(join(ROOT, 'dist/cli/gen.js')).href);
const work = mkdtempSync(join(tmpdir(), 'netlab-validate-scale-'));
const file = opts.keep ?? join(work, `star-${opts.hosts}.yaml`);
writeFileSync(file, starLabYaml({ name: 'scale', hosts: opts.hosts }));
process.stderr.write(`validate-scale: ${file}: ${opts.hosts} hosts, ${(statSync(file).size / 1e6).toFixed(1)} MB\n`);

const SANDBOX = [
  'mount --make-rprivate /',
  'mount -t tmpfs validate-scale /run/netns',
  'mount -t tmpfs -o mode=0700 validate-scale /run/netlab',
  'exec "$@"',
].join(' && ');

/** `/usr/bin/time -v` reports elapsed time as [h:]mm:ss.cc. */
function seconds(clock) {
  return clock.split(':').reduce((acc, part) => acc * 60 + Number(part), 0);
}

function once() {
  const r = spawnSync(
    'unshare',
    ['--net', '--mount', 'sh', '-c', SANDBOX, 'sh', '/usr/bin/time', '-v', process.execPath, NETLAB, 'validate', file],
    { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20 },
  );
  const field = (name) => new RegExp(`${name}: (.*)`).exec(r.stderr)?.[1]?.trim();
  if (r.status !== 0 || !field('Maximum resident set size \\(kbytes\\)'))
    throw new Error(`validate exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return {
    wallS: seconds(field('Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)')),
    cpuS: Number(field('User time \\(seconds\\)')) + Number(field('System time \\(seconds\\)')),
    peakRssMb: Math.round(Number(field('Maximum resident set size \\(kbytes\\)')) / 1024),
  };
}

const runs = [];
for (let i = 0; i < opts.repeat; i++) {
  const run = once();
  runs.push(run);
  process.stdout.write(`run ${i + 1}: ${run.wallS.toFixed(2)} s wall, ${run.cpuS.toFixed(2)} s CPU, ${run.peakRssMb} MB peak RSS\n`);
}
const stat = (key) => {
  const sorted = runs.map((r) => r[key]).sort((a, b) => a - b);
  return { best: sorted[0], median: sorted[Math.floor((sorted.length - 1) / 2)] };
};
const [wall, cpu, rss] = ['wallS', 'cpuS', 'peakRssMb'].map(stat);
process.stdout.write(
  `${opts.hosts} hosts, ${runs.length} runs: wall best ${wall.best.toFixed(2)} s, median ${wall.median.toFixed(2)} s; ` +
    `CPU best ${cpu.best.toFixed(2)} s, median ${cpu.median.toFixed(2)} s; peak RSS best ${rss.best} MB, median ${rss.median} MB\n`,
);
if (!opts.keep) rmSync(work, { recursive: true, force: true });
