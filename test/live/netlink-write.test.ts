// The netlink writer (src/driver/netlink-write.ts) against iproute2: the same lab applied once
// through the writer and once with NETLAB_NETLINK=0 (every batch through `ip`) leaves the kernel
// in the same state, as iproute2 itself prints it; a failing request is reported as `ip` reports
// it, and stops its namespace's batch there.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { encodeOperation, writeGroups } from '../../src/driver/netlink-write.js';
import type { RouteObj } from '../../src/model/objects.js';
import { linkObj } from '../fixtures/links.js';
import type { Operation } from '../../src/model/operations.js';
import { labFile, NETLAB } from './cli.js';
import { inNs, sandboxSkipReason, sh } from './sandbox.js';

const LAB = `
name: nlw
hosts:
  sw:
    interfaces:
      br0: { kind: bridge, ageing: 120, addresses: [10.4.0.1/24, "fd00:4::1/64"], mtu: 1400 }
      up0: { addresses: [10.9.0.1/24], mac: "02:00:00:00:09:01" }
    routes:
      - { to: 10.50.0.0/16, via: 10.4.0.2, metric: 100 }
      - { to: 10.51.0.0/16, via: 10.4.0.2, table: 100 }
      - { to: 10.51.0.0/16, via: 10.9.0.2, table: 300 }
      - { to: 10.52.0.1/32, dev: up0 }
      - { to: 10.53.0.0/24, via: 192.0.2.1, dev: up0, onlink: true }
      - { to: "fd00:50::/48", via: "fd00:4::2" }
  h1:
    interfaces:
      eth0: { addresses: [10.4.0.2/24, "fd00:4::2/64"], mtu: 1400 }
    routes:
      - { to: default, via: 10.4.0.1 }
      - { to: default, via: "fd00:4::1" }
  h2:
    interfaces:
      eth0: { addresses: [10.4.0.3/24], mtu: 1400 }
    routes:
      - { to: default, via: 10.4.0.1 }
  peer:
    interfaces:
      eth0: { addresses: [10.9.0.2/24] }
links:
  - { a: h1:eth0, b: sw:br0 }
  - { a: h2:eth0, b: sw:br0 }
  - { a: peer:eth0, b: sw:up0 }
`;

interface IpLink {
  ifname: string;
  mtu: number;
  address?: string;
  master?: string;
  flags: string[];
  ifalias?: string;
  altnames?: string[];
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_data?: Record<string, unknown> };
}

/** Each namespace of the lab as iproute2 prints it, without what differs run to run (ifindexes, timers, counters). */
async function snapshot(): Promise<Record<string, unknown>> {
  const names = (JSON.parse((await sh('ip', ['-j', 'netns', 'list'])).stdout || '[]') as { name: string }[])
    .map((n) => n.name)
    .filter((n) => n.startsWith('nlw-'))
    .sort();
  const out: Record<string, unknown> = {};
  for (const ns of names) {
    const j = async (args: string[]) => JSON.parse((await sh('ip', ['-n', ns, ...args])).stdout || '[]') as unknown;
    const links = ((await j(['-d', '-j', 'link', 'show'])) as IpLink[]).map((l) => ({
      ifname: l.ifname,
      mtu: l.mtu,
      address: l.address,
      master: l.master,
      flags: [...l.flags].sort(),
      ifalias: l.ifalias,
      altnames: l.altnames,
      kind: l.linkinfo?.info_kind,
      stp: l.linkinfo?.info_data?.stp_state,
      ageing: l.linkinfo?.info_data?.ageing_time,
      hairpin: l.linkinfo?.info_slave_data?.hairpin,
    }));
    const addrs = ((await j(['-j', 'addr', 'show'])) as { ifname: string; addr_info: Record<string, unknown>[] }[]).map((l) => ({
      ifname: l.ifname,
      addrs: l.addr_info.map((a) => [a.family, a.local, a.prefixlen, a.scope, a.nodad ?? false]),
    }));
    const routes = [
      ...((await j(['-4', '-j', 'route', 'show', 'table', 'all'])) as unknown[]),
      ...((await j(['-6', '-j', 'route', 'show', 'table', 'all'])) as unknown[]),
    ];
    // Sorted: listing order follows ifindexes, which depend on creation order.
    const byName = (a: { ifname: string }, b: { ifname: string }) => (a.ifname < b.ifname ? -1 : 1);
    out[ns] = { links: links.sort(byName), addrs: addrs.sort(byName), routes: routes.map((r) => JSON.stringify(r)).sort() };
  }
  return out;
}

async function netlab(args: string[], env: Record<string, string> = {}) {
  const r = await execa('node', [NETLAB, ...args], { reject: false, env: { NO_COLOR: '1', ...env } });
  return { code: r.exitCode ?? -1, all: `${r.stdout}\n${r.stderr}`, stdout: r.stdout };
}

