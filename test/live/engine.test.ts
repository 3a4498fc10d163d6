// The engine on the real kernel, inside the sandbox: apply, verify, re-apply, change, destroy,
// kernel failure with rollback, SIGKILL mid-apply, and foreign objects left alone.
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { labFile, netlab, NETLAB, starLab } from './cli.js';
import { inNs, sandboxSkipReason, sh } from './sandbox.js';

async function netnsList(): Promise<string[]> {
  const r = await sh('ip', ['-j', 'netns', 'list']);
  return (JSON.parse(r.stdout || '[]') as { name: string }[]).map((n) => n.name).sort();
}

describe.skipIf(sandboxSkipReason !== null)('engine on the real kernel', () => {
  it('apply -> verify -> re-apply (0 steps) -> change -> apply (only the difference) -> destroy', async () => {
    const file = labFile('docker', readFileSync('labs/docker-bridge.yaml', 'utf8'));
    const first = await netlab(['apply', file]);
    expect(first.code, first.all).toBe(0);
    expect(await netnsList()).toEqual(['docker-db', 'docker-host', 'docker-internet', 'docker-web']);
    await inNs('docker-web', 'ping', ['-c', '1', '-W', '2', '172.17.0.3']);
    await inNs('docker-web', 'ping', ['-c', '1', '-W', '2', '172.17.0.1']);

    const again = await netlab(['apply', file]);
    expect(again.code, again.all).toBe(0);
    expect(again.stdout).toContain('no changes');
    expect((await netlab(['plan', file])).code).toBe(0);

    const macBefore = (await inNs('docker-web', 'cat', ['/sys/class/net/eth0/address'])).stdout;
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('eth0: { addresses: [172.17.0.3/16] }', 'eth0: { addresses: [172.17.0.4/16], mtu: 1400 }'),
    );
    const planned = await netlab(['plan', '--json', file]);
    expect(planned.code).toBe(2);
    const steps = (JSON.parse(planned.stdout) as { labs: { steps: { objects: string[]; op: string }[] }[] }).labs[0]!.steps;
    expect(steps.length).toBeGreaterThan(0);
    // Only db and its veth peer (a pair keeps one MTU) are touched.
    expect(steps.flatMap((s) => s.objects).every((id) => id.includes('docker-db') || id.startsWith('link:docker-host/veth'))).toBe(true);
    const changed = await netlab(['apply', file]);
    expect(changed.code, changed.all).toBe(0);
    await inNs('docker-web', 'ping', ['-c', '1', '-W', '2', '172.17.0.4']);
    expect((await inNs('docker-db', 'cat', ['/sys/class/net/eth0/mtu'])).stdout).toBe('1400');
    // Unrelated objects were not recreated: web's veth keeps its MAC and ifindex-derived state.
    expect((await inNs('docker-web', 'cat', ['/sys/class/net/eth0/address'])).stdout).toBe(macBefore);

    const status = await netlab(['status', '--lab', 'docker']);
    expect(status.code, status.all).toBe(0);

    const gone = await netlab(['destroy', file]);
    expect(gone.code, gone.all).toBe(0);
    expect((await netnsList()).filter((n) => n.startsWith('docker-'))).toEqual([]);
    expect(existsSync('/run/netlab/docker')).toBe(false);
  });

  it('destroy works when the lab file is gone', async () => {
    const file = labFile('gone', starLab('gone', 3));
    expect((await netlab(['apply', file])).code).toBe(0);
    const r = await netlab(['destroy', '--lab', 'gone']);
    expect(r.code, r.all).toBe(0);
    expect((await netnsList()).filter((n) => n.startsWith('gone-'))).toEqual([]);
  });

  it('a kernel failure mid-apply rolls back to the state before the run and names step, command and kernel message', async () => {
    // The lab attaches to a namespace the test owns; the test puts a route there that the lab
    // also wants, so `ip route add` fails in the kernel after earlier steps succeeded.
    await sh('ip', ['netns', 'add', 'ext']);
    try {
      await sh('ip', ['-n', 'ext', 'link', 'set', 'lo', 'up']);
      await sh('ip', ['-n', 'ext', 'route', 'add', 'blackhole', '10.99.0.0/24']);
      const lab = [
        'name: fail',
        'hosts:',
        '  a:',
        '    interfaces:',
        '      eth0: { addresses: [10.20.0.1/24] }',
        '  b:',
        '    netns: { name: ext }',
        '    interfaces:',
        '      eth0: { addresses: [10.20.0.2/24] }',
        '    routes:',
        '      - { to: 10.99.0.0/24, via: 10.20.0.1 }',
        'links:',
        '  - { a: a:eth0, b: b:eth0 }',
      ].join('\n');
      const file = labFile('fail', lab);
      const beforeLinks = (await sh('ip', ['-n', 'ext', '-j', 'link', 'show'])).stdout;
      const r = await netlab(['apply', file]);
      expect(r.code, r.all).toBe(1);
      expect(r.stderr).toContain('rolled back');
      expect(r.stderr).toMatch(/route 10\.99\.0\.0\/24/);
      expect(r.stderr).toContain('route add 10.99.0.0/24');
      expect(r.stderr).toMatch(/File exists/);
      expect((await netnsList()).filter((n) => n.startsWith('fail-'))).toEqual([]);
      expect((await sh('ip', ['-n', 'ext', '-j', 'link', 'show'])).stdout).toBe(beforeLinks);
      expect((await sh('ip', ['-n', 'ext', 'route', 'show'])).stdout).toContain('blackhole 10.99.0.0/24');
      expect(existsSync('/run/netlab/fail/journal.json')).toBe(false);
    } finally {
      await sh('ip', ['netns', 'del', 'ext']);
    }
  });

  it('SIGKILL mid-apply, then gc: nothing of the lab is left', async () => {
    const file = labFile('crash', starLab('crash', 80));
    const child = execa('node', [NETLAB, 'apply', file], { reject: false });
    // Kill once the run has started changing the kernel.
    for (let i = 0; i < 400 && !(await netnsList()).some((n) => n.startsWith('crash-')); i++) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await child;
    expect(existsSync('/run/netlab/crash/journal.json')).toBe(true);
    const r = await netlab(['gc', '--yes']);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toContain('crash');
    expect((await netnsList()).filter((n) => n.startsWith('crash-'))).toEqual([]);
    const d = await netlab(['destroy', '--lab', 'crash']);
    expect(d.code).toBe(0);
    expect(existsSync('/run/netlab/crash')).toBe(false);
  });

  it('a foreign interface or namespace with a colliding name is never touched', async () => {
    await sh('ip', ['netns', 'add', 'coll-a']);
    try {
      await sh('ip', ['-n', 'coll-a', 'link', 'add', 'name', 'keepme', 'type', 'bridge']);
      const file = labFile(
        'coll',
        starLab('coll', 2)
          .replace('  hub:', '  a:')
          .replace(/hub:br0/g, 'a:br0'),
      );
      const r = await netlab(['apply', file]);
      expect(r.code, r.all).toBe(1);
      expect(r.stderr).toMatch(/netns coll-a.*not created by this lab/);
      expect((await sh('ip', ['-n', 'coll-a', 'link', 'show', 'keepme'])).stdout).toContain('keepme');
      expect((await netnsList()).filter((n) => n.startsWith('coll-') && n !== 'coll-a')).toEqual([]);
      expect((await netlab(['destroy', '--lab', 'coll'])).code).toBe(0);
      expect(await netnsList()).toContain('coll-a');
    } finally {
      await sh('ip', ['netns', 'del', 'coll-a']);
    }
  });

  it('the lab lock: a live holder makes apply fail clearly, a dead one is taken over, concurrent applies never corrupt', async () => {
    const file = labFile('lock', starLab('lock', 40));
    mkdirSync('/run/netlab/lock', { recursive: true });
    writeFileSync('/run/netlab/lock/lock', `${process.pid}\n`);
    const busy = await netlab(['apply', file]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain(`lab "lock" is locked by another netlab process (pid ${process.pid})`);
    expect((await netnsList()).filter((n) => n.startsWith('lock-'))).toEqual([]);
    // A lock whose holder is gone (a crashed run) is taken over.
    const dead = await execa('true');
    writeFileSync('/run/netlab/lock/lock', `${dead.pid}\n`);
    expect((await netlab(['apply', file])).code).toBe(0);
    expect((await netlab(['destroy', file])).code).toBe(0);

    // Two at once: one applies; the other either waits its turn out (lock busy, exit 1) or finds nothing to do.
    const [a, b] = await Promise.all([netlab(['apply', file]), netlab(['apply', file])]);
    for (const r of [a, b]) expect(r.code === 0 || /is locked by another netlab process/.test(r.stderr), r.all).toBe(true);
    expect([a.code, b.code]).toContain(0);
    expect((await netlab(['plan', file])).code).toBe(0);
    expect((await netlab(['destroy', file])).code).toBe(0);
  });

  it('SIGTERM during apply stops at the next step boundary and rolls back', async () => {
    const file = labFile('term', starLab('term', 150));
    const child = execa('node', [NETLAB, 'apply', file], { reject: false, forceKillAfterDelay: false });
    for (let i = 0; i < 500 && !(await netnsList()).some((n) => n.startsWith('term-')); i++) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(1);
    expect(r.stderr).toContain('interrupted by SIGTERM');
    expect(r.stderr).toContain('rolled back');
    expect((await netnsList()).filter((n) => n.startsWith('term-'))).toEqual([]);
    expect(existsSync('/run/netlab/term/journal.json')).toBe(false);
  });

  it('apply --plan refuses when the live state changed since the plan was made', async () => {
    const file = labFile('fp', starLab('fp', 2));
    const planFile = `${file}.plan.json`;
    expect((await netlab(['plan', file, '-o', planFile, '--json'])).code).toBe(2);
    expect((await netlab(['apply', file, '--plan', planFile])).code).toBe(0);
    // Same plan again: the kernel changed (the lab exists now), so it is refused.
    const stale = await netlab(['apply', file, '--plan', planFile]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('changed since the plan was made');
    expect((await netlab(['destroy', file])).code).toBe(0);
  });
});
