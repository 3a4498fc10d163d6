// What the CLI does with lab names and an empty state directory: a name is never a path, and
// nothing to destroy is success (a CI cleanup step after a run that never applied).
import { execa } from 'execa';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const NETLAB = join(import.meta.dirname, '../../dist/cli/netlab.js');
let base = '';
let state = '';

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'netlab-cli-state-'));
  state = join(base, 'state');
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

async function netlab(...args: string[]) {
  const r = await execa('node', [NETLAB, ...args], {
    reject: false,
    input: '',
    env: { NO_COLOR: '1', NETLAB_STATE_DIR: state, NETLAB_SERVE: '0' },
  });
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

describe('destroy --lab takes lab names, never paths', () => {
  it.each(['../victim', '..', '', 'a/b'])('refuses --lab %j and deletes nothing', async (name) => {
    mkdirSync(join(base, 'victim'));
    writeFileSync(join(base, 'victim', 'keep'), 'x');
    mkdirSync(join(state, 'other'), { recursive: true, mode: 0o700 });
    writeFileSync(join(state, 'other', 'state.json'), '{}', { mode: 0o600 });
    const r = await netlab('destroy', '--yes', '--lab', name);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not a lab name');
    expect(existsSync(join(base, 'victim', 'keep'))).toBe(true);
    expect(existsSync(join(state, 'other', 'state.json'))).toBe(true);
  });
});

describe('destroy --all', () => {
  it('with no lab applied is success', async () => {
    const r = await netlab('destroy', '--yes', '--all');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('nothing to destroy');
    const j = await netlab('destroy', '--yes', '--all', '--json');
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual({ labs: [] });
  });
});

describe('an untrusted state directory', () => {
  it('is refused by the commands that change state, with the path and the fix', async () => {
    mkdirSync(state, { mode: 0o777 });
    chmodSync(state, 0o1777);
    const r = await netlab('destroy', '--yes', '--lab', 'lab');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`refusing to use ${state}: it is writable by others`);
    expect(r.stderr).toContain(`chmod 0700 ${state}`);
  });
});
