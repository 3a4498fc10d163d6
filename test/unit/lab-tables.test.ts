// The lab language for processes, policy routing, ECMP, neighbours, fdb entries, pools and
// per-interface sysctls: what normalisation produces and what validation says, with positions.
import { describe, expect, it } from 'vitest';
import { formatLabIssue } from '../../src/errors.js';
import { interfaceSysctlKey } from '../../src/lab/normalise-tables.js';
import { loadLabText } from '../../src/lab/index.js';
import type { Lab } from '../../src/lab/types.js';

const BASE = `name: t
hosts:
  r:
    interfaces:
      a: { link: x:eth0, addresses: [10.1.0.1/24] }
      b: { link: y:eth0, addresses: [10.2.0.1/24] }
EXTRA
  x:
    interfaces:
      eth0: { addresses: [10.1.0.2/24] }
  y:
    interfaces:
      eth0: { addresses: [10.2.0.2/24] }
`;

const withR = (extra: string) => BASE.replace('EXTRA', extra);

function load(text: string): Lab {
  const r = loadLabText('t.yaml', text);
  if (!r.lab) throw new Error(r.issues.map(formatLabIssue).join('\n'));
  return r.lab;
}

const issues = (text: string) => loadLabText('t.yaml', text).issues.map(formatLabIssue);

describe('normalised', () => {
  it('run and exec entries, in order, strings named execN', () => {
    const lab = load(
      withR(`    exec:
      - echo one
      - { name: two, command: "echo two", timeout: 5 }
    run:
      - { name: web, command: "python3 -m http.server 80" }`),
    );
    expect(lab.hosts.find((h) => h.name === 'r')!.processes!.map((p) => [p.name, p.mode, p.command, p.timeout, p.seq])).toEqual([
      ['exec1', 'exec', 'echo one', 60, 0],
      ['two', 'exec', 'echo two', 5, 1],
      ['web', 'run', 'python3 -m http.server 80', null, 0],
    ]);
  });

  it('policy rules, ECMP next hops, neighbours with HOST:IF MACs, interface sysctls', () => {
    const lab = load(
      withR(`    routes:
      - { to: 10.9.0.0/24, nexthops: [{ via: 10.1.0.2, weight: 2 }, { via: 10.2.0.2, dev: b, onlink: true }] }
    routing_policy:
      - { priority: 100, from: 10.1.0.7, to: 10.9.0.0/16, iif: a, fwmark: 16, table: 200 }
      - { priority: 101, fwmark: 0x10/0xff, table: 201 }
      - { priority: 102, to: fd00::/8, table: 202 }`).replace(
        'a: { link: x:eth0, addresses: [10.1.0.1/24] }',
        'a: { link: x:eth0, addresses: [10.1.0.1/24], neighbours: [{ address: 10.1.0.2, mac: x:eth0 }], sysctls: { ipv4.rp_filter: 0, ipv6.neigh.retrans_time_ms: 500 } }',
      ),
    );
    const r = lab.hosts.find((h) => h.name === 'r')!;
    expect(r.routes[0]!.nexthops).toEqual([
      { via: '10.1.0.2', dev: null, weight: 2, onlink: false },
      { via: '10.2.0.2', dev: 'b', weight: 1, onlink: true },
    ]);
    expect(r.rules!.map(({ pos: _pos, ...rest }) => rest)).toEqual([
      { priority: 100, family: 4, from: '10.1.0.7/32', to: '10.9.0.0/16', iif: 'a', oif: null, fwmark: '0x10', table: 200 },
      { priority: 101, family: 4, from: null, to: null, iif: null, oif: null, fwmark: '0x10/0xff', table: 201 },
      { priority: 102, family: 6, from: null, to: 'fd00::/8', iif: null, oif: null, fwmark: null, table: 202 },
    ]);
    expect(r.ipv6).toBe(true);
    const a = r.interfaces.find((i) => i.name === 'a')!;
    const xMac = lab.hosts.find((h) => h.name === 'x')!.interfaces[0]!.mac;
    expect(a.neighbours).toEqual([{ address: '10.1.0.2', mac: xMac }]);
    expect(a.sysctls).toEqual({ 'net.ipv4.conf.a.rp_filter': '0', 'net.ipv6.neigh.a.retrans_time_ms': '500' });
    expect(interfaceSysctlKey('ipv4.rp_filter', 'eth0.10')).toBe('net.ipv4.conf.eth0/10.rp_filter');
  });
});

