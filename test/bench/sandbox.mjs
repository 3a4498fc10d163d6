// What the bench scripts share: running themselves again inside a private network + mount
// namespace (never against the machine's own), and timing a command.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readlinkSync } from 'node:fs';

/**
 * Outside the sandbox, runs `self` again inside a fresh one (its own /run/netns and a 0700
 * /run/netlab on tmpfs, lo up) and exits with its status; inside, returns, refusing to go on if
 * the network namespace is still the one it was started in.
 */
export function enterSandbox(self, name) {
  if (process.env.NETLAB_BENCH_INNER !== '1') {
    for (const d of ['/run/netns', '/run/netlab']) mkdirSync(d, { recursive: true });
    const inner = [
      'mount --make-rprivate /',
      'mount -t tmpfs netlab-bench /run/netns',
      'mount -t tmpfs -o mode=0700 netlab-bench /run/netlab',
      'ip link set lo up',
      'exec "$@"',
    ].join(' && ');
    const r = spawnSync('unshare', ['--net', '--mount', 'sh', '-c', inner, 'sh', process.execPath, self, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, NETLAB_BENCH_INNER: '1', NETLAB_OUTER_NETNS: readlinkSync('/proc/self/ns/net') },
    });
    process.exit(r.status ?? 1);
  }
  if (!process.env.NETLAB_OUTER_NETNS || readlinkSync('/proc/self/ns/net') === process.env.NETLAB_OUTER_NETNS) {
    process.stderr.write(`${name}: refusing to run outside its sandbox network namespace\n`);
    process.exit(1);
  }
}

/** Runs a command; resolves with wall time, exit code and output. */
export function timed(cmd, args, { input = '', env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, stdout, stderr }));
    child.stdin.end(input);
  });
}
