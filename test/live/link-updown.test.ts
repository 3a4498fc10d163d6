// `netlab link down` then `up` on the real kernel: setting an interface down makes the kernel drop
// the routes through it (and its IPv6 addresses, and its static neighbours); `up` must bring back
// what the lab declares on that interface, so the lab is in sync again, default route included.
import { afterAll, describe, expect, it } from 'vitest';
import { labFile, netlab } from './cli.js';
import { inNs, sandboxSkipReason } from './sandbox.js';

const LAB = [
  'name: updown',
  'hosts:',
  '  gw:',
  '    sysctls: { net.ipv4.ip_forward: 1 }',
  '    interfaces:',
  '      eth0: { addresses: [10.62.0.1/24, fd62::1/64] }',
  '  a:',
  '    interfaces:',
  '      eth0:',
  '        addresses: [10.62.0.2/24, fd62::2/64]',
  '        neighbours: [{ address: 10.62.0.9, mac: 02:00:00:00:00:09 }]',
  '    routes:',
  '      - { to: default, via: 10.62.0.1 }',
  '      - { to: 10.99.0.0/16, via: 10.62.0.1, metric: 50 }',
  '      - { to: default, via: "fd62::1" }',
  'links:',
  '  - { a: gw:eth0, b: a:eth0 }',
  '',
].join('\n');

async function routes(family: '-4' | '-6'): Promise<string[]> {
  const r = await inNs('updown-a', 'ip', [family, 'route', 'show']);
  return r.stdout
    .split('\n')
    .filter((l) => l.includes('via'))
    .map((l) => l.trim());
}

describe.skipIf(sandboxSkipReason)('netlab link down/up', () => {
  const file = labFile('updown', LAB);
  afterAll(async () => {
    await netlab(['destroy', '--yes', file]);
  });

  it('brings back the routes, addresses and neighbours the lab declares on the interface', async () => {
    const applied = await netlab(['apply', '--yes', file]);
    expect(applied.code, applied.all).toBe(0);
    const before4 = await routes('-4');
    expect(before4).toContain('default via 10.62.0.1 dev eth0');
    const before6 = await routes('-6');
    expect(before6.join('\n')).toContain('default via fd62::1 dev eth0');

    const down = await netlab(['link', 'updown', 'a:eth0', 'down']);
    expect(down.code, down.all).toBe(0);
    // The kernel's part, which is why `up` has something to do.
    expect(await routes('-4')).toEqual([]);

    const up = await netlab(['link', 'updown', 'a:eth0', 'up']);
    expect(up.code, up.all).toBe(0);
    expect(up.stdout).toContain('restored route default in updown-a');
    expect(await routes('-4')).toEqual(before4);
    expect(await routes('-6')).toEqual(before6);
    const ping = await inNs('updown-a', 'ping', ['-c1', '-W2', '10.62.0.1'], { reject: false });
    expect(ping.exitCode, ping.all).toBe(0);

    const status = await netlab(['status', '--lab', 'updown']);
    expect(status.code, status.all).toBe(0);
    expect(status.stdout).toContain('in sync');
  });
});
