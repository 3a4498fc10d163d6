// The netlink reader (src/driver/netlink.ts) against iproute2: for a lab with every device kind
// this kernel has, IPv4 and IPv6 addresses, and routes of every shape netlab manages, what the
// model parses from the reader equals what it parses from `ip -d -j`, link by link, address by
// address, route by route; and the nsids it resolves equal `ip netns list-id`'s, asked in the
// dump's pass (the peers a scope expects) or by the nsid rounds when those hints are wrong.
import { writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { store } from '../../src/apply/store.js';
import type { NsQuery } from '../../src/driver/driver.js';
import { RealDriver } from '../../src/driver/real.js';
import type { LinkObj } from '../../src/model/objects.js';
import { parseAddr, type RawAddrInfo } from '../../src/model/addr.js';
import { parseLink, type RawLink } from '../../src/model/link.js';
import { withNumericOwners } from '../../src/driver/owner-ids.js';
import { parseQdiscs, type RawQdisc } from '../../src/model/qdisc.js';
import { parseRoute, type RawRoute } from '../../src/model/route.js';
import { dumpNamespaces, nsidsOf, type NetlinkDump } from '../../src/driver/netlink.js';
import { labFile, NETLAB, netlab } from './cli.js';
import { sandboxSkipReason, sh } from './sandbox.js';

const LAB = `
name: nlr
hosts:
  sw:
    interfaces:
      br0: { kind: bridge, stp: true, ageing: 120, addresses: [10.4.0.1/24, "fd00:4::1/64"] }
      tap0: { kind: tap, user: 1000, group: 1000, bridge: br0 }
      tap1: { kind: tap }
      par: {}
      mvt0: { kind: macvtap, parent: par, mode: bridge }
      mv0: { kind: macvlan, parent: par, mode: private, addresses: [10.3.0.9/24] }
      under: { addresses: [10.9.0.1/24, "fd00:9::1/64"] }
      vx0: { kind: vxlan, vni: 42, dev: under, local: 10.9.0.1, remotes: [10.9.0.2], bridge: br0 }
      vx1: { kind: vxlan, vni: 43, dev: under, group: 239.1.1.1, learning: false }
      vx6: { kind: vxlan, vni: 44, port: 4790, local: "fd00:9::1", remotes: ["fd00:9::2"] }
    routes:
      - { to: 10.50.0.0/16, via: 10.4.0.2, metric: 100 }
      - { to: 10.51.0.0/16, via: 10.4.0.2, table: 100 }
      - { to: 10.52.0.1/32, dev: under }
      - { to: 10.53.0.0/24, via: 192.0.2.1, dev: under, onlink: true }
      - { to: 10.54.0.0/24, nexthops: [{ via: 10.4.0.2 }, { via: 10.9.0.2, weight: 3 }] }
      - { to: "fd00:50::/48", via: "fd00:4::2" }
      - { to: "fd00:51::/48", nexthops: [{ via: "fd00:4::2" }, { via: "fd00:9::2" }] }
  h1:
    interfaces:
      eth0: { addresses: [10.4.0.2/24, "fd00:4::2/64"], mtu: 1400 }
    routes:
      - { to: default, via: 10.4.0.1 }
      - { to: default, via: "fd00:4::1" }
  peer:
    interfaces:
      eth0: { addresses: [10.9.0.2/24, "fd00:9::2/64"] }
  up:
    interfaces:
      eth0: { addresses: [10.3.0.254/24], conditions: { rate: 3mbit, limit: 50 } }
  vm:
    interfaces:
      mvt1: { kind: macvtap, parent: "sw:par", mode: vepa }
links:
  - { a: h1:eth0, b: sw:br0 }
  - { a: up:eth0, b: sw:par }
  - { a: peer:eth0, b: sw:under, conditions: { rate: 1gbit, burst: 64kb } }
`;

// Counts the nsid rounds' processes (real.ts calls this only for nsids the dump's pass left unnamed).
vi.mock('../../src/driver/netlink.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../src/driver/netlink.js')>();
  return { ...m, nsidsOf: vi.fn(m.nsidsOf) };
});

