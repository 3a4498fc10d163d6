// Golden tests of the nft policy renderer, and rulesFromListing on real `nft list table`
// output captured from nft 1.0.6 by test/live/policy-nft.test.ts (POLICY_PRINT_LISTINGS=1).
import { describe, expect, it } from 'vitest';
import { LabError } from '../../src/errors.js';
import {
  bridgesNeedingHairpin,
  deleteTableScript,
  localnetInterfaces,
  renderPolicy,
  replaceTableScript,
  rulesFromListing,
} from '../../src/model/policy.js';
import type { Host, Policy, Service } from '../../src/lab/types.js';
import { bridge, mkHost as labHost, policy, pos, rule, veth } from '../fixtures/hosts.js';

const mkHost = (name: string, interfaces: Host['interfaces'], p: Policy | null, ipv6 = false) => labHost(name, interfaces, p, { ipv6 });

/** labs/docker-bridge.yaml, host "host", as src/spec normalises it. */
function dockerBridgeHost(p: Partial<Policy> = {}): Host {
  return mkHost(
    'host',
    [
      bridge('host', 'docker0', ['172.17.0.1/16']),
      veth('host', 'uplink', ['203.0.113.1/24'], { host: 'internet', ifname: 'eth0' }),
      veth('host', 'veth1111111', [], { host: 'web', ifname: 'eth0' }, 'docker0'),
      veth('host', 'veth2222222', [], { host: 'db', ifname: 'eth0' }, 'docker0'),
    ],
    policy({
      snat: [{ from: '172.17.0.0/16', out: 'uplink', to: null, pos: pos('hosts.host.nat.masquerade[0]') }],
      dnat: [
        {
          proto: 'tcp',
          port: { from: 8080, to: 8080 },
          toAddress: '172.17.0.2',
          toPort: 80,
          in: null,
          address: null,
          pos: pos('hosts.host.nat.publish[0]'),
        },
      ],
      ...p,
    }),
  );
}

function webService(backends: { address: string; port: number }[], mode: Service['mode'] = 'round-robin'): Service {
  return { name: 'web', vip: '10.96.0.10', proto: 'tcp', port: 80, backends, mode, pos: pos('hosts.node1.nat.services[0]') };
}
const BACKENDS = [
  { address: '10.244.1.2', port: 8080 },
  { address: '10.244.2.2', port: 8080 },
];

/** The rules of one chain of a rendered body, without their comments. */
function chainRules(body: string, chain: string): string[] {
  const m = new RegExp(`chain ${chain} \\{\\n[^\\n]*\\n((?:\\t\\t[^\\n]*\\n)*)\\t\\}`).exec(body);
  return (m?.[1] ?? '')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.trim().replace(/ comment "nl:[0-9a-f]+"$/, ''));
}

/** labs/k8s-flat.yaml, host "node1". */
function k8sNode(
  backends = [
    { address: '10.244.1.2', port: 8080 },
    { address: '10.244.2.2', port: 8080 },
  ],
  p: Partial<Policy> = {},
): Host {
  return mkHost(
    'node1',
    [
      bridge('node1', 'cbr0', ['10.244.1.1/24']),
      veth('node1', 'eth0', ['198.51.100.1/24'], { host: 'node2', ifname: 'eth0' }),
      veth('node1', 'vethaaaaaaa', [], { host: 'pod-a1', ifname: 'eth0' }, 'cbr0'),
    ],
    policy({ services: [webService(backends)], ...p }),
  );
}

/** The live test's docker host (IPv4 and IPv6), lab "pol": the listing fixture below is its kernel listing. */
function liveDockerHost(): Host {
  return mkHost(
    'host',
    [
      bridge('host', 'docker0', ['172.17.0.1/16', 'fd00:17::1/64']),
      veth('host', 'uplink', ['203.0.113.1/24', 'fd00:1::1/64'], { host: 'internet', ifname: 'eth0' }),
      veth('host', 'vweb', [], { host: 'web', ifname: 'eth0' }, 'docker0'),
      veth('host', 'vdb', [], { host: 'db', ifname: 'eth0' }, 'docker0'),
    ],
    policy({
      snat: [
        { from: '172.17.0.0/16', out: 'uplink', to: null, pos: pos('nat.masquerade[0]') },
        { from: 'fd00:17::/64', out: 'uplink', to: null, pos: pos('nat.masquerade[1]') },
      ],
      dnat: [
        {
          proto: 'tcp',
          port: { from: 8080, to: 8080 },
          toAddress: '172.17.0.2',
          toPort: 80,
          in: null,
          address: null,
          pos: pos('nat.publish[0]'),
        },
        {
          proto: 'tcp',
          port: { from: 8080, to: 8080 },
          toAddress: 'fd00:17::2',
          toPort: 80,
          in: null,
          address: null,
          pos: pos('nat.publish[1]'),
        },
      ],
    }),
    true,
  );
}

