#!/usr/bin/env node
// Runs every test tier this machine supports and says which it skipped and why.
// The live tier runs inside a private network + mount namespace with tmpfs on /run/netns and on
// netlab's state directory, so nothing touches the machine's own interfaces, routes or firewall.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, mkdirSync, readlinkSync } from 'node:fs';

const args = process.argv.slice(2);
const only = args.find((a) => a.startsWith('--tier='))?.slice('--tier='.length);
const vitest = ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/vitest.config.ts'];

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

function liveSupport() {
  if (process.getuid?.() !== 0) return 'not root (the live tier needs CAP_NET_ADMIN and CAP_SYS_ADMIN)';
  for (const cmd of ['unshare', 'ip', 'nft']) if (!which(cmd)) return `${cmd} is not installed`;
  const probe = spawnSync('unshare', ['--net', '--mount', 'true']);
  if (probe.status !== 0) return `unshare --net --mount failed: ${probe.stderr}`;
  return null;
}

function vmSupport() {
  if (process.getuid?.() !== 0) return 'not root';
  if (!which('qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)';
  if (!existsSync('/bin/busybox')) return 'busybox-static is not installed';
  if (!existsSync('/boot') || !readdirSync('/boot').some((f) => /^vmlinuz-.*-amd64$/.test(f)))
    return 'no Debian kernel in /boot (apt-get install linux-image-amd64)';
  if (process.env.NETLAB_SKIP_VM) return 'NETLAB_SKIP_VM is set';
  return null;
}

function run(tier, argv) {
  console.log(`\n=== ${tier} tier ===`);
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit', env: process.env });
  return r.status ?? 1;
}

const results = [];
const tiers = only ? [only] : ['unit', 'live', 'vm'];
for (const tier of tiers) {
  if (tier === 'unit') {
    results.push({ tier, status: run(tier, ['node', ...vitest, '--project', 'unit']) });
  } else if (tier === 'live') {
    const why = liveSupport();
    if (why) {
      results.push({ tier, skipped: why });
      continue;
    }
    for (const d of ['/run/netns', '/run/netlab']) mkdirSync(d, { recursive: true });
    const inner = [
      'mount --make-rprivate /',
      'mount -t tmpfs netlab-sandbox /run/netns',
      'mount -t tmpfs -o mode=0700 netlab-sandbox /run/netlab',
      'ip link set lo up',
      `exec env NETLAB_SANDBOX=1 NETLAB_OUTER_NETNS='${readlinkSync('/proc/self/ns/net')}' node ${vitest.join(' ')} --project live ${args.filter((a) => !a.startsWith('--tier=')).join(' ')}`,
    ].join(' && ');
    results.push({ tier, status: run(tier, ['unshare', '--net', '--mount', 'sh', '-c', inner]) });
  } else if (tier === 'vm') {
    const why = vmSupport();
    if (why) {
      results.push({ tier, skipped: why });
      continue;
    }
    results.push({ tier, status: run(tier, ['node', ...vitest, '--project', 'vm']) });
  }
}

console.log('\n=== tiers ===');
let failed = 0;
for (const r of results) {
  if (r.skipped) console.log(`${r.tier}: SKIPPED (${r.skipped})`);
  else {
    console.log(`${r.tier}: ${r.status === 0 ? 'passed' : `FAILED (exit ${r.status})`}`);
    if (r.status !== 0) failed++;
  }
}
process.exit(failed ? 1 : 0);