type IpAddrs = (RawLink & { addr_info?: RawAddrInfo[] })[];

async function ipJson<T>(ns: string, args: string[]): Promise<T> {
  return JSON.parse((await sh('ip', ['-n', ns, ...args])).stdout || '[]') as T;
}

/** What assemble() reads besides parseLink's result: indexes, peers, kinds, port states. */
const identity = (l: RawLink) => ({
  ifindex: l.ifindex,
  link_index: l.link_index,
  link_netnsid: l.link_netnsid,
  link: l.link,
  kind: l.linkinfo?.info_kind,
  state: l.linkinfo?.info_slave_data?.state,
});

const byName = <T extends { ifname: string }>(list: T[]) => new Map(list.map((l) => [l.ifname, l]));

let namespaces: string[] = [];
let dumps: NetlinkDump[] = [];
let file = '';

describe.skipIf(sandboxSkipReason !== null)('netlink reader', () => {
  beforeAll(async () => {
    file = labFile('nlr', LAB);
    const r = await netlab(['apply', file]);
    expect(r.code, r.all).toBe(0);
    namespaces = (JSON.parse((await sh('ip', ['-j', 'netns', 'list'])).stdout) as { name: string }[])
      .map((n) => n.name)
      .filter((n) => n.startsWith('nlr-'))
      .sort();
    const read = await dumpNamespaces(
      namespaces.map((ns) => ({ ns, ipv6Routes: true })),
      '/run/netns',
    );
    dumps = read.map((d) => {
      if (d instanceof Error) throw d;
      return d;
    });
  });
  afterAll(async () => {
    if (file) await netlab(['destroy', file]);
  });

  it('reads every namespace of the lab', () => {
    expect(namespaces).toEqual(['nlr-h1', 'nlr-peer', 'nlr-sw', 'nlr-up', 'nlr-vm']);
    expect(dumps.map((d) => d.links.length)).toEqual([2, 2, 12, 2, 2]); // sw: lo, its 10 devices and the veth end h1 plugs into br0
  });

  it('links: the model sees the same link from both sources, and the same raw identity', async () => {
    for (const [i, ns] of namespaces.entries()) {
      const ip = byName(await ipJson<RawLink[]>(ns, ['-d', '-j', 'link', 'show']));
      const nl = byName(dumps[i]!.links);
      expect([...nl.keys()].sort()).toEqual([...ip.keys()].sort());
      for (const [name, l] of ip) {
        const mine = nl.get(name)!;
        // Both go through the driver's owner-name resolution, as every observed link does.
        expect(parseLink(ns, withNumericOwners(mine)), `${ns}/${name}`).toEqual(parseLink(ns, withNumericOwners(l)));
        expect(identity(mine), `${ns}/${name}`).toEqual(identity(l));
      }
    }
    // What the comparison covered: every kind netlab reads on this kernel.
    const kinds = new Set(dumps.flatMap((d) => d.links.map((l) => l.linkinfo?.info_kind ?? l.link_type)));
    for (const k of ['bridge', 'veth', 'tun', 'macvlan', 'macvtap', 'vxlan', 'loopback']) expect(kinds).toContain(k);
  });

  it('addresses: IPv4 and IPv6, global and link scope, on the same devices', async () => {
    let count = 0;
    for (const [i, ns] of namespaces.entries()) {
      const fromIp = (await ipJson<IpAddrs>(ns, ['-j', 'addr', 'show'])).flatMap((l) =>
        (l.addr_info ?? []).map((a) => [l.ifname, a.local, a.prefixlen, a.scope ?? 'global', parseAddr(ns, l.ifname, a)?.id ?? null]),
      );
      const fromNl = dumps[i]!.addrs.flatMap((l) =>
        l.addr_info.map((a) => [l.ifname, a.local, a.prefixlen, a.scope ?? 'global', parseAddr(ns, l.ifname, a)?.id ?? null]),
      );
      const key = (x: unknown[]) => JSON.stringify(x);
      expect(fromNl.map(key).sort(), ns).toEqual(fromIp.map(key).sort());
      count += fromIp.length;
    }
    expect(count).toBeGreaterThan(20);
  });

  it('routes: via, dev, metric, table, onlink, ECMP, IPv6; kernel and local ones read and left out alike', async () => {
    const managed: string[] = [];
    for (const [i, ns] of namespaces.entries()) {
      for (const [family, dump] of [
        [4, dumps[i]!.routes],
        [6, dumps[i]!.routes6],
      ] as const) {
        const ip = await ipJson<RawRoute[]>(ns, [`-${family}`, '-j', 'route', 'show', 'table', 'all']);
        const parse = (list: RawRoute[]) =>
          list
            .map((r) => parseRoute(ns, family, r))
            .filter((r) => r !== null)
            .sort((a, b) => (a.id < b.id ? -1 : 1));
        expect(parse(dump), `${ns} IPv${family}`).toEqual(parse(ip));
        // Every route, managed or not, seen by both (the kernel's own ones included).
        expect(dump.length, `${ns} IPv${family} count`).toBe(ip.length);
        managed.push(...parse(dump).map((r) => r.id));
      }
    }
    expect(managed.filter((id) => id.includes('nlr-sw')).length).toBe(7);
    expect(managed.filter((id) => id.includes('nlr-h1')).length).toBe(2);
  });

  it('nsids: the names `ip netns list-id` gives, asked only of the namespaces asked about', async () => {
    const answers = await nsidsOf(
      namespaces.map((ns) => ({ ns, others: namespaces.filter((o) => o !== ns) })),
      '/run/netns',
    );
    for (const [i, ns] of namespaces.entries()) {
      const listed = await ipJson<{ nsid: number; name?: string }[]>(ns, ['-j', 'netns', 'list-id']);
      const others = namespaces.filter((o) => o !== ns);
      const mine = others.flatMap((o, k) => (answers[i]![k]! >= 0 ? [{ nsid: answers[i]![k]!, name: o }] : []));
      expect(
        mine.sort((a, b) => a.nsid - b.nsid),
        ns,
      ).toEqual(listed.filter((n) => n.name?.startsWith('nlr-')).sort((a, b) => a.nsid - b.nsid));
    }
    // A namespace that does not exist is reported as unreadable, not as "no nsid".
    expect(await nsidsOf([{ ns: 'nlr-absent', others: [] }], '/run/netns')).toEqual([null]);
  });

  it("nsids in the dump's pass: the same answers for the peers asked, -1 for one that cannot be opened", async () => {
    const peers = ['', ...namespaces, 'nlr-absent'];
    const read = await dumpNamespaces(
      namespaces.map((ns) => ({ ns, ipv6Routes: false, peers })),
      '/run/netns',
    );
    const asked = await nsidsOf(
      namespaces.map((ns) => ({ ns, others: peers })),
      '/run/netns',
    );
    let named = 0;
    for (const [i, ns] of namespaces.entries()) {
      const d = read[i]!;
      if (d instanceof Error) throw d;
      expect(d.peerNsids, ns).toEqual(asked[i]);
      const listed = await ipJson<{ nsid: number; name?: string }[]>(ns, ['-j', 'netns', 'list-id']);
      peers.forEach((p, k) => {
        const nsid = d.peerNsids[k]!;
        // The reader's own namespace is in no /run/netns: `ip netns list-id` lists its nsid unnamed.
        const expected = p.startsWith('nlr-') && p !== ns ? listed.find((n) => n.name === p)?.nsid : undefined;
        if (p === '' && nsid >= 0) expect(listed.find((n) => n.nsid === nsid)?.name, ns).toBeUndefined();
        else expect(nsid, `${ns} -> ${p || '(root)'}`).toBe(expected ?? -1);
        if (nsid >= 0 && p !== '') named++;
      });
    }
    // Each of the four others has one for sw; sw has one for the three its veths lead to (the
    // macvtap moved from sw into vm gave vm an nsid for sw, not sw one for vm).
    expect(named).toBe(7);
  });

  it('links only (ownership marks, bridge ports): the same links, no addresses or routes read', async () => {
    const read = await dumpNamespaces(
      namespaces.map((ns) => ({ ns, ipv6Routes: false, linksOnly: true })),
      '/run/netns',
    );
    read.forEach((d, i) => {
      if (d instanceof Error) throw d;
      expect(d.links, namespaces[i]).toEqual(dumps[i]!.links);
      expect([d.addrs, d.routes, d.routes6]).toEqual([[], [], []]);
    });
  });

  it('sysctls: read in the same pass, per namespace, null where the file does not exist', async () => {
    const paths = [
      '/proc/sys/net/ipv4/ip_forward',
      '/proc/sys/net/ipv6/conf/all/disable_ipv6',
      '/proc/sys/net/ipv4/conf/eth0/rp_filter',
      '/proc/sys/net/nosuch',
    ];
    const read = await dumpNamespaces(
      namespaces.map((ns) => ({ ns, ipv6Routes: false, sysctlPaths: paths })),
      '/run/netns',
    );
    for (const [i, ns] of namespaces.entries()) {
      const d = read[i]!;
      if (d instanceof Error) throw d;
      const expected = await Promise.all(
        paths.map(async (p) => {
          const r = await sh('ip', ['netns', 'exec', ns, 'cat', p], { reject: false });
          return r.exitCode === 0 ? r.stdout.trim() : null;
        }),
      );
      expect(d.sysctls, ns).toEqual(expected);
    }
    // The lab has IPv6 on sw and h1 only: the values differ between namespaces, so each was read in its own.
    const ipv6Off = read.map((d) => (d instanceof Error ? null : d.sysctls[1]));
    expect(new Set(ipv6Off)).toEqual(new Set(['0', '1']));
  });

  it('qdiscs: tbf (rate, burst) and its pfifo child as `tc -raw -j` shows them, with the kernel defaults beside', async () => {
    const read = await dumpNamespaces(
      namespaces.map((ns) => ({ ns, ipv6Routes: false, qdiscs: true })),
      '/run/netns',
    );
    let managed = 0;
    for (const [i, ns] of namespaces.entries()) {
      const d = read[i]!;
      if (d instanceof Error) throw d;
      const tc = JSON.parse((await sh('tc', ['-n', ns, '-raw', '-j', 'qdisc', 'show'])).stdout) as RawQdisc[];
      const shape = (q: RawQdisc) => `${q.dev} ${q.kind} ${q.handle} ${q.root ? 'root' : (q.parent ?? '')}`;
      expect(d.qdiscs!.map(shape).sort(), ns).toEqual(tc.map(shape).sort());
      expect(parseQdiscs(ns, d.qdiscs!), ns).toEqual(parseQdiscs(ns, tc));
      managed += parseQdiscs(ns, tc).length;
    }
    // up's eth0 (3mbit + a queue limit), both ends of peer <-> sw:under (1gbit, 64kb).
    expect(managed).toBe(3);
  });

  it('a namespace that cannot be read is an error for it alone', async () => {
    const [bad, good] = await dumpNamespaces(
      [
        { ns: 'nlr-absent', ipv6Routes: false },
        { ns: 'nlr-h1', ipv6Routes: false },
      ],
      '/run/netns',
    );
    expect(bad).toBeInstanceOf(Error);
    expect(String(bad)).toMatch(/Cannot open network namespace "nlr-absent"/);
    expect(good).not.toBeInstanceOf(Error);
  });

  /** The lab's links and the namespace and name each one's peer or parent was observed in. */
  const peersIn = (links: LinkObj[]) => Object.fromEntries(links.filter((l) => l.peer).map((l) => [l.id, l.peer]));

  async function observed(namespaces: NsQuery[]) {
    vi.mocked(nsidsOf).mockClear();
    const o = await new RealDriver().observe({ lab: 'nlr', namespaces });
    const rounds = vi.mocked(nsidsOf).mock.calls.filter(([requests]) => requests.length > 0).length;
    return { peers: peersIn([...o.state.values()].filter((x): x is LinkObj => x.kind === 'link')), rounds };
  }

  it("the recorded scope's hints name every peer in the dump's pass; without hints or with wrong ones the rounds name the same", async () => {
    const record = await store.readRecord('nlr');
    const scope = record!.scope;
    expect(scope.find((q) => q.ns === 'nlr-sw')?.peers).toEqual(['nlr-h1', 'nlr-peer', 'nlr-up', 'nlr-vm']);
    const desired = peersIn(record!.desired.filter((x): x is LinkObj => x.kind === 'link'));
    // veths to sw from three hosts (both ends), vm's macvtap and sw's own stacked devices.
    expect(Object.keys(desired)).toHaveLength(9);
    const right = await observed(scope);
    expect(right).toEqual({ peers: desired, rounds: 0 });
    const none = await observed(scope.map(({ peers: _, ...q }) => q));
    expect(none.peers).toEqual(desired);
    expect(none.rounds).toBeGreaterThan(0);
    const wrong = await observed(scope.map((q) => ({ ...q, peers: ['nlr-absent', ...(q.ns === 'nlr-h1' ? ['nlr-up'] : [])] })));
    expect(wrong.peers).toEqual(desired);
    expect(wrong.rounds).toBeGreaterThan(0);
  });

  it('a re-apply and a one-host change (with its verify) start no nsid process', async () => {
    const profiled = async () => {
      const r = await execa('node', [NETLAB, 'apply', '--yes', file], { reject: false, env: { NO_COLOR: '1', NETLAB_PROFILE: '1' } });
      const line = r.stderr.split('\n').find((l) => l.startsWith('NETLAB_PROFILE '));
      const counts = (JSON.parse(line!.slice('NETLAB_PROFILE '.length)) as { counts: Record<string, number> }).counts;
      return { code: r.exitCode, out: `${r.stdout}\n${r.stderr}`, counts };
    };
    const again = await profiled();
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('no changes');
    expect(again.counts.processes).toBeGreaterThan(0);
    expect(again.counts.nsidProcesses).toBeUndefined();
    const h1 = 'eth0: { addresses: [10.4.0.2/24, "fd00:4::2/64"], mtu: 1400 }';
    expect(LAB).toContain(h1);
    writeFileSync(file, LAB.replace(h1, h1.replace('10.4.0.2/24', '10.4.0.3/24')));
    const changed = await profiled();
    expect(changed.code, changed.out).toBe(0);
    expect(changed.out).toMatch(/verified/);
    expect(changed.counts.nsidProcesses).toBeUndefined();
  });

  it('a veth end moved by hand into a namespace no hint names is found by the nsid rounds', async () => {
    const scope = (await store.readRecord('nlr'))!.scope;
    await sh('ip', ['netns', 'add', 'nlrmoved']);
    try {
      await sh('ip', ['-n', 'nlr-peer', 'link', 'set', 'eth0', 'netns', 'nlrmoved']);
      const after = await observed(scope);
      const moved = Object.entries(after.peers).filter(([id, peer]) => id.startsWith('link:nlr-sw/') && peer.ns === 'nlrmoved');
      // nlrmoved is not observed: the end's name there is unknown, its namespace is not.
      expect(moved.map(([, peer]) => peer)).toEqual([{ ns: 'nlrmoved', ifname: expect.stringMatching(/^#\d+$/) as unknown }]);
      expect(Object.keys(after.peers).filter((id) => id.startsWith('link:nlr-peer/'))).toEqual([]);
      expect(after.rounds).toBeGreaterThan(0);
    } finally {
      await sh('ip', ['netns', 'del', 'nlrmoved']);
    }
  });
});
