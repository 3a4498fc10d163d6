// Scale on the real kernel, inside the sandbox: a generated star of 500 hosts applies and
// verifies, every host reaches the hub's bridge address, a re-apply has nothing to do, and
// destroy leaves nothing. Times are not asserted here (npm run bench measures them).
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runJobs } from '../../src/driver/runner.js';
import { labFile, netlab } from './cli.js';
import { sandboxSkipReason } from './sandbox.js';

const HOSTS = 500;
const LAB = 'scale';

function labNamespaces(): string[] {
  return readdirSync('/run/netns').filter((n) => n.startsWith(`${LAB}-`));
}

/** Pings the hub from every host's namespace: -c1 -W1, many at once, from one helper process. */
async function unreachableHosts(hosts: string[]): Promise<string[]> {
  const results = await runJobs(
    hosts.map((h) => ({ ns: `${LAB}-${h}`, argv: ['ping', '-n', '-q', '-c', '1', '-W', '1', '10.10.0.1'] })),
    { concurrency: 32, netnsDir: '/run/netns' },
  );
  return hosts.filter((_, i) => results[i]!.exitCode !== 0);
}

describe.skipIf(sandboxSkipReason !== null)(`a star of ${HOSTS} hosts`, () => {
  it(
    'applies and verifies, every host pings the bridge, re-applies with no change, destroys to nothing',
    { timeout: 300_000 },
    async () => {
      const gen = await netlab(['gen', '--hosts', String(HOSTS), '--name', LAB]);
      expect(gen.code, gen.all).toBe(0);
      const file = labFile(LAB, gen.stdout);
      expect((await netlab(['validate', file])).code).toBe(0);
      try {
        const applied = await netlab(['apply', '--yes', file]);
        expect(applied.code, applied.all).toBe(0);
        expect(applied.stdout).toMatch(/applied \d+ steps .* and verified/);
        expect(labNamespaces()).toHaveLength(HOSTS + 1);

        const hosts = Array.from({ length: HOSTS }, (_, i) => `h${i + 1}`);
        // A first ping may lose its ARP race on a busy machine: ask the ones that failed once more.
        let failed = await unreachableHosts(hosts);
        if (failed.length) failed = await unreachableHosts(failed);
        expect(failed).toEqual([]);

        const again = await netlab(['apply', '--yes', file]);
        expect(again.code, again.all).toBe(0);
        expect(again.stdout).toContain('no changes');
      } finally {
        const gone = await netlab(['destroy', '--yes', file]);
        expect(gone.code, gone.all).toBe(0);
      }
      expect(labNamespaces()).toEqual([]);
      expect(existsSync(`/run/netlab/${LAB}`)).toBe(false);
    },
  );
});
