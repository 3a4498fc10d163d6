// The hard cases of the transaction across machines, over real ssh: the coordinator killed
// mid-apply, a machine out of reach when the others roll back, a machine with another netlab.
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFile, netlab, NETLAB } from './cli.js';
import { startMachines, type Harness, type TestMachine } from './machines-harness.js';
import { RECORD, snapshot, spanLab, startNetlab, FOREIGN_VXLAN, plantForeignVxlan } from './machines-lab.js';
import { sandboxSkipReason } from './sandbox.js';

/**
 * Checks again until `check` holds: waits for an event that no process announces, such as a file
 * a machine writes. Fails when the run `during` ends first, with its output.
 */
async function until(check: () => Promise<boolean>, during: ReturnType<typeof startNetlab>): Promise<void> {
  let ended = false;
  void during.child.then(() => (ended = true));
  while (!(await check())) {
    if (ended) throw new Error(`netlab ended first: ${(await during.child).all}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether a file on a machine exists and, when given, contains `text`. */
async function hasFile(h: Harness, m: TestMachine, path: string, text?: string): Promise<boolean> {
  if (text === undefined) return (await h.enter(m, 'test', ['-e', path])).code === 0;
  const r = await h.enter(m, 'cat', [path]);
  return r.code === 0 && r.stdout.includes(text);
}

const JOURNAL = '/run/netlab/span/journal.json';

/** The ssh masters whose control sockets are under `tmp` (a coordinator's TMPDIR), with their pids. */
function mastersUnder(tmp: string): { socket: string; pid: number }[] {
  const sockets = readdirSync(tmp)
    .filter((d) => d.startsWith('netlab-ssh-'))
    .flatMap((d) => readdirSync(join(tmp, d)).map((f) => join(tmp, d, f)));
  return sockets.map((socket) => {
    const pids = readdirSync('/proc').filter((p) => {
      if (!/^\d+$/.test(p)) return false;
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv[0] === 'ssh' && argv.includes(`ControlPath=${socket}`) && argv.includes('ControlMaster=yes');
      } catch {
        return false; // ended meanwhile
      }
    });
    expect(pids, socket).toHaveLength(1);
    return { socket, pid: Number(pids[0]) };
  });
}

/** Resolves once process `pid` has ended (gone, or a zombie waiting for its new parent to reap it). */
async function gone(pid: number): Promise<void> {
  for (;;) {
    let state: string;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0]!;
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(sandboxSkipReason !== null)('machines: the transaction when things go wrong', () => {
  let h: Harness;
  let env: Record<string, string>;
  let dir: string;
  const snapshots = () => Promise.all(h.machines.map((m) => snapshot(h, m)));
  beforeAll(async () => {
    h = await startMachines(3);
    env = h.env;
    dir = mkdtempSync(join(tmpdir(), 'netlab-recovery-'));
  });
  afterAll(async () => {
    await h?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finishes every machine with gc after the coordinator is killed mid-apply, its ssh masters gone with it', async () => {
    const m2 = h.machines[1]!;
    const before = await snapshots();
    const file = labFile('span', spanLab(h));
    // The coordinator's own temp directory: its control sockets, and so its masters, are found there.
    const tmp = mkdtempSync(join(dir, 'coord-'));
    const run = startNetlab(['apply', '--yes', file], { ...env, TMPDIR: tmp });
    // A machine has changed something: one of the lab's namespaces exists on m2.
    await until(() => hasFile(h, m2, '/run/netns/span-a2'), run);
    const masters = mastersUnder(tmp);
    expect(masters.map((m) => m.socket.slice(-2)).sort()).toEqual(['c0', 'c1', 'c2']);
    // One connection per machine for the whole run: every call goes over its master.
    for (const m of h.machines) {
      const conns = await h.enter(m, 'ss', ['-Htn', 'state', 'established', '( sport = :22 )']);
      expect(conns.stdout.trim().split('\n'), m.name).toHaveLength(1);
    }
    process.kill(run.child.pid!, 'SIGKILL');
    await run.child;
    // A master that outlived the coordinator would still answer on its socket.
    for (const { socket } of masters) {
      const check = await execa('ssh', ['-F', h.sshConfig, '-o', `ControlPath=${socket}`, '-O', 'check', 'x'], { reject: false });
      expect(check.exitCode, `${socket}: ${check.stderr}`).not.toBe(0);
    }
    await Promise.all(masters.map((m) => gone(m.pid)));
    // The record lists the machines, so gc here reaches all of them.
    expect(JSON.parse(readFileSync(RECORD, 'utf8'))).toMatchObject({ lab: 'span', phase: 'applying' });
    const gc = await netlab(['gc', '--yes'], { env });
    expect(gc.code, gc.all).toBe(0);
    for (const m of h.machines)
      expect(gc.stdout).toMatch(
        new RegExp(`span: ${m.name} \\(root@${m.address.replace(/\./g, '\\.')}\\): (interrupted apply rolled back|nothing to finish)`),
      );
    expect(await snapshots()).toEqual(before);
    expect(existsSync(RECORD)).toBe(false);
  });

  it("removes hosts from the machine they left, and a machine's part when it leaves the lab, in the same transaction", async () => {
    const [m1, m2, m3] = h.machines as [TestMachine, TestMachine, TestMachine];
    const before = await snapshots();
    const original = spanLab(h);
    // a3 and r3 move from m3 to m2: m3 keeps no host.
    const moved = original.replace('a3: { on: m3', 'a3: { on: m2').replace('r3: { on: m3', 'r3: { on: m2');
    // And then m3 is no machine of the lab at all.
    const without = moved.replace(/^ {2}m3: .*\n/m, '');
    expect(without).not.toMatch(/m3/);
    try {
      for (const text of [original, moved, original, without]) {
        const r = await netlab(['apply', '--yes', labFile('span', text)], { env });
        expect(r.code, r.all).toBe(0);
        if (text === original) continue;
        // Nothing of the lab is left on m3, and what moved works where it went.
        expect(await snapshot(h, m3)).toEqual(before[2]);
        for (const [ns, to] of [
          ['span-a3', '10.0.0.1'],
          ['span-r3', '10.9.0.1'],
        ] as const) {
          const p = await h.enter(m2, 'ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', to]);
          expect(p.code, `${ns} -> ${to}: ${p.stdout}`).toBe(0);
        }
        expect(await hasFile(h, m1, '/run/netns/span-a1')).toBe(true);
      }
      expect(JSON.parse(readFileSync(RECORD, 'utf8'))).toMatchObject({ phase: 'committed', machines: [{ name: 'm1' }, { name: 'm2' }] });
      const destroyed = await netlab(['destroy', '--yes', '--lab', 'span'], { env });
      expect(destroyed.code, destroyed.all).toBe(0);
      expect(await snapshots()).toEqual(before);
    } finally {
      await netlab(['destroy', '--yes', labFile('span', original)], { env });
    }
  });

  it('exits 3 naming a machine out of reach during the rollback, and gc finishes it later', async () => {
    const [m1, m2, m3] = h.machines as [TestMachine, TestMachine, TestMachine];
    const file = labFile('span', spanLab(h));
    const plan = await netlab(['plan', file], { env });
    const vni = /segment vxlan (\d+) \(/.exec(plan.stdout)![1]!;
    // m2's apply waits for the test (a FIFO), then fails on a foreign VXLAN with the segment's VNI.
    const fifo = join(dir, 'go');
    await execa('mkfifo', [fifo]);
    const wrapper = join(dir, 'netlab.js');
    writeFileSync(
      wrapper,
      `import { readFileSync } from 'node:fs';\nif (process.argv.includes('apply')) readFileSync(${JSON.stringify(fifo)});\n` +
        `const { main } = await import('./main.js');\nawait main(process.argv);\n`,
    );
    const script = realpathSync(NETLAB);
    expect((await h.enter(m2, 'mount', ['--bind', wrapper, script])).code).toBe(0);
    await plantForeignVxlan(h, m2, vni);
    try {
      const before = await snapshots();
      const run = startNetlab(['apply', '--yes', file], env);
      // m1 and m3 have applied and hold their part; then m3 drops off the underlay, then m2 fails.
      await until(async () => (await hasFile(h, m1, JOURNAL, '"held"')) && (await hasFile(h, m3, JOURNAL, '"held"')), run);
      expect((await h.enter(m3, 'ip', ['link', 'set', 'dev', 'u0', 'down'])).code).toBe(0);
      await writeFile(fifo, 'go\n');
      const r = await run.child;
      expect(r.exitCode, r.all).toBe(3);
      expect(r.all).toMatch(/m2 \(root@198\.18\.0\.2\): apply: /);
      expect(r.all).toMatch(/the rollback did not complete on m3 \(root@198\.18\.0\.3\): rollback: the ssh connection failed/);
      expect(r.all).toMatch(/run `netlab gc` here to finish the rollback/);
      // m1 is back already; m3 keeps its journal.
      expect(await snapshot(h, m1)).toEqual(before[0]);
      expect(await hasFile(h, m3, JOURNAL)).toBe(true);
      expect((await h.enter(m3, 'ip', ['link', 'set', 'dev', 'u0', 'up'])).code).toBe(0);
      const gc = await netlab(['gc', '--yes'], { env });
      expect(gc.code, gc.all).toBe(0);
      expect(gc.stdout).toMatch(/span: m3 \(root@198\.18\.0\.3\): interrupted apply rolled back/);
      expect(await snapshots()).toEqual(before);
      expect(existsSync(RECORD)).toBe(false);
    } finally {
      await h.enter(m3, 'ip', ['link', 'set', 'dev', 'u0', 'up']);
      await h.enter(m2, 'umount', [script]);
      await h.enter(m2, 'ip', ['link', 'del', 'dev', FOREIGN_VXLAN]);
      await netlab(['destroy', '--yes', '--lab', 'span'], { env });
    }
  });

  it('says where each machine stands when a commit fails on one, and gc commits the held part', async () => {
    const [m1, m2] = h.machines as [TestMachine, TestMachine, TestMachine];
    // m2's netlab dies on `machine commit` before committing; every other command runs as usual.
    const wrapper = join(dir, 'no-commit.js');
    writeFileSync(
      wrapper,
      `if (process.argv.includes('commit')) { process.stderr.write('crashed before committing\\n'); process.exitCode = 1; }\n` +
        `else { const { main } = await import('./main.js'); await main(process.argv); }\n`,
    );
    const script = realpathSync(NETLAB);
    const before = await snapshots();
    const file = labFile('span', spanLab(h));
    expect((await h.enter(m2, 'mount', ['--bind', wrapper, script])).code).toBe(0);
    let mounted = true;
    try {
      const r = await netlab(['apply', '--yes', file], { env });
      expect(r.code, r.all).toBe(3);
      expect(r.stderr).toContain('m2 (root@198.18.0.2): commit: netlab gave no answer there: crashed before committing');
      expect(r.stderr).toContain('committed on m1, m3: the new lab is applied and recorded there');
      expect(r.stderr).toContain('on the others the new lab is applied and verified but held in their journal');
      expect(r.stderr).toMatch(/run `netlab gc` here once they are reachable: it commits the held parts/);
      expect(JSON.parse(readFileSync(RECORD, 'utf8'))).toMatchObject({ phase: 'committing' });
      expect(await hasFile(h, m2, JOURNAL, '"held"')).toBe(true);
      await h.enter(m2, 'umount', [script]);
      mounted = false;
      const gc = await netlab(['gc', '--yes'], { env });
      expect(gc.code, gc.all).toBe(0);
      expect(gc.stdout).toMatch(/span: m2 \(root@198\.18\.0\.2\): its held part committed/);
      expect(gc.stdout).toMatch(/span: m1 \(root@198\.18\.0\.1\): nothing to finish/);
      expect(JSON.parse(readFileSync(RECORD, 'utf8'))).toMatchObject({ phase: 'committed' });
      expect(await hasFile(h, m2, JOURNAL)).toBe(false);
      expect(await hasFile(h, m2, '/run/netlab/span/state.json')).toBe(true);
      // Applied on every machine: nothing left to do anywhere.
      const again = await netlab(['plan', file], { env });
      expect(again.code, again.all).toBe(0);
      const p = await h.enter(m1, 'ip', ['netns', 'exec', 'span-a1', 'ping', '-c', '1', '-W', '2', '10.0.0.2']);
      expect(p.code, p.stdout).toBe(0);
      const destroyed = await netlab(['destroy', '--yes', '--lab', 'span'], { env });
      expect(destroyed.code, destroyed.all).toBe(0);
      expect(await snapshots()).toEqual(before);
    } finally {
      if (mounted) await h.enter(m2, 'umount', [script]);
      await netlab(['destroy', '--yes', '--lab', 'span'], { env });
    }
  });

  it('refuses a machine that runs another netlab before anything changes, saying what to install', async () => {
    const m3 = h.machines[2]!;
    const pkgPath = join(realpathSync(join(NETLAB, '../../..')), 'package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string };
    const other = join(dir, 'package.json');
    writeFileSync(other, JSON.stringify({ ...pkg, version: '0.0.1-other' }));
    expect((await h.enter(m3, 'mount', ['--bind', other, pkgPath])).code).toBe(0);
    try {
      const before = await snapshots();
      const file = labFile('span', spanLab(h));
      for (const cmd of [['plan'], ['apply', '--yes']]) {
        const r = await netlab([...cmd, file], { env });
        expect(r.code, r.all).toBe(1);
        expect(r.stderr).toContain(`m3 (root@198.18.0.3) runs netlab 0.0.1-other, this machine ${pkg.version}`);
        expect(r.stderr).toMatch(/nothing was changed/);
        expect(r.stderr).toContain(`install netlab ${pkg.version} on m3`);
      }
      expect(await snapshots()).toEqual(before);
      expect(existsSync(RECORD)).toBe(false);
    } finally {
      await h.enter(m3, 'umount', [pkgPath]);
    }
  });

  it('refuses a machine whose netlab predates labs across machines, saying what to install', async () => {
    const m3 = h.machines[2]!;
    // What an older netlab says to a command it does not know.
    const old = join(dir, 'old-netlab.js');
    writeFileSync(old, `process.stderr.write("error: unknown command 'machine'\\n");\nprocess.exitCode = 1;\n`);
    const script = realpathSync(NETLAB);
    expect((await h.enter(m3, 'mount', ['--bind', old, script])).code).toBe(0);
    try {
      const before = await snapshots();
      const r = await netlab(['apply', '--yes', labFile('span', spanLab(h))], { env });
      expect(r.code, r.all).toBe(1);
      expect(r.stderr).toContain(`m3 (root@198.18.0.3) has no netlab `);
      expect(r.stderr).toContain(`that answers at ${script}: netlab gave no answer there: error: unknown command 'machine'`);
      expect(r.stderr).toMatch(/nothing was changed on any machine/);
      expect(r.stderr).toMatch(/install netlab \S+ on m3 at the same path as here/);
      expect(await snapshots()).toEqual(before);
    } finally {
      await h.enter(m3, 'umount', [script]);
    }
  });
});
