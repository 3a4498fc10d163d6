// `netlab ui` on a coordinator reads the record of a lab's machines from the state directory,
// which is input like any other: a record whose lab file is not an absolute path, or whose ssh
// target is not one the lab language allows, is refused before any ssh runs.
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const NETLAB = join(import.meta.dirname, '../../dist/cli/netlab.js');
let base = '';
let state = '';

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'netlab-ui-record-'));
  state = join(base, 'state');
  mkdirSync(join(state, '.machines'), { recursive: true, mode: 0o700 });
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

function record(lab: string, body: object) {
  writeFileSync(join(state, '.machines', `${lab}.json`), JSON.stringify({ lab, phase: 'committed', ...body }));
}

/** `netlab ui LAB`; a server that starts instead of refusing is stopped by the timeout (and fails the test). */
async function ui(lab: string) {
  const r = await execa('node', [NETLAB, 'ui', lab, '--listen', '127.0.0.1:0'], {
    reject: false,
    input: '',
    timeout: 20_000,
    env: { NO_COLOR: '1', NETLAB_STATE_DIR: state, NETLAB_SERVE: '0' },
  });
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

describe('netlab ui of a lab across machines, its record checked', { timeout: 30_000 }, () => {
  it('refuses a record whose lab file is not an absolute path', async () => {
    record('rel', { machines: [{ name: 'm1', ssh: { user: 'root', host: '192.0.2.1', port: null, identity: null } }], file: 'lab.yaml' });
    const r = await ui('rel');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the record of the machines of lab "rel" is not one netlab wrote/);
    expect(r.stdout).toBe('');
  });

  it('refuses a record whose ssh target would be an option of ssh', async () => {
    record('opt', { machines: [{ name: 'm1', ssh: { user: null, host: '-oProxyCommand=x', port: null, identity: null } }] });
    const r = await ui('opt');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/machine "m1": SSH host "-oProxyCommand=x" must be a host name/);
    expect(r.stdout).toBe('');
  });
});
