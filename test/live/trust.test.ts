// Recovery never races a live run: gc (and every command that recovers) holds the lab's lock and
// rolls back only a run whose owner is dead. The apply is frozen with SIGSTOP once its journal
// exists, so gc certainly runs while it is alive mid-run.
import { execa } from 'execa';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { labFile, netlab, NETLAB, starLab } from './cli.js';
import { sandboxSkipReason, sh } from './sandbox.js';

async function labNamespaces(prefix: string): Promise<string[]> {
  const r = await sh('ip', ['-j', 'netns', 'list']);
  return (JSON.parse(r.stdout || '[]') as { name: string }[]).map((n) => n.name).filter((n) => n.startsWith(prefix));
}

/** Waits until `path` exists (the event a test needs), or fails after `ms`. */
async function until(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Starts a first apply of a star lab of `hosts` hosts; returns it once its journal exists (it is changing the kernel). */
async function applyUntilJournal(lab: string, hosts: number) {
  const file = labFile(lab, starLab(lab, hosts));
  const apply = execa('node', [NETLAB, 'apply', '--yes', file], { reject: false, input: '', env: { NO_COLOR: '1', NETLAB_SERVE: '0' } });
  await until('the apply journal', () => existsSync(`/run/netlab/${lab}/journal.json`));
  // Wrapped: the process is a promise, and an async function would wait for it to end.
  return { apply };
}

describe.skipIf(sandboxSkipReason !== null)('recovery and a live run', () => {
  it('gc leaves a running apply alone; the apply then finishes and is true', async () => {
    const { apply } = await applyUntilJournal('race', 200);
    process.kill(apply.pid!, 'SIGSTOP');
    let gc;
    try {
      gc = await netlab(['gc', '--yes'], { env: { NETLAB_SERVE: '0' } });
    } finally {
      process.kill(apply.pid!, 'SIGCONT');
    }
    expect(gc.code, gc.all).toBe(0);
    expect(gc.stdout).toContain(`race: left alone`);
    expect(gc.all).not.toContain('rolled back');
    const done = await apply;
    expect(done.exitCode, `${done.stdout}\n${done.stderr}`).toBe(0);
    expect(done.stdout).toContain('applied');
    expect(await labNamespaces('race-')).toHaveLength(201);
    expect((await netlab(['destroy', '--yes', '--lab', 'race'])).code).toBe(0);
    expect(await labNamespaces('race-')).toEqual([]);
  });

  it('a first apply killed mid-run: gc rolls it back and leaves no state of the lab', async () => {
    const { apply } = await applyUntilJournal('phantom', 50);
    process.kill(apply.pid!, 'SIGKILL');
    await apply;
    const gc = await netlab(['gc', '--yes'], { env: { NETLAB_SERVE: '0' } });
    expect(gc.code, gc.all).toBe(0);
    expect(gc.stdout).toContain('phantom: interrupted run rolled back');
    expect(await labNamespaces('phantom-')).toEqual([]);
    expect(existsSync('/run/netlab/phantom')).toBe(false);
    const status = await netlab(['status', '--json']);
    expect(status.stdout).not.toContain('phantom');
  });

  it("a record forged by nobody in a world-writable state directory is never believed: destroy --all leaves the user's table and rule", async () => {
    const ns = 'trust-shared';
    const nsExec = (...args: string[]) => sh('ip', ['netns', 'exec', ns, ...args]);
    await sh('ip', ['netns', 'add', ns]);
    try {
      // A real record of a lab with a table and a rule in a namespace it shares, kept aside.
      const file = labFile(
        'forge',
        [
          'name: forge',
          'hosts:',
          '  gw:',
          `    netns: { name: ${ns} }`,
          '    routing_policy: [{ priority: 310, from: 10.91.0.0/16, table: 310 }]',
          '    firewall: { default: deny, rules: [{ action: allow, from: 10.91.0.0/24 }] }',
          '    interfaces: { eth0: { addresses: [10.91.0.1/24] } }',
          '  peer:',
          '    interfaces: { eth0: { addresses: [10.91.0.2/24] } }',
          'links: [{ a: gw:eth0, b: peer:eth0 }]',
          '',
        ].join('\n'),
      );
      expect((await netlab(['apply', '--yes', file])).code).toBe(0);
      const record = readFileSync('/run/netlab/forge/state.json', 'utf8');
      expect((await netlab(['destroy', '--yes', '--lab', 'forge'])).code).toBe(0);
      // The user's own table and rule of the same names.
      await sh('ip', ['-n', ns, 'rule', 'add', 'priority', '310', 'from', '10.91.0.0/16', 'table', '310']);
      await nsExec('nft', 'add table inet netlab_forge; add chain inet netlab_forge mine');
      // The state directory open to all (a tmpfs mounted 1777); nobody plants the record.
      const mode = statSync('/run/netlab').mode & 0o7777;
      chmodSync('/run/netlab', 0o1777);
      try {
        await sh(
          'setpriv',
          ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', 'mkdir /run/netlab/forge && cat > /run/netlab/forge/state.json'],
          {
            input: record,
          },
        );
        const r = await netlab(['destroy', '--yes', '--all']);
        expect(r.code, r.all).toBe(1);
        expect(r.stderr).toContain('refusing to use /run/netlab: it is writable by others');
        expect(r.stderr).toContain('chmod 0700 /run/netlab');
        // With the directory fixed, the planted lab directory (nobody's) is still refused.
        chmodSync('/run/netlab', 0o700);
        const again = await netlab(['destroy', '--yes', '--all']);
        expect(again.code, again.all).toBe(1);
        expect(again.stderr).toContain('owned by uid 65534');
      } finally {
        chmodSync('/run/netlab', mode);
        await sh('rm', ['-rf', '/run/netlab/forge']);
      }
      expect((await sh('ip', ['-n', ns, 'rule', 'show', 'priority', '310'])).stdout).toContain('10.91.0.0/16');
      expect((await nsExec('nft', 'list', 'table', 'inet', 'netlab_forge')).stdout).toContain('chain mine');
    } finally {
      await sh('ip', ['netns', 'del', ns]);
    }
  });
});
