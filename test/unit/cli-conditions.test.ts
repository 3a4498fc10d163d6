// `netlab link` and `netlab capture` as users run them (the built dist/), where no kernel is
// needed: bad values, a lab that is not applied, tcpdump missing; and conditions in `validate`.
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const NETLAB = join(import.meta.dirname, '../../dist/cli/netlab.js');
const state = mkdtempSync(join(tmpdir(), 'netlab-cli-state-'));
afterAll(() => rmSync(state, { recursive: true, force: true }));

async function netlab(args: string[], env: Record<string, string> = {}) {
  const r = await execa('node', [NETLAB, ...args], {
    reject: false,
    env: { NO_COLOR: '1', NETLAB_STATE_DIR: state, ...env },
    input: '',
  });
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

describe('netlab link and capture without a kernel', () => {
  it('capture without tcpdump says how to install it, exit 1', async () => {
    const r = await netlab(['capture', 'lab', 'web:eth0'], { NETLAB_TCPDUMP: '/nonexistent/tcpdump' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('tcpdump: is not installed');
    expect(r.stderr).toContain('fix: apt-get install tcpdump');
  });

  it('link refuses values it cannot read, before looking at any lab', async () => {
    const rate = await netlab(['link', 'lab', 'web:eth0', '--rate', '10mbps']);
    expect(rate.code).toBe(1);
    expect(rate.stderr).toContain('--rate "10mbps" is not a rate in bits per second like 10mbit');
    const delay = await netlab(['link', 'lab', 'web:eth0', '--delay', '100']);
    expect(delay.stderr).toContain('--delay "100" is not a duration like 50ms');
    const state = await netlab(['link', 'lab', 'web:eth0', 'sideways']);
    expect(state.code).toBe(1);
    expect(state.stderr).toContain('state must be up or down (got "sideways")');
  });

  it('link and capture on a lab that is not applied say so', async () => {
    for (const args of [
      ['link', 'nolab', 'web:eth0', 'down'],
      ['capture', 'nolab', 'web:eth0'],
    ]) {
      const r = await netlab(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain('lab "nolab" is not applied on this machine');
    }
    expect((await netlab(['link', 'nolab', 'web'])).stderr).toContain('"web" is not HOST:IF (e.g. web:eth0)');
  });

  it('link --help says it is a runtime override that apply reverts', async () => {
    const r = await netlab(['link', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('a runtime override that status and plan show as drift and the next apply reverts');
  });

  it('validate reports conditions with file, line and column', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'netlab-cli-')), 'lab.yaml');
    writeFileSync(
      file,
      [
        'name: c',
        'hosts:',
        '  a: { interfaces: { eth0: { addresses: [10.0.0.1/24] } } }',
        '  b: { interfaces: { eth0: { addresses: [10.0.0.2/24] } } }',
        'links:',
        '  - { a: a:eth0, b: b:eth0, conditions: { rate: 10mbit, jitter: 5ms } }',
        '',
      ].join('\n'),
    );
    const r = await netlab(['validate', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:6:57: links[0].conditions.jitter: jitter needs a delay`);
  });
});
