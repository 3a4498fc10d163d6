// Recovery never races a live run: gc (and every command that recovers) holds the lab's lock and
// rolls back only a run whose owner is dead. The apply is frozen with SIGSTOP once its journal
// exists, so gc certainly runs while it is alive mid-run.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
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

describe.skipIf(sandboxSkipReason !== null)('recovery and a live run', () => {
  it('gc leaves a running apply alone; the apply then finishes and is true', async () => {
    const file = labFile('race', starLab('race', 200));
    const apply = execa('node', [NETLAB, 'apply', '--yes', file], { reject: false, input: '', env: { NO_COLOR: '1', NETLAB_SERVE: '0' } });
    await until('the apply journal', () => existsSync('/run/netlab/race/journal.json'));
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
    const file = labFile('phantom', starLab('phantom', 50));
    const apply = execa('node', [NETLAB, 'apply', '--yes', file], { reject: false, input: '', env: { NO_COLOR: '1', NETLAB_SERVE: '0' } });
    await until('the apply journal', () => existsSync('/run/netlab/phantom/journal.json'));
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
});