describe('validation', () => {
  it('process names are unique per host across run and exec', () => {
    expect(
      issues(
        withR(`    exec: ["true", { name: web, command: "true" }]
    run:
      - { name: web, command: "sleep 1" }
      - { name: exec1, command: "sleep 1" }`),
      ),
    ).toEqual([
      't.yaml:9:17: hosts.r.run[0].name: process name "web" is already used by exec[1] in host "r": run and exec names are unique per host',
      't.yaml:10:17: hosts.r.run[1].name: process name "exec1" is already used by exec[0] in host "r": run and exec names are unique per host',
    ]);
  });

  it('rules: interfaces defined, one family, IPv6 needs a prefix, no table 255, no duplicates', () => {
    expect(
      issues(
        withR(`    routing_policy:
      - { priority: 1, iif: c, table: 10 }
      - { priority: 2, from: 10.0.0.0/8, to: fd00::/8, table: 10 }
      - { priority: 3, from: ::/0, table: 10 }
      - { priority: 4, table: 255 }
      - { priority: 1, iif: a, table: 10 }
      - { priority: 1, iif: a, table: 10 }`),
      ),
    ).toEqual([
      't.yaml:8:29: hosts.r.routing_policy[0].iif: interface "c" is not defined in host "r" (did you mean "a"?)',
      't.yaml:9:46: hosts.r.routing_policy[1].to: from 10.0.0.0/8 is IPv4 but to fd00::/8 is IPv6: a rule has one family',
      't.yaml:10:9: hosts.r.routing_policy[2]: an IPv6 rule needs a from or to prefix longer than /0 (a rule without addresses is IPv4)',
      "t.yaml:11:31: hosts.r.routing_policy[3].table: table 255 is the kernel's local table: route into another table",
      't.yaml:13:9: hosts.r.routing_policy[5]: the same rule as routing_policy[4]',
    ]);
  });

  it('next hops: not with via, reachable gateways, one family, no repeats', () => {
    expect(
      issues(
        withR(`    routes:
      - { to: 10.9.0.0/24, via: 10.1.0.2, nexthops: [{ via: 10.1.0.2 }] }
      - { to: 10.8.0.0/24, nexthops: [{ via: 10.7.0.1 }, { via: fd00::1 }, { via: 10.2.0.2 }, { via: 10.2.0.2 }] }`),
      ),
    ).toEqual([
      't.yaml:8:43: hosts.r.routes[0].nexthops: nexthops replace via, dev and onlink: give each next hop its own',
      't.yaml:9:46: hosts.r.routes[1].nexthops[0].via: gateway 10.7.0.1 is not on a connected subnet of host "r"; set onlink: true if that is intended',
      't.yaml:9:65: hosts.r.routes[1].nexthops[1].via: next hop fd00::1 is IPv6 but the route is IPv4',
      't.yaml:9:102: hosts.r.routes[1].nexthops[3].via: next hop 10.2.0.2 is listed twice',
    ]);
  });

  it('fdb entries: on a VXLAN (with dst) or a bridge port; neighbours: MAC references resolve', () => {
    expect(
      issues(
        withR(`      vx: { kind: vxlan, vni: 1, local: 10.1.0.1, fdb: [{ mac: 02:00:00:00:00:01 }, { mac: 02:00:00:00:00:02, dst: fd00::2 }] }
      br0: { kind: bridge }
      p: { bridge: br0, link: z:eth0, fdb: [{ mac: 02:00:00:00:00:03, dst: 10.1.0.9 }, { mac: z:eth0, vlan: 5 }] }
      c: { kind: tap, fdb: [{ mac: 02:00:00:00:00:04 }], neighbours: [{ address: 10.1.0.5, mac: q:eth0 }] }
  z: {}`).replace('    interfaces:\n      a:', '    interfaces:\n      a:'),
      ),
    ).toEqual([
      't.yaml:7:57: hosts.r.interfaces.vx.fdb[0]: an fdb entry of a VXLAN needs dst: the remote VTEP for this MAC',
      't.yaml:7:116: hosts.r.interfaces.vx.fdb[1].dst: dst fd00::2 is IPv6 but local 10.1.0.1 is IPv4',
      't.yaml:9:71: hosts.r.interfaces.p.fdb[0].dst: dst is for VXLAN entries; a bridge port entry has only mac (and vlan)',
      't.yaml:9:103: hosts.r.interfaces.p.fdb[1].vlan: vlan needs vlan_filtering: true on bridge "br0"',
      't.yaml:10:23: hosts.r.interfaces.c.fdb: fdb entries belong on a VXLAN (with dst) or on a bridge port (an interface with bridge: BRIDGE); "c" is neither',
      't.yaml:10:97: hosts.r.interfaces.c.neighbours[0].mac: host "q" is not defined (did you mean "r"?)',
    ]);
  });

  it('schema: interface sysctl keys, fwmark text and MAC references are checked', () => {
    const out = issues(
      withR(`    routing_policy:
      - { priority: 1, fwmark: "0xZZ", table: 10 }`).replace(
        'addresses: [10.1.0.1/24] }',
        'addresses: [10.1.0.1/24], sysctls: { rp_filter: 0 }, neighbours: [{ address: 10.1.0.9, mac: "nope" }] }',
      ),
    );
    expect(out.join('\n')).toContain('sysctl name');
    expect(out.join('\n')).toContain('a MAC address (02:00:00:00:00:01) or HOST:IF');
    expect(out.join('\n')).toContain('a mark, e.g. 16 or 0x10');
  });
});
