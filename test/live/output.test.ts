// The CLI's output into a pipe (`netlab plan ... | cat`, a CI step's `| tee`): every byte of a
// multi-megabyte plan arrives, in JSON and in text, and the exit code is the plan's.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { starLabYaml } from '../../src/cli/gen.js';
import { labFile, NETLAB } from './cli.js';
import { sandboxSkipReason } from './sandbox.js';

/** Runs netlab with its stdout piped through cat; the exit code is netlab's (bash's pipefail). */
function throughCat(args: string[]) {
  return execa('bash', ['-o', 'pipefail', '-c', 'node "$@" | cat', 'bash', NETLAB, ...args], {
    reject: false,
    env: { NO_COLOR: '1', NETLAB_SERVE: '0' },
  });
}

describe.skipIf(sandboxSkipReason !== null)('netlab output into a pipe', () => {
  // A lab that is not applied: plan only reads the kernel, and every step is pending.
  const hosts = 2000;
  const file = labFile('pipe', starLabYaml({ name: 'pipe', hosts }));

  it('plan --format json gives the whole plan document', async () => {
    const r = await throughCat(['plan', '--format', 'json', file]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stdout.length).toBeGreaterThan(2_000_000);
    const doc = JSON.parse(r.stdout) as { labs: { lab: string; steps: unknown[] }[] };
    expect(doc.labs.map((l) => l.lab)).toEqual(['pipe']);
    expect(doc.labs[0]!.steps.length).toBeGreaterThan(hosts);
  });

  it('plan in text gives every step', async () => {
    const r = await throughCat(['plan', file]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stdout.length).toBeGreaterThan(1_000_000);
    // The default route of each host: among the last steps of the plan.
    expect(r.stdout.match(/^ {2}\+ create route default in pipe-h\d+ +missing$/gm)).toHaveLength(hosts);
  });
});
