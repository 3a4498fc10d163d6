// A real container attached by pid (labs/container-attach.yaml, docs/labs/container-attach.md):
// podman runs a busybox image built here from busybox-static (no registry) with only lo; the
// catalogue lab gives it an eth0 on a bridge; destroy leaves its namespace exactly as it was.
// podman keeps everything in a temporary directory and a cgroup of this test's own, so nothing is
// left behind; CI installs podman (.ci/run), elsewhere the test says why it is skipped.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFile, netlab } from './cli.js';
import { sandboxSkipReason, sh } from './sandbox.js';

const LAB = 'labs/container-attach.yaml';
/** The catalogue lab's stand-in for the container's pid (no process can have it). */
const PLACEHOLDER = 'netns: { pid: 4194304 }';
const IMAGE = 'localhost/netlab-busybox';
const CONTAINER = `netlab-ctr-${process.pid}`;
/** A cgroup parent of this test's own: podman leaves its cgroup directories behind, this test removes them. */
const CGROUP = `netlab-test-ctr-${process.pid}`;

const installed = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skipReason =
  sandboxSkipReason ??
  (!installed('podman')
    ? 'podman is not installed (apt-get install --no-install-recommends podman runc)'
    : !existsSync('/bin/busybox')
      ? 'busybox-static is not installed (/bin/busybox)'
      : null);

// Said out loud: a skipped file shows no titles in vitest's default report.
if (skipReason !== null && sandboxSkipReason === null) console.warn(`test/live/container.test.ts skipped: ${skipReason}`);

let storage = '';
/** podman with its storage, state and the runtime's state in `storage`, and no systemd. */
const podmanFlags = () => [
  '--root',
  join(storage, 'root'),
  '--runroot',
  join(storage, 'run'),
  '--tmpdir',
  join(storage, 'tmp'),
  '--runtime',
  join(storage, 'bin', 'runc'),
  '--cgroup-manager=cgroupfs',
  '--storage-driver=vfs',
];
const podman = (args: string[]) => sh('podman', [...podmanFlags(), ...args]);

/**
 * runc keeping its state in `storage`: `--runtime-flag root=...` is not passed on to the
 * `podman container cleanup` that conmon runs when the container exits, which then makes /run/runc.
 */
function writeRuntime(): void {
  mkdirSync(join(storage, 'bin'));
  writeFileSync(join(storage, 'bin', 'runc'), `#!/bin/sh\nexec /usr/bin/runc --root '${join(storage, 'runc')}' "$@"\n`, { mode: 0o755 });
}

/** State and start time (fields 3 and 22 of /proc/PID/stat) of a process, or null when it is gone. */
function procStat(pid: number): { state: string; start: string } | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, start: fields[19]! };
}

/** Resolves once the process `pid` started at `start` has exited (a zombie counts: it has). */
async function exited(pid: number, start: string): Promise<void> {
  for (let p = procStat(pid); p && p.state !== 'Z' && p.start === start; p = procStat(pid)) await new Promise((r) => setTimeout(r, 20));
}

/** Runs a command in the container's network namespace, with this machine's tools. */
const inCtr = (pid: number, cmd: string, args: string[]) => sh('nsenter', ['-t', String(pid), '-n', cmd, ...args]);

const SNAPSHOT = {
  links: ['ip', '-j', 'link', 'show'],
  addresses: ['ip', '-j', 'addr', 'show'],
  routes: ['ip', '-j', 'route', 'show', 'table', 'all'],
  routes6: ['ip', '-j', '-6', 'route', 'show', 'table', 'all'],
  rules: ['ip', '-j', 'rule', 'show'],
  rules6: ['ip', '-j', '-6', 'rule', 'show'],
  neighbours: ['ip', '-j', 'neigh', 'show'],
  nft: ['nft', '-j', 'list', 'ruleset'],
} as const;

/** The namespace's sysctls (net.*) by key; counters that traffic moves are left out. */
async function sysctls(pid: number): Promise<Map<string, string>> {
  const r = await execa('nsenter', ['-t', String(pid), '-n', 'sysctl', '-a'], { reject: false });
  const out = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const [key, value] = line.split(' = ');
    if (key?.startsWith('net.') && value !== undefined && !key.endsWith('nf_conntrack_count')) out.set(key, value);
  }
  return out;
}

/** Everything observable of the container's network namespace, as the kernel reports it. */
async function snapshot(pid: number): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { netns: (await sh('readlink', [`/proc/${pid}/ns/net`])).stdout };
  for (const [what, [cmd, ...args]] of Object.entries(SNAPSHOT)) out[what] = JSON.parse((await inCtr(pid, cmd, args)).stdout || 'null');
  return out;
}

/** The values of `before`'s keys now: a module loaded meanwhile may add keys, netlab can only change values. */
function sameKeys(now: Map<string, string>, before: Map<string, string>): Map<string, string> {
  return new Map([...before.keys()].map((k) => [k, now.get(k) ?? '(missing)']));
}

/** Runs the catalogue's image script. */
function buildImage() {
  // podman import writes a blob cache to /var/lib/containers/cache whatever --root says: a
  // private tmpfs on /var/lib, for this command only, keeps it off the machine.
  const script = 'mount -t tmpfs podman-cache /var/lib && exec "$0" "$@"';
  return sh('unshare', ['--mount', 'sh', '-c', script, 'labs/tools/busybox-image.sh', ...podmanFlags()]);
}

