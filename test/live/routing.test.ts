// The remaining kernel objects on the real kernel, inside the sandbox: an ECMP route and policy
// rules with their own table (IPv4 and IPv6) observed back exactly (re-apply 0 steps), static
// neighbour entries, per-interface sysctls, and fdb entries of a unicast VXLAN lab (and a
// bridge port) with traffic over the overlay.
import { afterAll, describe, expect, it } from 'vitest';
import { labFile, netlab } from './cli.js';
import { inNs, sandboxSkipReason, sh } from './sandbox.js';

async function json<T>(ns: string, args: string[]): Promise<T> {
  return JSON.parse((await sh('ip', ['-n', ns, '-j', ...args])).stdout || '[]') as T;
}

afterAll(async () => {
  for (const lab of ['rt', 'vx']) await netlab(['destroy', '--lab', lab]);
});

const ROUTING = `name: rt
hosts:
  r:
    sysctls: { net.ipv4.ip_forward: 1 }
    interfaces:
      a:
        link: x:eth0
        addresses: [10.1.0.1/24, fd00:1::1/64]
        sysctls: { ipv4.rp_filter: 2, ipv6.accept_ra: 0 }
        neighbours:
          - { address: 10.1.0.9, mac: 02:00:00:00:00:09 }
          - { address: 10.1.0.2, mac: x:eth0 }
          - { address: fd00:1::9, mac: 02:00:00:00:00:19 }
      b: { link: y:eth0, addresses: [10.2.0.1/24, fd00:2::1/64] }
    routes:
      - { to: 10.9.0.0/24, nexthops: [{ via: 10.1.0.2 }, { via: 10.2.0.2, weight: 3 }] }
      - { to: fd00:9::/64, nexthops: [{ via: fd00:1::2 }, { via: fd00:2::2 }] }
      - { to: default, via: 10.2.0.2, table: 100 }
      - { to: ::/0, via: fd00:2::2, table: 100 }
    routing_policy:
      - { priority: 100, from: 10.1.0.0/24, table: 100 }
      - { priority: 110, iif: b, fwmark: 0x10/0xff, table: 100 }
      - { priority: 120, to: 10.8.0.5, oif: a, table: 100 }
      - { priority: 130, from: fd00:1::/64, table: 100 }
  x:
    interfaces:
      eth0: { addresses: [10.1.0.2/24, fd00:1::2/64] }
  y:
    interfaces:
      eth0: { addresses: [10.2.0.2/24, fd00:2::2/64] }
`;

describe.skipIf(sandboxSkipReason !== null)('ECMP, policy rules, neighbours, interface sysctls', () => {
  it('are created, observed back exactly (re-apply 0 steps), changed and removed', async () => {
    const file = labFile('rt', ROUTING);
    const r = await netlab(['apply', file]);
    expect(r.code, r.all).toBe(0);

    const ecmp = await json<{ dst: string; nexthops?: { gateway: string; dev: string; weight: number }[] }[]>('rt-r', [
      'route',
      'show',
      '10.9.0.0/24',
    ]);
    expect(ecmp[0]!.nexthops!.map((n) => [n.gateway, n.dev, n.weight])).toEqual([
      ['10.1.0.2', 'a', 1],
      ['10.2.0.2', 'b', 3],
    ]);
    const ecmp6 = await json<{ nexthops?: { gateway: string }[] }[]>('rt-r', ['-6', 'route', 'show', 'fd00:9::/64']);
    expect(ecmp6[0]!.nexthops!.map((n) => n.gateway).sort()).toEqual(['fd00:1::2', 'fd00:2::2']);
    const rules = await json<{ priority: number; table: string }[]>('rt-r', ['rule', 'show']);
    expect(rules.filter((x) => x.table === '100').map((x) => x.priority)).toEqual([100, 110, 120]);
    const rules6 = await json<{ priority: number; src?: string; table: string }[]>('rt-r', ['-6', 'rule', 'show']);
    expect(rules6.filter((x) => x.table === '100')).toEqual([expect.objectContaining({ priority: 130, src: 'fd00:1::' })]);
    const neigh = await json<{ dst: string; lladdr: string; state: string[] }[]>('rt-r', ['neigh', 'show', 'nud', 'permanent']);
    expect(neigh.map((n) => n.dst).sort()).toEqual(['10.1.0.2', '10.1.0.9', 'fd00:1::9']);
    const xMac = (await inNs('rt-x', 'cat', ['/sys/class/net/eth0/address'])).stdout.trim();
    expect(neigh.find((n) => n.dst === '10.1.0.2')!.lladdr).toBe(xMac);
    expect((await inNs('rt-r', 'cat', ['/proc/sys/net/ipv4/conf/a/rp_filter'])).stdout.trim()).toBe('2');
    expect((await inNs('rt-r', 'cat', ['/proc/sys/net/ipv6/conf/a/accept_ra'])).stdout.trim()).toBe('0');
    // The rule sends traffic from 10.1.0.0/24 to table 100, whose default goes to y.
    const got = await sh('ip', ['-n', 'rt-r', '-j', 'route', 'get', '198.51.100.1', 'from', '10.1.0.2', 'iif', 'a']);
    expect((JSON.parse(got.stdout) as { gateway: string }[])[0]!.gateway).toBe('10.2.0.2');

    const again = await netlab(['plan', file]);
    expect(again.code, again.all).toBe(0);
    expect(again.stdout).toContain('no changes');

    // A changed weight, a rule, a neighbour's MAC: only those change.
    const changed = ROUTING.replace('weight: 3', 'weight: 1')
      .replace('priority: 120, to: 10.8.0.5, oif: a', 'priority: 121, to: 10.8.0.5, oif: a')
      .replace('02:00:00:00:00:09', '02:00:00:00:00:99');
    const planned = await netlab(['plan', '--json', labFile('rt', changed)]);
    expect(planned.code, planned.all).toBe(2);
    const steps = (JSON.parse(planned.stdout) as { labs: { steps: { op: string; title: string }[] }[] }).labs[0]!.steps;
    expect(steps.map((s) => `${s.op} ${s.title}`).sort()).toEqual([
      'create rule 121 (IPv4) lookup 100 in rt-r',
      'delete rule 120 (IPv4) lookup 100 in rt-r',
      'modify neighbour 10.1.0.9 on rt-r/a',
      'modify route 10.9.0.0/24 in rt-r',
    ]);
    const file2 = labFile('rt', changed);
    expect((await netlab(['apply', file2])).code).toBe(0);
    expect((await netlab(['plan', file2])).code).toBe(0);

    const gone = await netlab(['destroy', file2]);
    expect(gone.code, gone.all).toBe(0);
  });
});