/** Every construct the renderer has (the same host as kitchenSink() in the live test). */
function kitchenSink(): Host {
  const P = (path: string) => pos(path);
  return mkHost(
    'sink',
    [
      bridge('sink', 'br0', ['172.18.0.1/16', 'fd00:18::1/64']),
      veth('sink', 'up0', ['192.0.2.1/24', '2001:db8::1/64'], { host: 'x', ifname: 'eth0' }),
    ],
    {
      snat: [
        { from: '172.18.0.0/16', out: 'up0', to: null, pos: P('snat[0]') },
        { from: '10.0.0.0/24', out: null, to: '192.0.2.10', pos: P('snat[1]') },
        { from: 'fd00:18::/64', out: 'up0', to: '2001:db8::10', pos: P('snat[2]') },
      ],
      dnat: [
        {
          proto: 'tcp',
          port: { from: 8080, to: 8080 },
          toAddress: '172.18.0.2',
          toPort: 80,
          in: null,
          address: null,
          pos: P('publish[0]'),
        },
        {
          proto: 'udp',
          port: { from: 5000, to: 5010 },
          toAddress: '172.18.0.3',
          toPort: 5000,
          in: 'up0',
          address: '192.0.2.1',
          pos: P('publish[1]'),
        },
        {
          proto: 'tcp',
          port: { from: 7000, to: 7002 },
          toAddress: '172.18.0.3',
          toPort: 9000,
          in: null,
          address: '192.0.2.1',
          pos: P('publish[2]'),
        },
        {
          proto: 'tcp',
          port: { from: 8443, to: 8443 },
          toAddress: 'fd00:18::2',
          toPort: 443,
          in: null,
          address: null,
          pos: P('publish[3]'),
        },
      ],
      services: [
        {
          name: 'rr',
          vip: '10.96.0.10',
          proto: 'tcp',
          port: 80,
          backends: [
            { address: '172.18.0.5', port: 8080 },
            { address: '10.244.2.2', port: 8080 },
          ],
          mode: 'round-robin',
          pos: P('services[0]'),
        },
        {
          name: 'rnd',
          vip: '10.96.0.11',
          proto: 'udp',
          port: 53,
          backends: [
            { address: '10.244.1.2', port: 53 },
            { address: '10.244.2.2', port: 53 },
            { address: '10.244.3.2', port: 53 },
          ],
          mode: 'random',
          pos: P('services[1]'),
        },
        {
          name: 'one',
          vip: '10.96.0.12',
          proto: 'tcp',
          port: 443,
          backends: [{ address: '10.244.1.9', port: 8443 }],
          mode: 'round-robin',
          pos: P('services[2]'),
        },
        { name: 'none', vip: '10.96.0.13', proto: 'tcp', port: 80, backends: [], mode: 'round-robin', pos: P('services[3]') },
        { name: 'none-udp', vip: '10.96.0.13', proto: 'udp', port: 53, backends: [], mode: 'round-robin', pos: P('services[4]') },
        {
          name: 'v6',
          vip: 'fd00:96::10',
          proto: 'tcp',
          port: 80,
          backends: [
            { address: 'fd00:18::5', port: 8080 },
            { address: 'fd00:18::6', port: 8080 },
          ],
          mode: 'round-robin',
          pos: P('services[5]'),
        },
      ],
      defaultAction: 'deny',
      rules: [
        {
          action: 'allow',
          from: ['10.0.1.0/24', '10.0.2.0/24', 'fd00:1::/64'],
          to: ['172.18.0.2/32', 'fd00:18::2/128'],
          proto: 'tcp',
          port: { from: 80, to: 80 },
          pos: P('rules[0]'),
        },
        { action: 'deny', from: ['10.0.2.0/24'], to: [], proto: null, port: null, pos: P('rules[1]') },
        { action: 'allow', from: [], to: [], proto: 'icmp', port: null, pos: P('rules[2]') },
        { action: 'allow', from: [], to: ['172.18.0.3'], proto: 'udp', port: { from: 5000, to: 5010 }, pos: P('rules[3]') },
        { action: 'deny', from: [], to: [], proto: null, port: { from: 23, to: 23 }, pos: P('rules[4]') },
        { action: 'allow', from: ['10.9.0.0/16'], to: [], proto: null, port: null, pos: P('rules[5]') },
      ],
    },
    true,
  );
}

// ---- Real `nft list table inet netlab_pol` output (nft 1.0.6, kernel 6.18) ----

const LIVE_DOCKER_LISTING = `table inet netlab_pol {
	chain nl_prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80 comment "nl:3802b5660f14"
		meta nfproto ipv6 fib daddr type local tcp dport 8080 dnat ip6 to [fd00:17::2]:80 comment "nl:33d32bab76b3"
	}

	chain nl_output {
		type nat hook output priority -100; policy accept;
		meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80 comment "nl:71836743849e"
		ip6 daddr != ::1 fib daddr type local tcp dport 8080 dnat ip6 to [fd00:17::2]:80 comment "nl:0c42a7955fb6"
	}

	chain nl_postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "docker0" ip saddr 172.17.0.0/16 ip daddr 172.17.0.2 ct status dnat tcp dport 80 masquerade comment "nl:4883643fc183"
		oifname "docker0" ip saddr 127.0.0.0/8 masquerade comment "nl:0bb16eef6b76"
		oifname "docker0" ip6 saddr fd00:17::/64 ip6 daddr fd00:17::2 ct status dnat tcp dport 80 masquerade comment "nl:32ba679630a7"
		ip saddr 172.17.0.0/16 ip daddr != 172.17.0.0/16 oifname "uplink" masquerade comment "nl:f428780da6fa"
		ip6 saddr fd00:17::/64 ip6 daddr != fd00:17::/64 oifname "uplink" masquerade comment "nl:2e488e2a4c17"
	}
}
`;

