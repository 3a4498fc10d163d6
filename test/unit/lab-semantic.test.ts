// Every semantic rule: a good fixture that must pass and bad fixtures that must fail with
// exactly the listed issues (position, path and a fragment of the message).
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadLabs } from '../../src/lab/index.js';

const GOOD = 'test/fixtures/good';
const BAD = 'test/fixtures/bad';

/** line, col, path, message fragment */
type Expected = [number, number, string, string];

const RULES: { rule: string; good: string[]; bad: Record<string, Expected[]> }[] = [
  {
    rule: 'unknown host references',
    good: ['refs.yaml', 'every-kind.yaml'],
    bad: {
      'ref-link-host.yaml': [[9, 8, 'links[0].b', 'host "wbe" is not defined (did you mean "web"?)']],
      'ref-nat-hosts.yaml': [
        [8, 27, 'hosts.gw.nat.publish[0].to', 'host "wbe" is not defined (did you mean "web"?)'],
        [10, 73, 'hosts.gw.nat.services[0].backends[1]', 'host "wbe" is not defined (did you mean "web"?)'],
      ],
      'ref-firewall-host.yaml': [
        [8, 34, 'hosts.client.firewall.rules[0].from', 'host "clinet" is not defined (did you mean "client"?)'],
        [9, 44, 'hosts.client.firewall.rules[1].to[1]', 'host "empty" has no addresses to match'],
      ],
    },
  },
  {
    rule: 'unknown interface references (route dev, nat out/in, vxlan dev)',
    good: ['refs.yaml', 'every-kind.yaml'],
    bad: {
      'ref-route-dev.yaml': [[8, 14, 'hosts.web.routes[0].dev', 'interface "eht0" is not defined in host "web" (did you mean "eth0"?)']],
      'ref-nat-ifaces.yaml': [
        [8, 36, 'hosts.gw.nat.masquerade[0].out', 'interface "wna" is not defined in host "gw" (did you mean "wan"?)'],
        [10, 36, 'hosts.gw.nat.snat[0].out', 'interface "lan" is not defined in host "gw"'],
        [12, 49, 'hosts.gw.nat.publish[0].in', 'interface "wann" is not defined in host "gw" (did you mean "wan"?)'],
      ],
      'ref-vxlan-dev.yaml': [[5, 40, 'hosts.vtep.interfaces.vx0.dev', 'interface "eth9" is not defined in host "vtep"']],
    },
  },
  {
    rule: 'vlan/macvlan/ipvlan/macvtap parent missing, self or looping',
    good: ['every-kind.yaml'],
    bad: {
      'ref-parent.yaml': [
        [6, 38, 'hosts.node.interfaces["eth0.10"].parent', 'interface "eth1" is not defined in host "node" (did you mean "eth0"?)'],
        [7, 37, 'hosts.node.interfaces.mv0.parent', 'host "nod" is not defined (did you mean "node"?)'],
      ],
      'ref-parent-loop.yaml': [
        [5, 32, 'hosts.node.interfaces.a.parent', 'parents form a loop: node:a -> node:b -> node:a'],
        [6, 32, 'hosts.node.interfaces.b.parent', 'parents form a loop: node:b -> node:a -> node:b'],
        [7, 35, 'hosts.node.interfaces.c.parent', 'interface "c" cannot be its own parent'],
      ],
    },
  },
  {
    rule: 'bridge: names a bridge of the same host',
    good: ['every-kind.yaml'],
    bad: {
      'ref-bridge-not-bridge.yaml': [
        [6, 36, 'hosts.sw.interfaces.br1.bridge', 'Linux cannot make a bridge a port of another bridge'],
        [8, 34, 'hosts.sw.interfaces.tap0.bridge', '"br0" is a tap, not a bridge'],
        [9, 34, 'hosts.sw.interfaces.tap1.bridge', 'interface "brr2" is not defined in host "sw" (did you mean "br2"?)'],
      ],
      'ref-bridge-other-host.yaml': [
        [
          8,
          34,
          'hosts.vm.interfaces.tap0.bridge',
          'bridge "br0" is in host "sw", another namespace: a bridge port must be in its bridge\'s host',
        ],
      ],
    },
  },
  {
    rule: 'port vlans need a vlan_filtering bridge',
    good: ['every-kind.yaml'],
    bad: {
      'vlans-no-filtering.yaml': [
        [6, 37, 'hosts.sw.interfaces.p1.vlans', 'vlans need vlan_filtering: true on bridge "br0"'],
        [7, 24, 'hosts.sw.interfaces.p2.vlans', 'vlans only apply to a bridge port'],
      ],
    },
  },
  {
    rule: 'duplicate interface names per host (link end vs declared device)',
    good: ['links.yaml', 'every-kind.yaml'],
    bad: {
      'link-collides-vlan.yaml': [
        [
          9,
          21,
          'links[0].b',
          'a:eth0.5 is a vlan (hosts.a.interfaces["eth0.5"]), but a link makes a veth end: duplicate interface name "eth0.5"',
        ],
      ],
      'link-bridge-twice.yaml': [
        [10, 10, 'links[2].a', 'interface b:eth0 is already used by links[0]'],
        [10, 21, 'links[2].b', 'links[2] and links[0] both join bridge a:br0 to b:eth0: two links join the same bridge and interface'],
      ],
    },
  },
  {
    rule: 'an interface used by two links, or twice by one',
    good: ['links.yaml'],
    bad: {
      'link-twice.yaml': [[8, 21, 'links[1].b', 'interface a:eth0 is already used by links[0]: an interface can be in one link only']],
      'link-same-end.yaml': [[5, 21, 'links[0].b', 'both ends are a:eth0']],
    },
  },
  {
    rule: 'an interface with no kind that no link creates',
    good: ['links.yaml'],
    bad: {
      'no-kind-no-link.yaml': [[5, 7, 'hosts.a.interfaces.eth0', 'interface "eth0" has no kind and no link creates it']],
    },
  },
  {
    rule: 'duplicate or overlapping addresses in one L2 segment',
    good: ['segments.yaml', 'every-kind.yaml'],
    bad: {
      'seg-duplicate.yaml': [
        [
          11,
          27,
          'hosts.b.interfaces.eth0.addresses[0]',
          'address 10.0.0.2 is already used by hosts.a.interfaces.eth0 on the same L2 segment',
        ],
      ],
      'seg-overlap.yaml': [
        [
          8,
          27,
          'hosts.b.interfaces.eth0.addresses[0]',
          'address 10.0.0.2/16 overlaps 10.0.0.1/24 (hosts.a.interfaces.eth0) on the same L2 segment',
        ],
        [8, 40, 'hosts.b.interfaces.eth0.addresses[1]', 'address fd00::1 is already used by hosts.a.interfaces.eth0'],
      ],
      'seg-macvlan.yaml': [
        [8, 62, 'hosts.pod.interfaces.mv0.addresses[0]', 'address 10.0.0.1 is already used by hosts.node.interfaces.eth0'],
      ],
    },
  },
  {
    rule: 'gateway not on a connected subnet (unless onlink)',
    good: ['segments.yaml', 'refs.yaml'],
    bad: {
      'gw-unreachable.yaml': [
        [
          8,
          29,
          'hosts.a.routes[0].via',
          'gateway 192.0.2.1 is not on a connected subnet of host "a" (connected: 10.0.0.0/24, 10.1.0.0/24)',
        ],
        [9, 33, 'hosts.a.routes[1].via', 'gateway 10.1.0.254 is not on a connected subnet of interface "eth0" of host "a"'],
        [10, 33, 'hosts.a.routes[2].via', 'gateway fd00::1 is IPv6 but the destination 10.8.0.0/16 is IPv4'],
        [11, 33, 'hosts.a.routes[3].via', 'link-local gateway fe80::1 needs dev'],
      ],
    },
  },
  {
    rule: 'names too long or invalid for the kernel',
    good: ['shared-netns.yaml', 'every-kind.yaml'],
    bad: {
      'name-too-long.yaml': [
        [5, 7, 'hosts.a.interfaces.averyveryverylong0', 'interface name "averyveryverylong0" is 18 bytes; Linux allows at most 15'],
        [8, 10, 'links[0].a', 'interface name "eth0-is-way-too-long" is 20 bytes; Linux allows at most 15'],
      ],
      'altname-too-long.yaml': [
        [
          7,
          7,
          'hosts.abcdefghijklmnopqrstuvwxyz012345.interfaces.i23456789-123456789-123456789-123456789-123456789-123456789-123',
          'is 128 bytes; Linux allows at most 127',
        ],
      ],
      'name-lo.yaml': [[5, 7, 'hosts.a.interfaces.lo', '"lo" is the loopback interface every namespace already has']],
    },
  },
  {
    rule: 'netns: root needs root: true; two hosts in one namespace',
    good: ['shared-netns.yaml'],
    bad: {
      'netns-root.yaml': [[4, 12, 'hosts.me.netns', 'allow it with "root: true" at the top level of the lab']],
      'netns-same.yaml': [
        [7, 12, 'hosts.b.netns', 'hosts "a" and "b" are both /run/netns/shared'],
        [9, 12, 'hosts.c.netns', 'hosts "web" and "c" are both /run/netns/x-web'],
        [13, 12, 'hosts.e.netns', 'hosts "d" and "e" are both /proc/77/ns/net'],
        [15, 12, 'hosts.f.netns', 'hosts "d" and "f" are both /run/netns/x-d'],
      ],
    },
  },
  {
    rule: 'IPv6 on a host with ipv6: false',
    good: ['segments.yaml', 'refs.yaml'],
    bad: {
      'ipv6-off.yaml': [
        [6, 51, 'hosts.a.interfaces.eth0.addresses[1]', 'IPv6 address fd00::1/64 on host "a", which has ipv6: false'],
        [8, 9, 'hosts.a.routes[0]', 'IPv6 route on host "a", which has ipv6: false'],
      ],
    },
  },
  {
    rule: 'vxlan group needs dev, is multicast; one address family',
    good: ['every-kind.yaml'],
    bad: {
      'vxlan-group.yaml': [
        [6, 35, 'hosts.vtep.interfaces.vx0.group', 'a multicast group needs dev'],
        [7, 42, 'hosts.vtep.interfaces.vx1.group', 'group 192.0.2.9 is not a multicast address'],
        [8, 74, 'hosts.vtep.interfaces.vx2.remotes[1]', 'remote fd00::2 is IPv6 but local 192.0.2.1 is IPv4'],
        [8, 85, 'hosts.vtep.interfaces.vx2.remotes[2]', 'remote 239.0.0.1 is multicast'],
      ],
    },
  },
  {
    rule: 'NAT targets inside the lab; unique service names',
    good: ['refs.yaml'],
    bad: {
      'nat-outside.yaml': [
        [8, 27, 'hosts.gw.nat.publish[0].to', 'published target 10.0.0.99 is not an address of any host in this lab'],
        [9, 27, 'hosts.gw.nat.publish[1].to', 'host "gw" has no IPv6 address'],
        [11, 74, 'hosts.gw.nat.services[0].backends[1]', 'service target [fd00::9]:80 is IPv6 but must be IPv4 here'],
        [12, 19, 'hosts.gw.nat.services[1].name', 'service "a" is already defined at services[0]'],
        [12, 59, 'hosts.gw.nat.services[1].backends[0]', 'service target 10.0.0.7 is not an address of any host in this lab'],
      ],
    },
  },
  {
    rule: 'a filter rule naming a service VIP never matches (after DNAT); external_traffic_policy needs node_port',
    good: ['refs.yaml'],
    bad: {
      'firewall-vip.yaml': [
        [9, 110, 'hosts.node.nat.services[1].external_traffic_policy', 'external_traffic_policy applies to a NodePort: add node_port'],
        [
          12,
          43,
          'hosts.node.firewall.rules[0].to',
          '10.96.0.10 is the VIP of service "web": filter rules see packets after the service\'s DNAT, so this rule never matches; name its backends instead (to: [pod], port: 8080)',
        ],
        [13, 38, 'hosts.node.firewall.rules[1].to[1]', '10.96.0.10 is the VIP of service "web"'],
      ],
    },
  },
  {
    rule: 'reachability assertions (expect): syntax and host references (more in expect.test.ts)',
    good: ['expect.yaml'],
    bad: {
      'expect-syntax.yaml': [
        [16, 5, 'expect[0]', 'an assertion reads "SRC -> TARGET'],
        [17, 5, 'expect[1]', '"reachble" is not a verdict: write reachable, unreachable or reaches [HOSTS] (did you mean "reachable"?)'],
        [18, 5, 'expect[2]', '"tpc" is not a protocol: write tcp, udp or ping (did you mean "tcp"?)'],
        [19, 5, 'expect[3]', 'ping has no ports: drop ":80" or write tcp or udp'],
        [20, 5, 'expect[4]', 'udp needs a port: write TARGET:PORT, e.g. db:80'],
        [21, 5, 'expect[5]', 'reaches [...] counts which hosts answer, which needs a port'],
        [22, 5, 'expect[6]', 'reaches needs the hosts that must answer, in brackets'],
        [23, 5, 'expect[7]', 'port "99999" must be a number 1..65535'],
        [24, 5, 'expect[8]', 'host "dbb" is not defined (did you mean "db"?)'],
        [25, 5, 'expect[9]', 'host "wbe" is not defined (did you mean "web"?)'],
        [26, 5, 'expect[10]', 'host "wbe" is not defined (did you mean "web"?)'],
        [27, 5, 'expect[11]', 'host "empty" has no address to send traffic to'],
        [28, 5, 'expect[12]', 'an assertion reads "SRC -> TARGET'],
      ],
    },
  },
];