const VXLAN = `name: vx
hosts:
  v1:
    interfaces:
      u0: { link: v2:u0, addresses: [192.168.77.1/24] }
      vx0:
        kind: vxlan
        vni: 42
        local: 192.168.77.1
        dev: u0
        learning: false
        remotes: [192.168.77.2]
        addresses: [10.77.0.1/24]
        fdb: [{ mac: v2:vx0, dst: 192.168.77.2 }]
      br0: { kind: bridge }
      p0: { bridge: br0, link: c:eth0, fdb: [{ mac: 02:00:00:00:00:42 }] }
  v2:
    interfaces:
      u0: { addresses: [192.168.77.2/24] }
      vx0:
        kind: vxlan
        vni: 42
        local: 192.168.77.2
        dev: u0
        learning: false
        remotes: [192.168.77.1]
        addresses: [10.77.0.2/24]
        fdb: [{ mac: v1:vx0, dst: 192.168.77.1 }]
  c:
    interfaces:
      eth0: {}
`;

describe.skipIf(sandboxSkipReason !== null)('fdb entries', () => {
  it('of a unicast VXLAN lab and of a bridge port are created, observed back exactly and carry traffic', async () => {
    const file = labFile('vx', VXLAN);
    const r = await netlab(['apply', file]);
    expect(r.code, r.all).toBe(0);
    const v2Mac = (await inNs('vx-v2', 'cat', ['/sys/class/net/vx0/address'])).stdout.trim();
    const fdb = await sh('bridge', ['-n', 'vx-v1', '-j', 'fdb', 'show']);
    const entries = JSON.parse(fdb.stdout) as { mac: string; ifname?: string; dst?: string; state?: string; master?: string }[];
    expect(
      entries
        .filter((e) => e.ifname === 'vx0' && e.dst)
        .map((e) => `${e.mac} ${e.dst}`)
        .sort(),
    ).toEqual([`00:00:00:00:00:00 192.168.77.2`, `${v2Mac} 192.168.77.2`].sort());
    expect(entries.filter((e) => e.ifname === 'p0' && e.state === 'static').map((e) => `${e.mac} ${e.master}`)).toEqual([
      '02:00:00:00:00:42 br0',
    ]);
    // Traffic over the overlay, learning off: the static entries carry it.
    await inNs('vx-v1', 'ping', ['-c', '1', '-W', '2', '10.77.0.2']);
    await inNs('vx-v2', 'ping', ['-c', '1', '-W', '2', '10.77.0.1']);
    const again = await netlab(['plan', file]);
    expect(again.code, again.all).toBe(0);

    // Dropping the entries removes exactly them.
    const fewer = labFile(
      'vx',
      VXLAN.replace(', fdb: [{ mac: 02:00:00:00:00:42 }]', '').replace('        fdb: [{ mac: v2:vx0, dst: 192.168.77.2 }]\n', ''),
    );
    const planned = await netlab(['plan', '--json', fewer]);
    const steps = (JSON.parse(planned.stdout) as { labs: { steps: { op: string; title: string }[] }[] }).labs[0]!.steps;
    expect(steps.map((s) => `${s.op} ${s.title}`).sort()).toEqual([
      'delete fdb 02:00:00:00:00:42 on vx-p0'.replace('vx-p0', 'vx-v1/p0'),
      `delete fdb ${v2Mac} dst 192.168.77.2 on vx-v1/vx0`,
    ]);
    expect((await netlab(['apply', fewer])).code).toBe(0);
    expect((await netlab(['plan', fewer])).code).toBe(0);
    const gone = await netlab(['destroy', fewer]);
    expect(gone.code, gone.all).toBe(0);
  });
});