/** The same table listed with `nft -a`, after someone added a set and a rule by hand. */
const LIVE_DOCKER_LISTING_EDITED = `table inet netlab_pol { # handle 1
	set foo { # handle 13
		type ipv4_addr
		elements = { 1.2.3.4, 5.6.7.8 }
	}

	chain nl_prerouting { # handle 1
		type nat hook prerouting priority dstnat; policy accept;
		meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80 comment "nl:3802b5660f14" # handle 4
		meta nfproto ipv6 fib daddr type local tcp dport 8080 dnat ip6 to [fd00:17::2]:80 comment "nl:33d32bab76b3" # handle 5
	}

	chain nl_output { # handle 2
		type nat hook output priority -100; policy accept;
		meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80 comment "nl:71836743849e" # handle 6
		ip6 daddr != ::1 fib daddr type local tcp dport 8080 dnat ip6 to [fd00:17::2]:80 comment "nl:0c42a7955fb6" # handle 7
		ip daddr @foo accept # handle 14
	}

	chain nl_postrouting { # handle 3
		type nat hook postrouting priority srcnat; policy accept;
		oifname "docker0" ip saddr 172.17.0.0/16 ip daddr 172.17.0.2 ct status dnat tcp dport 80 masquerade comment "nl:4883643fc183" # handle 8
		oifname "docker0" ip saddr 127.0.0.0/8 masquerade comment "nl:0bb16eef6b76" # handle 9
		oifname "docker0" ip6 saddr fd00:17::/64 ip6 daddr fd00:17::2 ct status dnat tcp dport 80 masquerade comment "nl:32ba679630a7" # handle 10
		ip saddr 172.17.0.0/16 ip daddr != 172.17.0.0/16 oifname "uplink" masquerade comment "nl:f428780da6fa" # handle 11
		ip6 saddr fd00:17::/64 ip6 daddr != fd00:17::/64 oifname "uplink" masquerade comment "nl:2e488e2a4c17" # handle 12
	}
}
`;

/** kitchenSink() as the kernel lists it: sets merged into ranges, reject and icmpv6 sets rewritten. */
const LIVE_SINK_LISTING = `table inet netlab_pol {
	chain nl_prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.18.0.2:80 comment "nl:4e9b8c543ff1"
		iifname "up0" ip daddr 192.0.2.1 fib daddr type local udp dport 5000-5010 dnat ip to 172.18.0.3:5000-5010 comment "nl:c301959ab9a2"
		ip daddr 192.0.2.1 fib daddr type local tcp dport 7000-7002 dnat ip to tcp dport map { 7000 : 172.18.0.3 . 9000, 7001 : 172.18.0.3 . 9001, 7002 : 172.18.0.3 . 9002 } comment "nl:2b254baa171d"
		meta nfproto ipv6 fib daddr type local tcp dport 8443 dnat ip6 to [fd00:18::2]:443 comment "nl:3aea5a924971"
		ip daddr 10.96.0.10 tcp dport 80 dnat ip to numgen inc mod 2 map { 0 : 10.244.2.2 . 8080, 1 : 172.18.0.5 . 8080 } comment "nl:49bb2e6eb4a0"
		ip daddr 10.96.0.11 udp dport 53 dnat ip to numgen random mod 3 map { 0 : 10.244.1.2 . 53, 1 : 10.244.2.2 . 53, 2 : 10.244.3.2 . 53 } comment "nl:f28e2006b0d8"
		ip daddr 10.96.0.12 tcp dport 443 dnat ip to 10.244.1.9:8443 comment "nl:cca2ae65f0c8"
		ip daddr 10.96.0.13 tcp dport 80 ct state new reject with tcp reset comment "nl:2c179c77f1b7"
		ip daddr 10.96.0.13 udp dport 53 ct state new reject with icmp port-unreachable comment "nl:709c1ed4d766"
		ip6 daddr fd00:96::10 tcp dport 80 dnat ip6 to numgen inc mod 2 map { 0 : fd00:18::5 . 8080, 1 : fd00:18::6 . 8080 } comment "nl:2f04a3cc702a"
	}

	chain nl_output {
		type nat hook output priority -100; policy accept;
		meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.18.0.2:80 comment "nl:0a286a9a1778"
		ip daddr 192.0.2.1 fib daddr type local tcp dport 7000-7002 dnat ip to tcp dport map { 7000 : 172.18.0.3 . 9000, 7001 : 172.18.0.3 . 9001, 7002 : 172.18.0.3 . 9002 } comment "nl:f5fb833f9404"
		ip6 daddr != ::1 fib daddr type local tcp dport 8443 dnat ip6 to [fd00:18::2]:443 comment "nl:8080f4dd53e6"
		ip daddr 10.96.0.10 tcp dport 80 dnat ip to numgen inc mod 2 map { 0 : 10.244.2.2 . 8080, 1 : 172.18.0.5 . 8080 } comment "nl:0fefd568539d"
		ip daddr 10.96.0.11 udp dport 53 dnat ip to numgen random mod 3 map { 0 : 10.244.1.2 . 53, 1 : 10.244.2.2 . 53, 2 : 10.244.3.2 . 53 } comment "nl:a68213e3edb1"
		ip daddr 10.96.0.12 tcp dport 443 dnat ip to 10.244.1.9:8443 comment "nl:437ace9ba6d4"
		ip daddr 10.96.0.13 tcp dport 80 ct state new reject with tcp reset comment "nl:efb23fe42eac"
		ip daddr 10.96.0.13 udp dport 53 ct state new reject with icmp port-unreachable comment "nl:3c39166dbba0"
		ip6 daddr fd00:96::10 tcp dport 80 dnat ip6 to numgen inc mod 2 map { 0 : fd00:18::5 . 8080, 1 : fd00:18::6 . 8080 } comment "nl:a181b0b131fb"
	}

	chain nl_postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "br0" ip saddr 172.18.0.0/16 ip daddr 172.18.0.2 ct status dnat tcp dport 80 masquerade comment "nl:17f6918fbea4"
		oifname "br0" ip saddr 127.0.0.0/8 masquerade comment "nl:b2a7f6fa42b5"
		oifname "br0" ip saddr 172.18.0.0/16 ip daddr 172.18.0.3 ct status dnat udp dport 5000-5010 masquerade comment "nl:9323fb292166"
		oifname "br0" ip saddr 172.18.0.0/16 ip daddr 172.18.0.3 ct status dnat tcp dport 9000-9002 masquerade comment "nl:da72a9eddd45"
		oifname "br0" ip6 saddr fd00:18::/64 ip6 daddr fd00:18::2 ct status dnat tcp dport 443 masquerade comment "nl:e474df2f5b47"
		ip saddr 172.18.0.5 ip daddr 172.18.0.5 ct status dnat tcp dport 8080 masquerade comment "nl:6efabf4a2fa6"
		ip6 saddr fd00:18::5 ip6 daddr fd00:18::5 ct status dnat tcp dport 8080 masquerade comment "nl:be161d6802b0"
		ip6 saddr fd00:18::6 ip6 daddr fd00:18::6 ct status dnat tcp dport 8080 masquerade comment "nl:44068e6d765f"
		ip saddr 172.18.0.0/16 ip daddr != 172.18.0.0/16 oifname "up0" masquerade comment "nl:63bdad44b03d"
		ip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 snat ip to 192.0.2.10 comment "nl:9fee69f8511a"
		ip6 saddr fd00:18::/64 ip6 daddr != fd00:18::/64 oifname "up0" snat ip6 to 2001:db8::10 comment "nl:1615ac2e276e"
	}

	chain nl_input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept comment "nl:148963d5fe25"
		ct state invalid drop comment "nl:022b18b06277"
		iifname "lo" accept comment "nl:c102135af52a"
		icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept comment "nl:949ce47f7199"
		ip saddr { 10.0.1.0-10.0.2.255 } ip daddr 172.18.0.2 tcp dport 80 accept comment "nl:515bf8d5edbb"
		ip6 saddr fd00:1::/64 ip6 daddr fd00:18::2 tcp dport 80 accept comment "nl:41c2789cd3d0"
		ip saddr 10.0.2.0/24 drop comment "nl:c79650cd22ea"
		ip protocol icmp accept comment "nl:18e2b93caf54"
		meta l4proto ipv6-icmp accept comment "nl:61dc6798c1e2"
		ip daddr 172.18.0.3 udp dport 5000-5010 accept comment "nl:b0af8a83fa43"
		meta l4proto { tcp, udp } th dport 23 drop comment "nl:1791396e0896"
		ip saddr 10.9.0.0/16 accept comment "nl:994c09c735b0"
	}

	chain nl_forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept comment "nl:2d08a6e1b51c"
		ct state invalid drop comment "nl:1a9590a6835b"
		icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept comment "nl:16ad8161cb17"
		ip saddr { 10.0.1.0-10.0.2.255 } ip daddr 172.18.0.2 tcp dport 80 accept comment "nl:2abe596a1042"
		ip6 saddr fd00:1::/64 ip6 daddr fd00:18::2 tcp dport 80 accept comment "nl:803f84465173"
		ip saddr 10.0.2.0/24 drop comment "nl:fb0eec212b82"
		ip protocol icmp accept comment "nl:9ab386eb4ba5"
		meta l4proto ipv6-icmp accept comment "nl:ea8f0797baba"
		ip daddr 172.18.0.3 udp dport 5000-5010 accept comment "nl:c394270e9172"
		meta l4proto { tcp, udp } th dport 23 drop comment "nl:37fe59ab81dc"
		ip saddr 10.9.0.0/16 accept comment "nl:e81cc5404bd0"
	}
}
`;

