// Labs across machines over real ssh: each machine a namespace pair of its own running sshd
// (test/live/machines-harness.ts), netlab on the sandbox as the coordinator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NETLAB } from './cli.js';
import { startMachines, type Harness } from './machines-harness.js';
import { sandboxSkipReason } from './sandbox.js';

describe.skipIf(sandboxSkipReason !== null)('machines over ssh', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startMachines(3);
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('reaches every machine by ssh, each with its own namespaces, running the same netlab', async () => {
    const seen = new Set<string>();
    for (const m of h.machines) {
      const v = await h.ssh(m, [process.execPath, NETLAB, '--version']);
      expect(v.code, v.stderr).toBe(0);
      expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
      const ns = await h.ssh(m, ['readlink', '/proc/self/ns/net']);
      seen.add(ns.stdout.trim());
      const addr = await h.ssh(m, ['ip', '-br', 'addr', 'show', 'dev', 'u0']);
      expect(addr.stdout).toContain(m.address);
    }
    expect(seen.size).toBe(3);
  });
});
