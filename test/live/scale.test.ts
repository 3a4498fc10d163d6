// Scale on the real kernel, inside the sandbox: a generated star of 500 hosts applies and
// verifies, every host reaches the hub's bridge address, a re-apply has nothing to do, and
// destroy leaves nothing. Times are not asserted here (npm run bench measures them).
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runJobs } from '../../src/driver/runner.js';
import { labFile, netlab } from './cli.js';
import { inNs, sandboxSkipReason } from './sandbox.js';
import { reply, startServer, stopServers } from './tcp.js';

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

describe.skipIf(sandboxSkipReason !== null)('500 published ports and a 100-backend service on one hub', () => {
  it(
    'loads as map lookups; published ports reach their hosts from the hub, from another host and by hairpin; re-apply has no changes',
    { timeout: 300_000 },
    async () => {
      const lab = 'scalenat';
      const gen = await netlab(['gen', '--hosts', '100', '--dnat', '500', '--backends', '100', '--name', lab]);
      expect(gen.code, gen.all).toBe(0);
      const file = labFile(lab, gen.stdout);
      try {
        const applied = await netlab(['apply', '--yes', file]);
        expect(applied.code, applied.all).toBe(0);
        // Long runs of published ports and hairpins are one lookup each, not 500 rules.
        const listing = (await inNs(`${lab}-hub`, 'nft', ['list', 'table', 'inet', `netlab_${lab}`])).stdout;
        expect(listing).toMatch(/dnat ip to tcp dport map \{ 10000 : 10\.10\.0\.2 \. 80, /);
        expect((listing.match(/comment "nl:/g) ?? []).length).toBeLessThan(20);
        // Port 10000 + j goes to host h(j % 100 + 1), port 80 + floor(j / 100).
        await startServer(`${lab}-h1`, 'h1', [80, 84]);
        await startServer(`${lab}-h50`, 'h50', [82]);
        // From the hub itself (output chain), first and last runs of the map.
        expect((await reply(`${lab}-hub`, '10.10.0.1:10000')).name).toBe('h1');
        expect((await reply(`${lab}-hub`, '10.10.0.1:10400')).name).toBe('h1');
        // From another host on the bridge (prerouting), answered through the hub (hairpin masquerade).
        const viaHub = await reply(`${lab}-h7`, '10.10.0.1:10249');
        expect(viaHub.name).toBe('h50');
        // A container reaching its own published port comes back to itself masqueraded to the hub.
        const self = await reply(`${lab}-h1`, '10.10.0.1:10000');
        expect(self.name).toBe('h1');
        expect(self.peer.replace(/^::ffff:/, '').replace(/:\d+$/, '')).toBe('10.10.0.1');
        const again = await netlab(['apply', '--yes', file]);
        expect(again.code, again.all).toBe(0);
        expect(again.stdout).toContain('no changes');
      } finally {
        await stopServers();
        const gone = await netlab(['destroy', '--yes', file]);
        expect(gone.code, gone.all).toBe(0);
      }
    },
  );
});
