// GitOps on the real kernel: apply --prune by owner, and the watch reconcile loop.
import { execa } from 'execa';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { netlab, NETLAB, starLab } from './cli.js';
import { inNs, sandboxSkipReason, sh } from './sandbox.js';

async function netnsList(): Promise<string[]> {
  return (JSON.parse((await sh('ip', ['-j', 'netns', 'list'])).stdout || '[]') as { name: string }[]).map((n) => n.name);
}

const owned = (name: string, owner: string, n = 1) => `owner: ${owner}\n${starLab(name, n)}`;

async function until(what: string, cond: () => Promise<boolean>, ms: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await cond()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

describe.skipIf(sandboxSkipReason !== null)('gitops', () => {
  it('apply --prune destroys labs of the same owner whose file is gone, and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netlab-repo-'));
    writeFileSync(join(dir, 'pa.yaml'), owned('pa', 'repo1'));
    writeFileSync(join(dir, 'pb.yaml'), owned('pb', 'repo1'));
    const other = join(mkdtempSync(join(tmpdir(), 'netlab-other-')), 'pc.yaml');
    writeFileSync(other, owned('pc', 'repo2'));
    expect((await netlab(['apply', dir])).code).toBe(0);
    expect((await netlab(['apply', other])).code).toBe(0);

    // Without an owner, prune is refused and nothing changes.
    const noOwner = join(mkdtempSync(join(tmpdir(), 'netlab-noowner-')), 'pd.yaml');
    writeFileSync(noOwner, starLab('pd', 1));
    const refused = await netlab(['apply', '--prune', noOwner]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--prune needs an owner');
    expect((await netnsList()).some((n) => n.startsWith('pd-'))).toBe(false);

    renameSync(join(dir, 'pb.yaml'), join(dir, 'pb.yaml.off'));
    const r = await netlab(['apply', '--prune', dir]);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toContain('pb: pruned');
    const ns = await netnsList();
    expect(ns.some((n) => n.startsWith('pb-'))).toBe(false);
    expect(ns.some((n) => n.startsWith('pa-'))).toBe(true);
    expect(ns.some((n) => n.startsWith('pc-'))).toBe(true);
    for (const lab of ['pa', 'pc']) expect((await netlab(['destroy', '--lab', lab])).code).toBe(0);
  });

  it('watch applies edits within 2 s, refuses a broken edit, restores a deleted namespace, and stops on SIGTERM with exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netlab-watch-'));
    const file = join(dir, 'w.yaml');
    writeFileSync(file, starLab('w', 2));
    const child = execa('node', [NETLAB, 'watch', dir, '--interval', '1s', '--json'], { reject: false, forceKillAfterDelay: false });
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await until('first apply', async () => log.includes('"event":"applied"'), 15_000);
      // An edit of an address is applied within 2 s.
      writeFileSync(file, readFileSync(file, 'utf8').replace('10.10.0.3/16', '10.10.0.33/16'));
      const took = await until(
        'edit applied',
        async () => (await inNs('w-h1', 'ip', ['-4', 'addr', 'show', 'eth0'], { reject: false })).stdout.includes('10.10.0.33/16'),
        2000,
      );
      expect(took).toBeLessThan(2000);
      // A broken edit is reported with its position and not applied; the lab stays as it was.
      writeFileSync(file, readFileSync(file, 'utf8').replace('10.10.0.33/16', '10.10.0.33/99'));
      await until('invalid reported', async () => /"event":"invalid".*w\.yaml:\d+:\d+/.test(log), 3000);
      expect((await inNs('w-h1', 'ip', ['-4', 'addr', 'show', 'eth0'])).stdout).toContain('10.10.0.33/16');
      // A namespace deleted behind its back is restored within one interval (from the last good file).
      // (Counted before the deletion: the restore may be applied within one poll of the test.)
      const applied = log.split('"event":"applied"').length;
      await sh('ip', ['netns', 'del', 'w-h2']);
      await until('namespace restored', async () => (await netnsList()).includes('w-h2'), 4000);
      await until('restore applied', async () => log.split('"event":"applied"').length > applied, 4000);
      child.kill('SIGTERM');
      const r = await child;
      expect(r.exitCode, log).toBe(0);
      expect(log).toContain('"event":"stop"');
    } catch (e) {
      // What the loop said is the first thing to read when a wait above timed out.
      throw new Error(`${(e as Error).message}\nwatch log:\n${log}`, { cause: e });
    } finally {
      child.kill('SIGKILL');
      await child;
      await netlab(['destroy', '--lab', 'w']);
    }
  });
});
