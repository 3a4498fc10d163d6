// What a command loads when no lab spans machines: the coordinator brings execa, the ssh
// transport and the lab language, a start-up cost that status, gc or destroy of a lab on one
// machine must not pay. Watched by a loader hook on the built CLI, so `await import` counts too.
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const NETLAB = join(ROOT, 'dist/cli/netlab.js');
const HOOK = join(ROOT, 'test/fixtures/record-loads.mjs');
const base = mkdtempSync(join(tmpdir(), 'netlab-startup-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** The dist/ files (relative) that `netlab ...args` loaded, with an empty state directory. */
async function loadedBy(args: string[]): Promise<string[]> {
  const record = join(base, `loads-${args[0]}`);
  writeFileSync(record, '');
  await execa('node', ['--import', HOOK, NETLAB, ...args], {
    reject: false,
    input: '',
    env: { NO_COLOR: '1', NETLAB_STATE_DIR: join(base, 'state'), NETLAB_SERVE: '0', NETLAB_RECORD_LOADS: record },
  });
  const dist = `file://${join(ROOT, 'dist')}/`;
  return readFileSync(record, 'utf8')
    .split('\n')
    .filter((u) => u.startsWith(dist))
    .map((u) => u.slice(dist.length));
}

describe('commands on labs of this machine alone', () => {
  it.each([
    ['status'],
    ['gc', '--dry-run'],
    ['inspect', 'nothing'],
    ['destroy', '--yes', '--lab', 'nothing'],
    ['exec', 'nothing', 'h1', 'true'],
    ['logs', 'nothing', 'h1'],
    ['capture', 'nothing', 'h1:eth0'],
  ])('netlab %s does not load the machines coordinator', async (...args) => {
    const loaded = await loadedBy(args);
    // The hook saw the command itself, so an empty list is not a blind one.
    expect(loaded).toContain('cli/main.js');
    expect(loaded.filter((f) => f.startsWith('machines/') || f.startsWith('cli/across-view') || f === 'cli/across-gc.js')).toEqual([]);
  });
});