describe.skipIf(sandboxSkipReason !== null)('netlink writer', () => {
  it('leaves the kernel exactly as `ip -batch` does, for every line shape it writes', async () => {
    const file = labFile('nlw', LAB);
    const viaIp = await netlab(['apply', file], { NETLAB_NETLINK: '0', NETLAB_PROFILE: '1' });
    expect(viaIp.code, viaIp.all).toBe(0);
    const expected = await snapshot();
    expect((await netlab(['destroy', file])).code).toBe(0);

    const viaNetlink = await netlab(['apply', file], { NETLAB_PROFILE: '1' });
    expect(viaNetlink.code, viaNetlink.all).toBe(0);
    expect(await snapshot()).toEqual(expected);
    // The writer did the work: far fewer processes than one `ip` per namespace and round.
    const processes = (r: { all: string }) =>
      (JSON.parse(/NETLAB_PROFILE (\{.*\})/.exec(r.all)![1]!) as { counts: { processes: number } }).counts.processes;
    expect(processes(viaNetlink)).toBeLessThan(processes(viaIp));
    // Traffic flows, and the state is what netlab planned: nothing left to do.
    await inNs('nlw-h1', 'ping', ['-c1', '-W2', '10.4.0.3']);
    expect((await netlab(['apply', file])).stdout).toContain('no changes');
    expect((await netlab(['destroy', file])).code).toBe(0);
  });

  it('reports a failure as ip does and stops that namespace there, not the others', async () => {
    await sh('ip', ['netns', 'add', 'nlw-a']);
    await sh('ip', ['netns', 'add', 'nlw-b']);
    try {
      const req = (o: Operation) => encodeOperation(o)!;
      const up = (ns: string, dev: string): Operation => ({ op: 'link.set', ns, dev, changes: { up: true }, phase: 0 });
      const addr: Operation = {
        op: 'addr.add',
        ns: 'nlw-a',
        addr: { kind: 'addr', id: '', ns: 'nlw-a', dev: 'v0', cidr: '10.1.0.1/24' },
        phase: 0,
      };
      const route: RouteObj = {
        kind: 'route',
        id: '',
        ns: 'nlw-b',
        family: 4,
        dst: '10.7.0.0/16',
        via: '10.1.0.9',
        dev: null,
        metric: 5,
        onlink: false,
        table: 254,
      };
      const results = await writeGroups(
        [
          {
            ns: 'nlw-a',
            requests: [
              req({
                op: 'link.add',
                ns: 'nlw-a',
                link: linkObj('nlw-a', 'v0'),
                end: { name: 'v0', netns: null, mac: '02:00:00:00:00:01', mtu: 1500 },
                parent: null,
                peer: { link: linkObj('nlw-b', 'v1'), end: { name: 'v1', netns: 'nlw-b', mac: '02:00:00:00:00:02', mtu: 1500 } },
                phase: 0,
              }),
              req(addr),
              req(addr), // File exists
              req(up('nlw-a', 'v0')), // never sent
            ],
          },
          { ns: 'nlw-b', requests: [req(up('nlw-b', 'nosuch'))] },
          { ns: 'nlw-absent', requests: [req(up('nlw-absent', 'lo'))] },
          { ns: 'nlw-b', requests: [req(up('nlw-b', 'v1')), req({ op: 'route.add', ns: 'nlw-b', route, phase: 0 })] },
        ],
        '/run/netns',
        null,
      );
      const ipSays = async (args: string[]) => (await sh('ip', args, { reject: false })).stderr.trim();
      expect(results[0]).toEqual({ index: 2, stderr: await ipSays(['-n', 'nlw-a', 'addr', 'add', '10.1.0.1/24', 'dev', 'v0']) });
      expect(results[0]!.stderr).toMatch(/already assigned|File exists/);
      expect(results[1]).toEqual({ index: 0, stderr: 'Cannot find device "nosuch"' });
      expect(await ipSays(['-n', 'nlw-b', 'link', 'set', 'dev', 'nosuch', 'up'])).toBe('Cannot find device "nosuch"');
      expect(results[2]?.stderr).toMatch(/^Cannot open network namespace "nlw-absent"/);
      // A gateway the kernel cannot reach: its extended ack, worded as ip prints it.
      expect(results[3]?.index).toBe(1);
      expect(results[3]?.stderr).toBe(
        (await sh('ip', ['-n', 'nlw-b', 'route', 'add', '10.7.0.0/16', 'via', '10.1.0.9', 'metric', '5'], { reject: false })).stderr,
      );
      const v0 = JSON.parse((await sh('ip', ['-n', 'nlw-a', '-j', 'link', 'show', 'v0'])).stdout) as { flags: string[] }[];
      expect(v0[0]!.flags).not.toContain('UP');
      const v1 = JSON.parse((await sh('ip', ['-n', 'nlw-b', '-j', 'link', 'show', 'v1'])).stdout) as { flags: string[] }[];
      expect(v1[0]!.flags).toContain('UP');
    } finally {
      await sh('ip', ['netns', 'del', 'nlw-a']);
      await sh('ip', ['netns', 'del', 'nlw-b']);
    }
  });
});
