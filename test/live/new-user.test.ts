// What a new user ran into on the real kernel: progress on a terminal of 0 columns, counted
// nouns, and a host that does not exist told apart from one without processes.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { labFile, netlab, NETLAB } from './cli.js';
import { sandboxSkipReason } from './sandbox.js';

const pair = (name: string) =>
  `name: ${name}\nhosts:\n  a: { interfaces: { eth0: { addresses: [10.0.0.1/24] } } }\n  b: { interfaces: { eth0: { addresses: [10.0.0.2/24] } } }\nlinks:\n  - { a: a:eth0, b: b:eth0 }\n`;

describe.skipIf(sandboxSkipReason !== null)('a new user on the real kernel', () => {
  it('progress on a terminal of 0 columns is whole lines, not a character per line', async () => {
    const file = labFile('cols', pair('cols'));
    // script gives the command a terminal; without a terminal of its own its size is 0x0.
    const r = await execa('script', ['-qec', `node ${NETLAB} apply --yes ${file}`, '/dev/null'], {
      reject: false,
      input: '',
      env: { NO_COLOR: '1', NETLAB_SERVE: '0', CI: '' },
    });
    expect(r.exitCode, r.stdout).toBe(0);
    const lines = r.stdout.split(/\r?\n/).filter((l) => l.trim());
    expect(
      lines.filter((l) => l.trim().length === 1),
      r.stdout,
    ).toEqual([]);
    expect(r.stdout).toContain('cols: applied');
    expect((await netlab(['destroy', '--yes', '--lab', 'cols'])).code).toBe(0);
  });

  it('one step is "1 step"; logs of a host that does not exist says so', async () => {
    const file = labFile('words', pair('words'));
    expect((await netlab(['apply', '--yes', file])).code).toBe(0);
    const one = labFile('words', pair('words').replace('10.0.0.2/24]', '10.0.0.2/24, 10.0.0.3/24]'));
    const r = await netlab(['apply', '--yes', one]);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(/applied 1 step \(/);
    const logs = await netlab(['logs', 'words', 'nosuch']);
    expect(logs.code).toBe(1);
    expect(logs.stderr).toContain('host "nosuch" is not in lab "words"');
    expect(logs.stderr).not.toContain('has no processes');
    expect((await netlab(['destroy', '--yes', '--lab', 'words'])).code).toBe(0);
  });
});
