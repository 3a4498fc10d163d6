// `netlab serve` on the real kernel, inside the sandbox: commands handed to the warm server give
// the same kernel, output and exit codes as in their own process; a client killed mid-run rolls
// the run back; a server from another build steps aside; SIGTERM stops the server and removes
// its socket. Its own state directory keeps other test files' runs away from this server.
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFile, NETLAB, starLab } from './cli.js';
import { inNs, sandboxSkipReason, sh } from './sandbox.js';

const stateDir = mkdtempSync(join(tmpdir(), 'netlab-serve-state-'));
const env = { NO_COLOR: '1', NETLAB_STATE_DIR: stateDir };
const socket = join(stateDir, '.serve.sock');
let server: ResultPromise | null = null;
let serverLog = '';

function netlab(args: string[], extra: Record<string, string> = {}) {
  return execa('node', [NETLAB, ...args], { reject: false, env: { ...env, ...extra } });
}

async function startServer(): Promise<void> {
  serverLog = '';
  server = execa('node', [NETLAB, 'serve'], { reject: false, env, buffer: false });
  server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  for (let i = 0; i < 300 && !serverLog.includes('listening'); i++) await new Promise((r) => setTimeout(r, 10));
  expect(serverLog).toContain('listening');
}

/** Requests the server ran, as its log lists them. */
const served = () => serverLog.split('\n').filter((l) => / exit \d+ in \d+ ms$/.test(l));

async function netnsOf(prefix: string): Promise<string[]> {
  return (JSON.parse((await sh('ip', ['-j', 'netns', 'list'])).stdout || '[]') as { name: string }[])
    .map((n) => n.name)
    .filter((n) => n.startsWith(prefix));
}

beforeAll(async () => {
  if (sandboxSkipReason === null) await startServer();
});

afterAll(async () => {
  if (server) {
    server.kill('SIGTERM');
    await server;
  }
  await netlab(['destroy', '--yes', '--lab', 'sv', 'svt', 'svi'], { NETLAB_SERVE: '0' });
});

describe.skipIf(sandboxSkipReason !== null)('netlab serve', () => {
  it('runs apply, an edit, plan, status and validate for other invocations, with their output and exit codes', async () => {
    const file = labFile('sv', starLab('sv', 6));
    const applied = await netlab(['apply', '--yes', file]);
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/sv: applied \d+ steps .* and verified/);
    writeFileSync(file, readFileSync(file, 'utf8').replace('10.10.0.4/16', '10.10.7.4/16'));
    expect((await netlab(['plan', file])).exitCode).toBe(2);
    const changed = await netlab(['apply', '--yes', file]);
    expect(changed.exitCode, changed.stderr).toBe(0);
    const addr = await inNs('sv-h2', 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addr.stdout).toContain('10.10.7.4/16');
    // In its own process, the lab is as the file says.
    const here = await netlab(['plan', file], { NETLAB_SERVE: '0' });
    expect(here.exitCode).toBe(0);
    expect(here.stdout).toContain('no changes');
    expect((await netlab(['status'])).stdout).toContain('in sync');
    const bad = await netlab(['validate', `${file}.missing`]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/sv\.yaml\.missing:1:1: cannot read file/);
    // Every one of those (but the NETLAB_SERVE=0 plan) went through the server.
    expect(served().map((l) => l.replace(/^netlab serve: /, '').split(/[ :]/)[0])).toEqual([
      'apply',
      'plan',
      'apply',
      'status',
      'validate',
    ]);
    expect(served()[4]).toMatch(/exit 1 in/);
  });

  it('rolls the run back when its client is killed mid-run', { timeout: 60_000 }, async () => {
    const file = labFile('svt', starLab('svt', 150));
    const client = execa('node', [NETLAB, 'apply', '--yes', file], { reject: false, env, forceKillAfterDelay: false });
    for (let i = 0; i < 500 && (await netnsOf('svt-')).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    client.kill('SIGKILL');
    await client;
    for (let i = 0; i < 500 && !served().some((l) => l.includes('svt')); i++) await new Promise((r) => setTimeout(r, 20));
    expect(served().at(-1)).toMatch(/svt\.yaml: exit 1 in/);
    expect(await netnsOf('svt-')).toEqual([]);
    expect(existsSync(join(stateDir, 'svt', 'journal.json'))).toBe(false);
  });

  it('stops an apply whose client pressed Ctrl-C before its first step: nothing is made', { timeout: 60_000 }, async () => {
    const file = labFile('svi', starLab('svi', 300));
    const client = execa('node', [NETLAB, 'apply', '--yes', file], { reject: false, env, forceKillAfterDelay: false });
    // The server has begun the run: it is checking the file, not yet listening for a stop.
    for (let i = 0; i < 500 && !serverLog.includes('svi.yaml: running'); i++) await new Promise((r) => setTimeout(r, 5));
    client.kill('SIGINT');
    const r = await client;
    // The server stops the run either way: told by the client (it had seen the run begin), or
    // because the client left at once (it had not yet); the run ends before its first step.
    if (r.exitCode === 1) expect(r.stderr).toContain('interrupted by SIGINT');
    else expect(r.exitCode).toBe(130);
    for (let i = 0; i < 500 && !served().some((l) => l.includes('svi.yaml')); i++) await new Promise((res) => setTimeout(res, 10));
    expect(served().at(-1)).toMatch(/svi\.yaml: exit 1 in/);
    expect(await netnsOf('svi-')).toEqual([]);
  });

  it('steps aside for another build of netlab, and stops on SIGTERM removing its socket', async () => {
    // A rebuilt netlab (its main module rewritten): the server says stale and stops; the command runs here.
    const main = new URL('../../dist/cli/main.js', import.meta.url);
    const { atime, mtime } = statSync(main);
    utimesSync(main, atime, new Date(mtime.getTime() + 1000));
    try {
      const r = await netlab(['status']);
      expect(r.exitCode).toBe(0);
      await server;
      expect(serverLog).toContain('stopped (netlab was rebuilt or upgraded since this server started)');
      expect(existsSync(socket)).toBe(false);
    } finally {
      utimesSync(main, atime, mtime);
    }
    await startServer();
    server!.kill('SIGTERM');
    await server;
    server = null;
    expect(serverLog).toContain('stopped (SIGTERM)');
    expect(existsSync(socket)).toBe(false);
    // No server: the same command runs in its own process.
    expect((await netlab(['status'])).exitCode).toBe(0);
  });
});