/** Entries of `after` not in `before`, and of `before` not in `after`. */
function diff(before: string[], after: string[]) {
  return { added: after.filter((x) => !before.includes(x)), removed: before.filter((x) => !after.includes(x)) };
}

describe('renderPolicy: golden', () => {
  it('docker bridge: publish, output, hairpin and masquerade', () => {
    const r = renderPolicy('docker', dockerBridgeHost())!;
    expect(r.family).toBe('inet');
    expect(r.table).toBe('netlab_docker');
    expect(r.body).toBe(`table inet netlab_docker {
	chain nl_prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80 comment "nl:3802b5660f14"
	}

	chain nl_output {
		type nat hook output priority -100; policy accept;
		meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80 comment "nl:71836743849e"
	}

	chain nl_postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "docker0" ip saddr 172.17.0.0/16 ip daddr 172.17.0.2 ct status dnat tcp dport 80 masquerade comment "nl:4883643fc183"
		oifname "docker0" ip saddr 127.0.0.0/8 masquerade comment "nl:0bb16eef6b76"
		ip saddr 172.17.0.0/16 ip daddr != 172.17.0.0/16 oifname "uplink" masquerade comment "nl:0b44a77784e0"
	}
}
`);
    // One entry per chain header and per rule, sorted.
    expect(r.rules).toHaveLength(3 + 5);
    expect(r.rules).toEqual([...r.rules].sort());
    for (const id of r.rules) expect(id).toMatch(/^nl_(prerouting|output|postrouting)\/[0-9a-f]{12}$/);
    for (const m of r.body.matchAll(/comment "nl:([0-9a-f]+)"/g)) expect(r.rules.some((id) => id.endsWith(`/${m[1]}`))).toBe(true);
  });

  it('k8s node: a service VIP round-robin over its backends, kube-proxy hairpin for the local one', () => {
    const r = renderPolicy('k8s', k8sNode())!;
    expect(r.body).toBe(`table inet netlab_k8s {
	chain nl_prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 10.96.0.10 tcp dport 80 dnat ip to numgen inc mod 2 map { 0 : 10.244.1.2 . 8080, 1 : 10.244.2.2 . 8080 } comment "nl:fc411e1316fe"
	}

	chain nl_output {
		type nat hook output priority -100; policy accept;
		ip daddr 10.96.0.10 tcp dport 80 dnat ip to numgen inc mod 2 map { 0 : 10.244.1.2 . 8080, 1 : 10.244.2.2 . 8080 } comment "nl:5f34dd915baa"
	}

	chain nl_postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 10.244.1.2 ip daddr 10.244.1.2 ct status dnat tcp dport 8080 masquerade comment "nl:8998321e4af8"
	}
}
`);
  });

  it('NodePort, externalTrafficPolicy Cluster: every local address, marked and masqueraded as kube-proxy does', () => {
    const body = renderPolicy('k8s', k8sNode(undefined, { services: [{ ...webService(BACKENDS), nodePort: 30080 }] }))!.body;
    const toBackends =
      'tcp dport 30080 meta mark set meta mark | 0x00004000 dnat ip to numgen inc mod 2 map { 0 : 10.244.1.2 . 8080, 1 : 10.244.2.2 . 8080 }';
    expect(chainRules(body, 'nl_prerouting')).toContain(`fib daddr type local ip daddr != 127.0.0.0/8 ${toBackends}`);
    // The node's own connections, to 127.0.0.1 too (kube-proxy's localhost NodePorts).
    expect(chainRules(body, 'nl_output')).toContain(`meta nfproto ipv4 fib daddr type local ${toBackends}`);
    expect(chainRules(body, 'nl_postrouting')).toContain('meta mark & 0x00004000 == 0x00004000 masquerade');
  });

  it('NodePort on 127.0.0.1 for the node itself: route_localnet everywhere, guarded as KUBE-FIREWALL does', () => {
    const node = k8sNode(undefined, {
      services: [
        { ...webService(BACKENDS), nodePort: 30080 },
        { ...webService(BACKENDS), name: 'api', port: 81, nodePort: 30081 },
      ],
    });
    const pre = chainRules(renderPolicy('k8s', node)!.body, 'nl_prerouting');
    // The backend may be on any interface, so every one takes a 127.0.0.0/8 source...
    expect(localnetInterfaces(node)).toEqual(['all']);
    // ...and nothing from outside reaches the node's loopback: one guard, before any DNAT.
    expect(pre[0]).toBe('iifname != "lo" ip daddr 127.0.0.0/8 drop');
    expect(pre.filter((r) => r.includes('127.0.0.0/8 drop'))).toHaveLength(1);
    // Neither without a NodePort, nor for an IPv6 one (kube-proxy's localhost NodePorts are IPv4 only).
    const v6: Service = { ...webService([{ address: 'fd00:244:1::2', port: 8080 }]), vip: 'fd00:96::10', nodePort: 30080 };
    for (const h of [k8sNode(), k8sNode(undefined, { services: [v6] })]) {
      expect(localnetInterfaces(h)).toEqual([]);
      expect(renderPolicy('k8s', h)!.body).not.toContain('127.0.0.0/8 drop');
    }
    expect(chainRules(renderPolicy('k8s', k8sNode(undefined, { services: [v6] }))!.body, 'nl_output')).toContain(
      'fib daddr type local ip6 daddr != ::1 tcp dport 30080 meta mark set meta mark | 0x00004000 dnat ip6 to [fd00:244:1::2]:8080',
    );
  });

  it('NodePort, externalTrafficPolicy Local: only local backends, the client address kept, none = drop', () => {
    const local = { ...webService(BACKENDS), nodePort: 30080, externalTrafficPolicy: 'Local' as const };
    const body = renderPolicy('k8s', k8sNode(undefined, { services: [local] }))!.body;
    expect(chainRules(body, 'nl_prerouting')).toContain(
      'fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 30080 dnat ip to 10.244.1.2:8080',
    );
    // The node's own connections take the Cluster path, as kube-proxy's "masquerade LOCAL traffic".
    expect(chainRules(body, 'nl_output').some((r) => r.includes('dport 30080 meta mark set'))).toBe(true);
    const remote = { ...local, backends: [{ address: '10.244.2.2', port: 8080 }] };
    const none = renderPolicy('k8s', k8sNode(undefined, { services: [remote] }))!.body;
    expect(chainRules(none, 'nl_prerouting')).toContain('fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 30080 drop');
  });

  it('userland_proxy false: only a container reaching its own published port is masqueraded', () => {
    const body = renderPolicy('docker', dockerBridgeHost({ userlandProxy: false }))!.body;
    const post = chainRules(body, 'nl_postrouting');
    expect(post).toEqual([
      'ip saddr 172.17.0.2 ip daddr 172.17.0.2 ct status dnat tcp dport 80 masquerade',
      // moby's `-o docker0 -m addrtype --src-type LOCAL -j MASQUERADE`: the host's own connections.
      'oifname "docker0" fib saddr type local masquerade',
      'ip saddr 172.17.0.0/16 ip daddr != 172.17.0.0/16 oifname "uplink" masquerade',
    ]);
  });

  it('a port published on every address answers on 127.0.0.1 too, as with Docker, where the target is on a segment of the host', () => {
    const host = dockerBridgeHost();
    const body = renderPolicy('docker', host)!.body;
    // Loopback is DNATed in output (docker-proxy listens on it; without it, Docker DNATs it)...
    expect(chainRules(body, 'nl_output')).toEqual(['meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80']);
    // ...leaves the bridge as the bridge's address, which needs route_localnet there.
    expect(chainRules(body, 'nl_postrouting')).toContain('oifname "docker0" ip saddr 127.0.0.0/8 masquerade');
    expect(localnetInterfaces(host)).toEqual(['docker0']);
    // Not a port published on one address or inbound interface, nor a target the host only routes to.
    const only = (d: Partial<Policy['dnat'][number]>) => dockerBridgeHost({ dnat: [{ ...host.policy!.dnat[0]!, ...d }] });
    for (const h of [only({ address: '203.0.113.1' }), only({ in: 'uplink' }), only({ toAddress: '198.51.100.7' })]) {
      expect(localnetInterfaces(h)).toEqual([]);
      expect(renderPolicy('docker', h)!.body).not.toContain('127.0.0.0/8 masquerade');
    }
    expect(chainRules(renderPolicy('docker', only({ toAddress: '198.51.100.7' }))!.body, 'nl_output')).toEqual([
      'ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 8080 dnat ip to 198.51.100.7:80',
    ]);
  });

  it('isolate: from other interfaces, a bridge is entered only by DNATed traffic, after the rules; no input chain', () => {
    const body = renderPolicy('docker', dockerBridgeHost({ isolate: ['docker0'] }))!.body;
    expect(body).not.toContain('nl_input');
    expect(body).toContain('type filter hook forward priority filter; policy accept;');
    expect(chainRules(body, 'nl_forward')).toEqual([
      'ct state established,related accept',
      'ct state invalid drop',
      'iifname != "docker0" oifname "docker0" ct status dnat accept',
      'iifname != "docker0" oifname "docker0" drop',
    ]);
  });

  it('random mode, one backend, no backends', () => {
    const rnd = renderPolicy(
      'k8s',
      mkHost(
        'n',
        [],
        policy({
          services: [
            webService(
              [
                { address: '10.0.0.1', port: 1 },
                { address: '10.0.0.2', port: 2 },
              ],
              'random',
            ),
          ],
        }),
      ),
    )!;
    expect(rnd.body).toContain(
      'ip daddr 10.96.0.10 tcp dport 80 dnat ip to numgen random mod 2 map { 0 : 10.0.0.1 . 1, 1 : 10.0.0.2 . 2 }',
    );
    const one = renderPolicy('k8s', mkHost('n', [], policy({ services: [webService([{ address: '10.0.0.1', port: 1 }])] })))!;
    expect(one.body).toContain('ip daddr 10.96.0.10 tcp dport 80 dnat ip to 10.0.0.1:1 comment');
    const none = renderPolicy('k8s', mkHost('n', [], policy({ services: [webService([])] })))!;
    // `ct state new` keeps conntrack on in the namespace: without a conntrack user the nat chain is never evaluated.
    expect(none.body).toContain('ip daddr 10.96.0.10 tcp dport 80 ct state new reject with tcp reset comment');
    expect(none.body).not.toContain('postrouting');
  });

  it('IPv6: masquerade, snat, publish with brackets, v6 service map', () => {
    const r = renderPolicy('pol', liveDockerHost())!;
    expect(r.body).toContain('meta nfproto ipv6 fib daddr type local tcp dport 8080 dnat ip6 to [fd00:17::2]:80');
    expect(r.body).toContain('ip6 daddr != ::1 fib daddr type local tcp dport 8080 dnat ip6 to [fd00:17::2]:80');
    expect(r.body).toContain('ip6 saddr fd00:17::/64 ip6 daddr != fd00:17::/64 oifname "uplink" masquerade');
    const sink = renderPolicy('pol', kitchenSink())!.body;
    expect(sink).toContain('ip6 saddr fd00:18::/64 ip6 daddr != fd00:18::/64 oifname "up0" snat ip6 to 2001:db8::10');
    expect(sink).toContain(
      'ip6 daddr fd00:96::10 tcp dport 80 dnat ip6 to numgen inc mod 2 map { 0 : fd00:18::5 . 8080, 1 : fd00:18::6 . 8080 }',
    );
  });

  it('publish: port ranges, inbound interface, address', () => {
    const body = renderPolicy('pol', kitchenSink())!.body;
    // Same range on both sides: nft's range target keeps the original port.
    expect(body).toContain('iifname "up0" ip daddr 192.0.2.1 fib daddr type local udp dport 5000-5010 dnat ip to 172.18.0.3:5000-5010');
    // A shifted range is mapped port by port (a range target would pick any port of it).
    expect(body).toContain(
      'ip daddr 192.0.2.1 fib daddr type local tcp dport 7000-7002 dnat ip to tcp dport map { 7000 : 172.18.0.3 . 9000, 7001 : 172.18.0.3 . 9001, 7002 : 172.18.0.3 . 9002 }',
    );
    // Published on one inbound interface only: nothing in the output chain for it.
    expect(body.split('chain nl_output')[1]!.split('chain nl_postrouting')[0]).not.toContain('5000-5010');
  });

  it('chain names are prefixed, never bare keywords', () => {
    const body = renderPolicy('pol', kitchenSink())!.body;
    const chains = [...body.matchAll(/^\tchain (\S+) \{$/gm)].map((m) => m[1]);
    expect(chains).toEqual(['nl_prerouting', 'nl_output', 'nl_postrouting', 'nl_input', 'nl_forward']);
  });

  it('lab names with dashes give an nft-safe table name', () => {
    expect(renderPolicy('my-lab', dockerBridgeHost())!.table).toBe('netlab_my_lab');
    expect(renderPolicy('my-lab', dockerBridgeHost())!.body.startsWith('table inet netlab_my_lab {\n')).toBe(true);
  });
});

describe('renderPolicy: filter', () => {
  const chain = (body: string, name: string) =>
    body
      .split(`\tchain ${name} {\n`)[1]!
      .split('\n\t}')[0]!
      .split('\n')
      .map((l) => l.trim().replace(/ comment "nl:[0-9a-f]+"$/, ''));

  it('state rules first, then rules in order, then the default as chain policy', () => {
    const h = dockerBridgeHost({
      defaultAction: 'deny',
      rules: [
        rule({ action: 'allow', from: ['203.0.113.0/24'], to: ['172.17.0.2/32'], proto: 'tcp', port: { from: 80, to: 80 } }),
        rule({ action: 'deny', from: ['10.0.2.0/24'] }),
        rule({ action: 'allow', proto: 'icmp' }),
      ],
    });
    const body = renderPolicy('docker', h)!.body;
    expect(chain(body, 'nl_forward')).toEqual([
      'type filter hook forward priority filter; policy drop;',
      'ct state established,related accept',
      'ct state invalid drop',
      'ip saddr 203.0.113.0/24 ip daddr 172.17.0.2 tcp dport 80 accept',
      'ip saddr 10.0.2.0/24 drop',
      'ip protocol icmp accept',
      'meta l4proto ipv6-icmp accept',
    ]);
    expect(chain(body, 'nl_input')).toEqual([
      'type filter hook input priority filter; policy drop;',
      'ct state established,related accept',
      'ct state invalid drop',
      'iifname "lo" accept',
      'ip saddr 203.0.113.0/24 ip daddr 172.17.0.2 tcp dport 80 accept',
      'ip saddr 10.0.2.0/24 drop',
      'ip protocol icmp accept',
      'meta l4proto ipv6-icmp accept',
    ]);
  });

  it('only when there are rules or a deny default', () => {
    expect(renderPolicy('docker', dockerBridgeHost())!.body).not.toContain('hook forward');
    const denyOnly = renderPolicy('docker', dockerBridgeHost({ defaultAction: 'deny' }))!.body;
    expect(chain(denyOnly, 'nl_forward')).toEqual([
      'type filter hook forward priority filter; policy drop;',
      'ct state established,related accept',
      'ct state invalid drop',
    ]);
    const allowWithRule = renderPolicy(
      'docker',
      dockerBridgeHost({ rules: [rule({ action: 'deny', proto: 'tcp', port: { from: 81, to: 81 } })] }),
    )!.body;
    expect(chain(allowWithRule, 'nl_forward')).toEqual([
      'type filter hook forward priority filter; policy accept;',
      'ct state established,related accept',
      'ct state invalid drop',
      'tcp dport 81 drop',
    ]);
  });

  it('address families: v6 CIDRs use ip6, mixed rules split, impossible combinations vanish', () => {
    const h = mkHost(
      'h',
      [veth('h', 'eth0', ['fd00::1/64'], { host: 'x', ifname: 'eth0' })],
      policy({
        defaultAction: 'deny',
        rules: [
          rule({ action: 'allow', from: ['10.0.0.5/24', 'fd00::/64', '10.0.1.1'], proto: 'udp', port: { from: 5000, to: 5010 } }),
          rule({ action: 'deny', from: ['10.0.0.0/8'], to: ['fd00::1/128'] }),
          rule({ action: 'deny', from: ['fd00::/64'], proto: 'icmp' }),
          rule({ action: 'allow', port: { from: 53, to: 53 } }),
          rule({ action: 'deny' }),
        ],
      }),
    );
    expect(chain(renderPolicy('x', h)!.body, 'nl_forward')).toEqual([
      'type filter hook forward priority filter; policy drop;',
      'ct state established,related accept',
      'ct state invalid drop',
      'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept',
      'ip saddr { 10.0.0.0/24, 10.0.1.1 } udp dport 5000-5010 accept',
      'ip6 saddr fd00::/64 udp dport 5000-5010 accept',
      'ip6 saddr fd00::/64 meta l4proto ipv6-icmp drop',
      'meta l4proto { tcp, udp } th dport 53 accept',
      'drop',
    ]);
  });
});

describe('renderPolicy: determinism and digests', () => {
  it('is deterministic, and services and backends are sorted', () => {
    expect(renderPolicy('k8s', k8sNode())).toEqual(renderPolicy('k8s', k8sNode()));
    const reversed = k8sNode([
      { address: '10.244.2.2', port: 8080 },
      { address: '10.244.1.2', port: 8080 },
    ]);
    expect(renderPolicy('k8s', reversed)).toEqual(renderPolicy('k8s', k8sNode()));
    const sink = kitchenSink();
    const shuffled: Host = { ...sink, policy: { ...sink.policy!, services: [...sink.policy!.services].reverse() } };
    expect(renderPolicy('pol', shuffled)).toEqual(renderPolicy('pol', sink));
  });

  it('order of filter rules and of published ports is kept, and changes the digests', () => {
    const a = rule({ action: 'allow', from: ['10.0.0.0/8'] });
    const b = rule({ action: 'deny', from: ['10.1.0.0/16'] });
    const ab = renderPolicy('d', dockerBridgeHost({ rules: [a, b] }))!;
    const ba = renderPolicy('d', dockerBridgeHost({ rules: [b, a] }))!;
    expect(ab.body.indexOf('10.0.0.0/8 accept')).toBeLessThan(ab.body.indexOf('10.1.0.0/16 drop'));
    expect(ba.body.indexOf('10.0.0.0/8 accept')).toBeGreaterThan(ba.body.indexOf('10.1.0.0/16 drop'));
    // Same rules, other order: not the same rule set.
    expect(ab.rules).not.toEqual(ba.rules);
  });

  it('changing exactly one rule changes exactly its digest', () => {
    const base = renderPolicy('docker', dockerBridgeHost())!;
    // One NAT rule: the masquerade's outbound interface.
    const h = dockerBridgeHost();
    h.policy!.snat[0] = { ...h.policy!.snat[0]!, out: 'eth1' };
    const d = diff(base.rules, renderPolicy('docker', h)!.rules);
    expect(d.added).toHaveLength(1);
    expect(d.removed).toHaveLength(1);
    expect(d.added[0]!.startsWith('nl_postrouting/')).toBe(true);

    // One filter rule: rendered once in nl_input and once in nl_forward, nothing else moves.
    const rules = [rule({ action: 'allow', proto: 'tcp', port: { from: 80, to: 80 } }), rule({ action: 'deny', from: ['10.0.2.0/24'] })];
    const f1 = renderPolicy('docker', dockerBridgeHost({ rules }))!;
    const f2 = renderPolicy('docker', dockerBridgeHost({ rules: [rules[0]!, { ...rules[1]!, from: ['10.0.3.0/24'] }] }))!;
    const fd = diff(f1.rules, f2.rules);
    expect(fd.added.map((x) => x.split('/')[0]).sort()).toEqual(['nl_forward', 'nl_input']);
    expect(fd.removed.map((x) => x.split('/')[0]).sort()).toEqual(['nl_forward', 'nl_input']);

    // The default verdict is a chain header: only the two headers change.
    const f3 = renderPolicy('docker', dockerBridgeHost({ rules, defaultAction: 'deny' }))!;
    const hd = diff(f1.rules, f3.rules);
    expect(hd.added).toHaveLength(2);
    expect(hd.removed).toHaveLength(2);
    expect(f3.body).toContain('policy drop;');

    // A backend membership change is one rule per chain (prerouting and output).
    const k1 = renderPolicy('k8s', k8sNode())!;
    const k2 = renderPolicy(
      'k8s',
      k8sNode([
        { address: '10.244.1.2', port: 8080 },
        { address: '10.244.2.2', port: 8080 },
        { address: '10.244.2.3', port: 8080 },
      ]),
    )!;
    const kd = diff(k1.rules, k2.rules);
    expect(kd.added.map((x) => x.split('/')[0]).sort()).toEqual(['nl_output', 'nl_prerouting']);
  });

  it('null when the policy installs nothing', () => {
    expect(renderPolicy('x', mkHost('h', [], null))).toBeNull();
    expect(renderPolicy('x', mkHost('h', [], policy({})))).toBeNull();
    expect(renderPolicy('x', mkHost('h', [], policy({ defaultAction: 'deny' })))).not.toBeNull();
  });

  it('rejects what src/spec should have caught, with the position', () => {
    const h = dockerBridgeHost();
    h.policy!.snat[0] = { ...h.policy!.snat[0]!, to: 'fd00::1' };
    expect(() => renderPolicy('x', h)).toThrow(LabError);
    expect(() => renderPolicy('x', h)).toThrow(/lab.yaml:3:5: hosts.host.nat.masquerade\[0\]: snat to fd00::1/);
    const bad = k8sNode([{ address: 'fd00::1', port: 80 }]);
    expect(() => renderPolicy('x', bad)).toThrow(/not of the VIP's address family/);
    const notAnAddress = dockerBridgeHost({ rules: [rule({ action: 'allow', from: ['web'] })] });
    expect(() => renderPolicy('x', notAnAddress)).toThrow(/"web" is not an address or CIDR/);
  });
});

describe('table scripts', () => {
  it('replace: declare, delete, recreate in one transaction', () => {
    expect(replaceTableScript({ family: 'inet', table: 'netlab_x', body: 'table inet netlab_x {\n}\n' })).toBe(
      'table inet netlab_x\ndelete table inet netlab_x\ntable inet netlab_x {\n}\n',
    );
    expect(replaceTableScript({ family: 'inet', table: 'netlab_x', body: 'table inet netlab_x {\n}' }).endsWith('}\n')).toBe(true);
  });
  it('delete: works when the table is missing', () => {
    expect(deleteTableScript('inet', 'netlab_x')).toBe('table inet netlab_x\ndelete table inet netlab_x\n');
  });
});

describe('rulesFromListing', () => {
  it('gives back the rendered rules from the kernel listing (docker, IPv4 and IPv6)', () => {
    expect(rulesFromListing(LIVE_DOCKER_LISTING)).toEqual(renderPolicy('pol', liveDockerHost())!.rules);
  });
  it('gives back the rendered rules for every construct, although nft rewrote sets and rejects', () => {
    const r = renderPolicy('pol', kitchenSink())!;
    expect(r.body).not.toBe(LIVE_SINK_LISTING);
    expect(rulesFromListing(LIVE_SINK_LISTING)).toEqual(r.rules);
    // Our own body parses the same way.
    expect(rulesFromListing(r.body)).toEqual(r.rules);
  });
  it('handles (-a) do not matter; hand-made rules and sets show up as differences', () => {
    const expected = renderPolicy('pol', liveDockerHost())!.rules;
    const got = rulesFromListing(LIVE_DOCKER_LISTING_EDITED);
    const d = diff(expected, got);
    expect(d.removed).toEqual([]);
    expect(d.added).toHaveLength(2);
    expect(d.added.find((x) => x.startsWith('set:foo/?'))).toBeDefined();
    expect(d.added.find((x) => /^nl_output\/\?[0-9a-f]{12}$/.test(x))).toBeDefined();
  });
  it('a changed chain policy shows up through the header digest', () => {
    const r = renderPolicy('pol', kitchenSink())!;
    const edited = LIVE_SINK_LISTING.replace('hook forward priority filter; policy drop;', 'hook forward priority filter; policy accept;');
    const d = diff(r.rules, rulesFromListing(edited));
    expect(d.added).toHaveLength(1);
    expect(d.removed).toHaveLength(1);
    expect(d.added[0]!.startsWith('nl_forward/')).toBe(true);
  });
  it('an empty listing is an empty list', () => {
    expect(rulesFromListing('')).toEqual([]);
  });
});

describe('bridgesNeedingHairpin', () => {
  it('bridges whose subnet holds a published target or a service backend', () => {
    expect(bridgesNeedingHairpin(dockerBridgeHost())).toEqual(['docker0']);
    expect(bridgesNeedingHairpin(k8sNode())).toEqual(['cbr0']);
    expect(bridgesNeedingHairpin(kitchenSink())).toEqual(['br0']);
  });
  it('none when targets are elsewhere or there is no policy', () => {
    expect(bridgesNeedingHairpin(k8sNode([{ address: '10.244.2.2', port: 8080 }]))).toEqual([]);
    expect(bridgesNeedingHairpin(dockerBridgeHost({ dnat: [] }))).toEqual([]);
    expect(bridgesNeedingHairpin(mkHost('h', [bridge('h', 'br0', ['10.0.0.1/24'])], null))).toEqual([]);
  });
});
