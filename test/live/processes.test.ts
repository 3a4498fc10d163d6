// Processes in hosts on the real kernel, inside the sandbox: an HTTP server (`run:`) reached from
// another host, killed and restarted by re-apply (1 step in plan), a one-shot `exec:` that runs
// once, `netlab logs`, destroy stopping only what netlab started, and a failing exec rolling back.
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { labFile, NETLAB, netlab } from './cli.js';
import { inNs, sandboxSkipReason, sh } from './sandbox.js';

const HTTPD = fileURLToPath(new URL('./tools/httpd.mjs', import.meta.url));

interface Entry {
  ns: string;
  host: string;
  name: string;
  mode: string;
  pid: number;
  start: string;
}

function record(lab: string): Entry[] {
  return (JSON.parse(readFileSync(`/run/netlab/${lab}/processes.json`, 'utf8')) as { entries: Entry[] }).entries;
}

/** Start time of a pid (field 22 of /proc/PID/stat), or null when there is no such process. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return f[0] === 'Z' ? null : (f[19] ?? null);
  } catch {
    return null;
  }
}

async function netnsList(): Promise<string[]> {
  const r = await sh('ip', ['-j', 'netns', 'list']);
  return (JSON.parse(r.stdout || '[]') as { name: string }[]).map((n) => n.name).sort();
}

/** One HTTP GET from inside a namespace (node's fetch); the JSON answer, or null. */
async function httpGet(ns: string, url: string): Promise<{ name: string; pid: number } | null> {
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(1500) }).then((r) => r.text()).then((t) => process.stdout.write(t), () => process.exit(1))`;
  const r = await inNs(ns, process.execPath, ['-e', script], { reject: false });
  return r.exitCode === 0 ? (JSON.parse(r.stdout) as { name: string; pid: number }) : null;
}

async function waitFor<T>(what: string, fn: () => Promise<T | null>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Processes this test file started itself (killed by pid in afterAll if still running). */
const mine: ResultPromise[] = [];
afterAll(async () => {
  // A failed test leaves its lab: destroy stops the lab's processes, so none outlive the run.
  for (const lab of ['proc', 'procfail', 'procatt']) await netlab(['destroy', '--lab', lab]);
  for (const p of mine) if (p.pid && startTime(p.pid)) process.kill(p.pid, 'SIGKILL');
  await Promise.all(mine.map((p) => p.catch(() => undefined)));
});

describe.skipIf(sandboxSkipReason !== null)('processes in hosts', () => {
  it('run an HTTP server; kill it: plan shows 1 step, apply restarts it; destroy stops it and spares a stranger', async () => {
    const marks = mkdtempSync(join(tmpdir(), 'netlab-marks-'));
    const file = labFile(
      'proc',
      `name: proc
hosts:
  srv:
    interfaces:
      eth0: { link: cli:eth0, addresses: [10.50.0.1/24] }
    run:
      - { name: web, command: "exec ${process.execPath} ${HTTPD} --port 8080 --name srv" }
    exec:
      - { name: mark, command: "echo ran in $NETLAB_HOST | tee -a ${marks}/exec.log" }
  cli:
    interfaces:
      eth0: { addresses: [10.50.0.2/24] }
`,
    );
    const first = await netlab(['apply', file]);
    expect(first.code, first.all).toBe(0);
    const reply = await waitFor('the server', () => httpGet('proc-cli', 'http://10.50.0.1:8080/'));
    expect(reply.name).toBe('srv');
    const [web] = record('proc').filter((e) => e.name === 'web');
    expect(web).toMatchObject({ ns: 'proc-srv', host: 'srv', mode: 'run' });
    // The recorded pid is the server itself (sh execs it) and it runs in the host's namespace.
    expect(reply.pid).toBe(web!.pid);
    expect(startTime(web!.pid)).toBe(web!.start);
    expect((await sh('ip', ['netns', 'identify', String(web!.pid)])).stdout.trim()).toBe('proc-srv');
    expect(readFileSync(`${marks}/exec.log`, 'utf8')).toBe('ran in srv\n');
    expect(readFileSync('/run/netlab/proc/logs/srv-web.log', 'utf8')).toContain('listening on 8080');
    const logs = await netlab(['logs', 'proc', 'srv', 'web']);
    expect(logs.code, logs.all).toBe(0);
    expect(logs.stdout).toContain('listening on 8080');
    const allLogs = await netlab(['logs', 'proc', 'srv']);
    expect(allLogs.stdout).toContain('[mark] ran in srv');

    // Same lab again: nothing to do, and the exec does not run again.
    const again = await netlab(['apply', file]);
    expect(again.code, again.all).toBe(0);
    expect(again.stdout).toContain('no changes');
    expect((await netlab(['plan', file])).code).toBe(0);

    // The server dies: plan has exactly one step, apply restarts it.
    process.kill(web!.pid, 'SIGKILL');
    await waitFor('the server to die', async () => (startTime(web!.pid) === null ? true : null));
    const planned = await netlab(['plan', '--json', file]);
    expect(planned.code, planned.all).toBe(2);
    const steps = (JSON.parse(planned.stdout) as { labs: { steps: { op: string; objects: string[]; reason: string }[] }[] }).labs[0]!.steps;
    expect(steps).toEqual([
      expect.objectContaining({ op: 'modify', objects: ['process:proc-srv/web'], reason: 'state: stopped -> running' }),
    ]);
    const restarted = await netlab(['apply', file]);
    expect(restarted.code, restarted.all).toBe(0);
    expect(restarted.stdout).toContain('applied 1 step (');
    const again2 = await waitFor('the restarted server', () => httpGet('proc-cli', 'http://10.50.0.1:8080/'));
    const [web2] = record('proc').filter((e) => e.name === 'web');
    expect(web2!.pid).not.toBe(web!.pid);
    expect(again2.pid).toBe(web2!.pid);
    expect(readFileSync(`${marks}/exec.log`, 'utf8')).toBe('ran in srv\n');

    // A process the test starts in a lab namespace is not netlab's: destroy reports it, does not
    // signal it, and still removes the lab.
    const stranger = execa('ip', ['netns', 'exec', 'proc-srv', 'sleep', '60'], { reject: false });
    mine.push(stranger);
    await waitFor('the stranger', async () =>
      (await sh('ip', ['netns', 'pids', 'proc-srv'])).stdout.includes(String(stranger.pid)) ? true : null,
    );
    const recorded = record('proc').filter((e) => e.mode === 'run');
    const gone = await netlab(['destroy', '--lab', 'proc']);
    expect(gone.code, gone.all).toBe(0);
    expect(gone.all).toContain(`processes netlab did not start (pids ${stranger.pid})`);
    expect(gone.all).not.toContain(String(web2!.pid));
    for (const e of recorded) expect(startTime(e.pid), `recorded pid ${e.pid}`).not.toBe(e.start);
    expect((await netnsList()).filter((n) => n.startsWith('proc-'))).toEqual([]);
    expect(existsSync('/run/netlab/proc')).toBe(false);
    // Not signalled: still running; the test ends it by its pid.
    expect(startTime(stranger.pid!)).not.toBeNull();
    process.kill(stranger.pid!, 'SIGKILL');
    await stranger;
  });

  it('a failing exec fails the apply, names the command and its output, and rolls back', async () => {
    const file = labFile(
      'procfail',
      `name: procfail