async function issuesOf(file: string) {
  return (await loadLabs([file])).issues;
}

describe('semantic rules', () => {
  for (const { rule, good, bad } of RULES) {
    describe(rule, () => {
      for (const name of good) {
        it(`accepts good/${name}`, async () => {
          expect(await issuesOf(`${GOOD}/${name}`)).toEqual([]);
        });
      }
      for (const [name, expected] of Object.entries(bad)) {
        it(`rejects bad/${name}`, async () => {
          const file = `${BAD}/${name}`;
          const issues = await issuesOf(file);
          expect(issues.map((i) => [i.file, i.line, i.col, i.path])).toEqual(expected.map(([l, c, p]) => [file, l, c, p]));
          issues.forEach((issue, n) => expect(issue.message).toContain(expected[n]![3]));
        });
      }
    });
  }

  it('covers every non-schema bad fixture', () => {
    const covered = new Set(RULES.flatMap((r) => Object.keys(r.bad)));
    const files = readdirSync(BAD).filter((f) => !f.startsWith('schema-'));
    expect(files.filter((f) => !covered.has(f))).toEqual([]);
  });

  it('accepts every good fixture', async () => {
    for (const name of readdirSync(GOOD)) expect(await issuesOf(`${GOOD}/${name}`), name).toEqual([]);
  });
});
