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

describe('commands on a lab that is not applied', () => {
  const lab = () => {
    const file = join(base, 'lab.yaml');
    writeFileSync(
      file,
      'name: lone\nhosts:\n  a: { interfaces: { eth0: { addresses: [10.0.0.1/24] } } }\n  b: { interfaces: { eth0: { addresses: [10.0.0.2/24] } } }\nlinks:\n  - { a: a:eth0, b: b:eth0 }\nexpect:\n  - a -> b reachable\n  - b -> a reachable\n  - a -> b:80 tcp unreachable\n',
    );
    return file;
  };
  it('status --lab of an unknown lab is an error naming the labs there are', async () => {
    mkdirSync(join(state, 'known'), { recursive: true, mode: 0o700 });
    writeFileSync(join(state, 'known', 'state.json'), JSON.stringify({ lab: 'known', scope: [], desired: [] }), { mode: 0o600 });
    const r = await netlab('status', '--lab', 'nosuch');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('lab "nosuch" is not applied on this machine');
    expect(r.stderr).toContain('labs on this machine: known');
  });
  it('inspect does not suggest --file, which it does not take', async () => {
    const r = await netlab('inspect', 'nosuch');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not applied');
    expect(r.stderr).not.toContain('--file');
  });
  it('test says "not applied" once, not under every assertion', async () => {
    const r = await netlab('test', lab());
    expect(r.code).toBe(1);
    expect(r.stdout.split('is not applied on this machine').length - 1).toBe(1);
    expect(r.stdout).toContain('0 passed, 3 failed');
  });
});

describe('exec without --', () => {
  it('takes everything after HOST as the command, options and all', async () => {
    const { withExecSeparator } = await import('../../src/cli/main.js');
    const argv = (s: string) => ['node', 'netlab', ...s.split(' ')];
    expect(withExecSeparator(argv('exec docker web ip -br addr'))).toEqual(argv('exec docker web -- ip -br addr'));
    expect(withExecSeparator(argv('-q exec --file f.yaml docker web ip -br addr'))).toEqual(
      argv('-q exec --file f.yaml docker web -- ip -br addr'),
    );
    expect(withExecSeparator(argv('exec docker web -- ip -br addr'))).toEqual(argv('exec docker web -- ip -br addr'));
    expect(withExecSeparator(argv('exec docker web'))).toEqual(argv('exec docker web'));
    expect(withExecSeparator(argv('apply -v lab.yaml'))).toEqual(argv('apply -v lab.yaml'));
  });
  it('reaches the command: an unknown lab is the error, not an unknown option', async () => {
    const r = await netlab('exec', 'nosuch', 'web', 'ip', '-br', 'addr');
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('unknown option');
    expect(r.stderr).toContain('lab "nosuch" is not applied');
  });
});