/** Removes this test's cgroup parent (and the container cgroups podman left in it) in every hierarchy. */
function removeCgroups(): void {
  const roots = ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d))];
  const remove = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) remove(join(dir, e.name));
    rmdirSync(dir);
  };
  for (const root of roots) if (existsSync(join(root, CGROUP))) remove(join(root, CGROUP));
}

describe.skipIf(skipReason !== null)(skipReason ? `a real container (skipped: ${skipReason})` : 'a real container', () => {
  let pid = 0;

  beforeAll(async () => {
    storage = mkdtempSync(join(tmpdir(), 'netlab-podman-'));
    writeRuntime();
    await buildImage();
    expect((await buildImage()).stdout, 'the image script is idempotent').toContain('exists already');
    // Only lo (--network none); NET_RAW, which Docker grants and podman does not, for busybox ping;
    // conmon outside the container's cgroup so podman rm empties it; explicit ulimits because
    // podman's defaults exceed this machine's hard limits.
    await podman([
      'run',
      '-d',
      '--name',
      CONTAINER,
      '--network',
      'none',
      '--cap-add',
      'NET_RAW',
      '--cgroups=no-conmon',
      `--cgroup-parent=/${CGROUP}`,
      '--ulimit',
      'nofile=1024:1024',
      '--ulimit',
      'nproc=1024:1024',
      IMAGE,
      'sleep',
      '3600',
    ]);
    pid = Number((await podman(['inspect', '--format', '{{.State.Pid}}', CONTAINER])).stdout);
  });

  afterAll(async () => {
    await netlab(['destroy', '--yes', '--lab', 'ctr']);
    if (storage) {
      const conmon = Number(
        (await podman(['inspect', '--format', '{{.State.ConmonPid}}', CONTAINER]).catch(() => ({ stdout: '0' }))).stdout,
      );
      const before = conmon > 0 ? procStat(conmon) : null;
      await podman(['rm', '--force', '--time', '0', CONTAINER]).catch(() => undefined);
      // conmon may still be finishing the container's cleanup in `storage` when podman rm returns.
      if (before) await exited(conmon, before.start);
      rmSync(storage, { recursive: true, force: true });
    }
    removeCgroups();
  });

  it('gets an eth0 on the lab bridge by netns: { pid }, and destroy leaves its namespace as it was', async () => {
    expect(pid).toBeGreaterThan(1);
    const ownNs = (await sh('readlink', ['/proc/self/ns/net'])).stdout;
    const before = await snapshot(pid);
    expect(before.netns).not.toBe(ownNs);
    expect((before.links as { ifname: string }[]).map((l) => l.ifname)).toEqual(['lo']);
    const sysctlsBefore = await sysctls(pid);
    expect(sysctlsBefore.get('net.ipv4.ip_unprivileged_port_start')).toBe('1024');

    const text = readFileSync(LAB, 'utf8');
    expect(text.split(PLACEHOLDER)).toHaveLength(2);
    const file = labFile('container-attach', text.replace(PLACEHOLDER, `netns: { pid: ${pid} }`));
    const applied = await netlab(['apply', '--yes', file]);
    expect(applied.code, applied.all).toBe(0);
    const tested = await netlab(['test', '--timeout', '3s', file]);
    expect(tested.code, tested.all).toBe(0);
    expect(tested.stdout).toMatch(/5 passed, 0 failed/);

    // Inside the container, with its own busybox: the lab's interface, its mark, and traffic both ways.
    const links = JSON.parse((await inCtr(pid, 'ip', ['-j', 'link', 'show'])).stdout) as { ifname: string; altnames?: string[] }[];
    expect(links.find((l) => l.ifname !== 'lo')?.altnames).toEqual(['netlab.ctr.app.eth0']);
    expect((await sysctls(pid)).get('net.ipv4.ip_unprivileged_port_start')).toBe('0');
    const ping = await podman(['exec', CONTAINER, 'ping', '-c1', '-W3', '172.18.0.3']);
    expect(ping.stdout).toContain('1 packets received');
    const out = await podman(['exec', CONTAINER, 'ping', '-c1', '-W3', '198.51.100.254']);
    expect(out.stdout, 'out through the masquerade').toContain('1 packets received');
    const again = await netlab(['apply', '--yes', file]);
    expect(again.stdout, again.all).toContain('no changes');

    const destroyed = await netlab(['destroy', '--yes', file]);
    expect(destroyed.code, destroyed.all).toBe(0);
    expect(await snapshot(pid)).toEqual(before);
    expect(sameKeys(await sysctls(pid), sysctlsBefore)).toEqual(sysctlsBefore);
    const state = await podman(['inspect', '--format', '{{.State.Running}} {{.State.Pid}}', CONTAINER]);
    expect(state.stdout, 'the container keeps running').toBe(`true ${pid}`);
    const left = JSON.parse((await sh('ip', ['-j', 'netns', 'list'])).stdout || '[]') as { name: string }[];
    expect(left.map((n) => n.name).filter((n) => n.startsWith('ctr-'))).toEqual([]);
  });
});