hosts:
  a:
    interfaces:
      eth0: { link: b:eth0, addresses: [10.51.0.1/24] }
    exec:
      - { name: broken, command: "echo about to fail; exit 3" }
    run:
      - { name: idle, command: "exec sleep 300" }
  b: {}
`,
    );
    const r = await netlab(['apply', file]);
    expect(r.code, r.all).toBe(1);
    expect(r.stderr).toContain('exec a/broken');
    expect(r.stderr).toContain('exited with status 3');
    expect(r.stderr).toContain('about to fail');
    expect(r.stderr).toContain('rolled back');
    expect((await netnsList()).filter((n) => n.startsWith('procfail-'))).toEqual([]);
    // The run process comes after the exec, so it never started.
    expect(existsSync('/run/netlab/procfail/processes.json') ? record('procfail').filter((e) => e.mode === 'run') : []).toEqual([]);
    expect((await netlab(['destroy', '--lab', 'procfail'])).code).toBe(0);
  });

  it("commands run in the lab file's directory, told it in NETLAB_LAB_DIR, and find files next to the lab", async () => {
    const file = labFile(
      'procdir',
      `name: procdir
hosts:
  a:
    exec:
      - { name: where, command: "pwd; echo $NETLAB_LAB_DIR; cat ./marker.txt" }
`,
    );
    const dir = dirname(file);
    writeFileSync(join(dir, 'marker.txt'), 'next to the lab\n');
    // From another working directory: the lab's own directory counts, not netlab's.
    const r = await execa('node', [NETLAB, 'apply', file], { cwd: tmpdir(), reject: false });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    const log = readFileSync('/run/netlab/procdir/logs/a-where.log', 'utf8').trim().split('\n').slice(-3);
    expect(log).toEqual([dir, dir, 'next to the lab']);
    expect((await netlab(['destroy', file])).code).toBe(0);
  });

  it('a process in an attached namespace is tracked and stopped the same way', async () => {
    await sh('ip', ['netns', 'add', 'ext-proc']);
    try {
      const file = labFile(
        'procatt',
        `name: procatt
hosts:
  a:
    interfaces:
      eth0: { link: b:eth0, addresses: [10.52.0.1/24] }
  b:
    netns: { name: ext-proc }
    interfaces:
      eth0: { addresses: [10.52.0.2/24] }
    run:
      - { name: web, command: "exec ${process.execPath} ${HTTPD} --port 8081 --name ext" }
`,
      );
      const r = await netlab(['apply', file]);
      expect(r.code, r.all).toBe(0);
      const reply = await waitFor('the server', () => httpGet('procatt-a', 'http://10.52.0.2:8081/'));
      expect(reply.name).toBe('ext');
      const [web] = record('procatt');
      expect((await sh('ip', ['netns', 'identify', String(web!.pid)])).stdout.trim()).toBe('ext-proc');
      expect((await netlab(['plan', file])).code).toBe(0);
      const gone = await netlab(['destroy', file]);
      expect(gone.code, gone.all).toBe(0);
      expect(startTime(web!.pid)).not.toBe(web!.start);
      expect(await netnsList()).toContain('ext-proc');
    } finally {
      await sh('ip', ['netns', 'del', 'ext-proc']);
    }
  });
});
