// What validate used to accept and apply then refused or silently changed: each is now an issue
// at the text that causes it (file:line:col), with what to write instead.
import { describe, expect, it } from 'vitest';
import { starLabYaml } from '../../src/cli/gen.js';
import { formatLabIssue } from '../../src/errors.js';
import { loadLabText } from '../../src/lab/index.js';
import { MAX_BRIDGE_PORTS } from '../../src/lab/semantic-devices.js';

const issues = (text: string) => loadLabText('t.yaml', text).issues.map(formatLabIssue);

/** Two hosts on a veth; `extra` goes under host a (4-space indent). */
const pair = (addr: string, extra = '', peer = '10.0.0.2/24') => `name: t
hosts:
  a:
    interfaces:
      eth0: { link: b:eth0, addresses: [${addr}] }
${extra}  b:
    interfaces:
      eth0: { addresses: [${peer}] }
`;

describe('host addresses (19.10, 20.8)', () => {
  it('refuses /0 as an interface address, IPv6 and IPv4', () => {
    expect(issues(pair('"::/0"'))).toEqual([
      `t.yaml:5:41: hosts.a.interfaces.eth0.addresses[0]: ::/0 is not a host address: /0 is every address; write the interface's own address and its subnet's prefix, e.g. fd00::1/64`,
    ]);
    expect(issues(pair('0.0.0.0/0'))[0]).toMatch(/^t\.yaml:5:41: .*0\.0\.0\.0\/0 is not a host address: \/0 is every address/);
  });

  it('refuses a network address as a host address, with the first host address as the hint', () => {
    expect(issues(pair('172.17.0.0/16'))).toEqual([
      't.yaml:5:41: hosts.a.interfaces.eth0.addresses[0]: 172.17.0.0/16 is the network address of its subnet, not a host address (did you mean 172.17.0.1/16?)',
    ]);
    expect(issues(pair('"fd00:1::/64"'))[0]).toContain('(did you mean fd00:1::1/64?)');
  });

  it('accepts every address of /31, /32, /127 and /128 (they have no network address)', () => {
    for (const [addr, peer] of [
      ['10.0.0.0/31', '10.0.0.1/31'],
      ['10.0.0.0/32', '10.0.0.1/32'],
      ['"fd00::/127"', '"fd00::1/127"'],
      ['"fd00::/128"', '"fd00::1/128"'],
    ])
      expect(issues(pair(addr, '', peer)), addr).toEqual([]);
  });

  it('refuses host bits in a route destination, with the network as the hint', () => {
    const text = pair('10.0.0.1/24', '    routes: [{ to: 10.1.2.3/24, via: 10.0.0.2 }]\n');
    expect(issues(text)).toEqual([
      "t.yaml:6:20: hosts.a.routes[0].to: destination 10.1.2.3/24 has host bits set: a route's destination is a network (did you mean 10.1.2.0/24?)",
    ]);
    expect(issues(pair('10.0.0.1/24', '    routes: [{ to: 10.1.2.0/24, via: 10.0.0.2 }, { to: 10.9.9.9/32, via: 10.0.0.2 }]\n'))).toEqual(
      [],
    );
  });
});

describe('overlapping subnets on two segments of one host (20.7)', () => {
  const docker = (uplink: string) => `name: t
root: true
hosts:
  node:
    netns: root
    interfaces:
      docker0: { kind: bridge, addresses: [172.17.0.1/16] }
      uplink: { link: isp:eth0, addresses: [${uplink}] }
  isp:
    interfaces:
      eth0: { addresses: [172.17.5.2/24] }
`;

  it('is an error naming both addresses and interfaces', () => {
    expect(issues(docker('172.17.5.1/24'))).toEqual([
      `t.yaml:8:45: hosts.node.interfaces.uplink.addresses[0]: subnet 172.17.5.0/24 of 172.17.5.1/24 (hosts.node.interfaces.uplink) overlaps 172.17.0.0/16 of 172.17.0.1/16 (hosts.node.interfaces.docker0), which is on another L2 segment of host "node": the host could route only one of them; use disjoint subnets`,
    ]);
  });

  it('also for the same subnet, not for disjoint ones, nor for single addresses', () => {
    expect(issues(docker('172.17.0.9/16').replace('172.17.5.2/24', '172.17.0.10/16'))[0]).toContain(
      'overlaps 172.17.0.0/16 of 172.17.0.1/16',
    );
    expect(issues(docker('172.18.5.1/24').replace('172.17.5.2/24', '172.18.5.2/24'))).toEqual([]);
    expect(issues(docker('172.17.5.1/32').replace('172.17.5.2/24', '172.17.5.2/32'))).toEqual([]);
  });
});

describe('commands apply cannot run (19.10)', () => {
  it('refuses a NUL in an exec or run command, at the command', () => {
    const text = pair('10.0.0.1/24', '    exec: ["echo a\\0b"]\n    run: [{ name: s, command: "sleep\\0 9" }]\n');
    expect(issues(text)).toEqual([
      't.yaml:6:12: hosts.a.exec[0]: command contains a NUL character (at character 7): a command line cannot carry one; remove it',
      't.yaml:7:31: hosts.a.run[0].command: command contains a NUL character (at character 6): a command line cannot carry one; remove it',
    ]);
  });

  it('refuses a command longer than MAX_ARG_STRLEN, and takes one that fits', () => {
    const command = (n: number) => pair('10.0.0.1/24', `    exec: [{ name: big, command: "${'x'.repeat(n)}" }]\n`);
    expect(issues(command(131072))).toEqual([
      't.yaml:6:34: hosts.a.exec[0].command: command is 131072 bytes: the kernel passes at most 131071 (MAX_ARG_STRLEN, 131072 bytes with its terminating NUL) in one argument; put the script in a file and run that',
    ]);
    expect(issues(command(131071))).toEqual([]);
    expect(issues(pair('10.0.0.1/24', `    exec: ["${'x'.repeat(3_900_000)}"]\n`))[0]).toMatch(/^t\.yaml:6:12: .*command is 3900000 bytes/);
  });
});

describe('namespace targets apply cannot attach (19.10)', () => {
  const attached = (netns: string) => `name: t
root: true
hosts:
  a:
    netns: ${netns}
    interfaces:
      eth0: { link: b:eth0, addresses: [10.0.0.1/24] }
  b:
    interfaces:
      eth0: { addresses: [10.0.0.2/24] }
`;

  it('refuses a path that is not a namespace file, saying which are', () => {
    expect(issues(attached('{ path: /etc/passwd }'))).toEqual([
      't.yaml:5:20: hosts.a.netns.path: /etc/passwd is not a network namespace file: use /proc/PID/ns/net, /proc/PID/task/TID/ns/net, /run/netns/NAME or /run/docker/netns/NAME (or the same under /var/run)',
    ]);
    expect(issues(attached('{ path: /proc/1/ns/../../../etc/passwd }'))[0]).toContain('is not a network namespace file');
    expect(issues(attached('{ path: /proc/99999999999/ns/net }'))[0]).toContain('names no process: a pid is 1..4194304');
  });

  it('accepts the namespace files it names', () => {
    for (const path of ['/proc/4242/ns/net', '/proc/42/task/43/ns/net', '/run/netns/x', '/var/run/netns/x', '/run/docker/netns/abc123'])
      expect(issues(attached(`{ path: ${path} }`)), path).toEqual([]);
  });

  it('refuses a pid above PID_MAX_LIMIT', () => {
    expect(issues(attached('{ pid: 99999999999 }'))).toEqual([
      "t.yaml:5:19: hosts.a.netns.pid: pid 99999999999 names no process: a pid is 1..4194304 (the kernel's PID_MAX_LIMIT)",
    ]);
    expect(issues(attached('{ pid: 4194304 }'))).toEqual([]);
  });
});

describe('ports on one bridge (20.6)', () => {
  /** A hub bridge with `n` hosts linked to it, written as a template. */
  const hub = (n: number) => `name: t
hosts:
  hub:
    interfaces:
      br0: { kind: bridge, addresses: [10.10.0.1/16] }
  h{i}:
    count: ${n}
    interfaces:
      eth0: { link: hub:br0, addresses: ["10.10.{i+1/256}.{i+1%256}/16"] }
`;

  it('refuses more than the kernel takes, at the bridge, naming the limit and the way out', () => {
    expect(MAX_BRIDGE_PORTS).toBe(1023);
    expect(issues(hub(1025))).toEqual([
      't.yaml:5:7: hosts.hub.interfaces.br0: bridge "br0" of host "hub" gets 1025 ports: Linux takes at most 1023 on one bridge (apply would fail with "Exchange full"); split the segment across bridges joined by a trunk (a link between two bridges) or by a router',
    ]);
    expect(issues(hub(1024))[0]).toContain('gets 1024 ports');
    expect(issues(hub(1023))).toEqual([]);
  });

  it('counts ports declared with bridge: too', () => {
    const text = `name: t
hosts:
  sw:
    interfaces:
      br0: { kind: bridge }
      t{i}: { kind: tap, bridge: br0 }
`;
    const many = text.replace(
      '      t{i}: { kind: tap, bridge: br0 }\n',
      Array.from({ length: 1024 }, (_, i) => `      t${i}: { kind: tap, bridge: br0 }\n`).join(''),
    );
    expect(issues(many)[0]).toContain('bridge "br0" of host "sw" gets 1024 ports');
  });

  it('netlab gen --hosts 2500 validates, with no bridge over the limit and the bridges chained', () => {
    const r = loadLabText('g.yaml', starLabYaml({ name: 'g', hosts: 2500 }));
    expect(r.issues.map(formatLabIssue)).toEqual([]);
    const hubHost = r.lab!.hosts.find((h) => h.name === 'hub')!;
    const bridges = hubHost.interfaces.filter((i) => i.kind === 'bridge');
    expect(bridges.map((b) => b.name)).toEqual(['br0', 'br1', 'br2']);
    const ports = bridges.map((b) => hubHost.interfaces.filter((i) => i.master === b.ifname).length);
    expect(ports.every((n) => n <= MAX_BRIDGE_PORTS)).toBe(true);
    // 2500 host ports and two trunks, each with an end on two bridges.
    expect(ports.reduce((a, b) => a + b, 0)).toBe(2500 + 4);
  });
});

describe('causes first, knock-ons dropped (20.9)', () => {
  const typo = (peer: string) => `name: x
hosts:
  web:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
    routes: [{ to: 10.9.0.0/16, via: 10.0.0.2, dev: eth0 }]
  db:
    interfaces:
      eth0: { addresses: [10.0.0.2/24] }
links:
  - { a: db:eth0, b: ${peer}:eth0 }
`;

  it('a typo in a link end is the one issue: not eth0 unlinked, not dev eth0 unknown', () => {
    expect(issues(typo('wbe'))).toEqual(['t.yaml:11:22: links[0].b: host "wbe" is not defined (did you mean "web"?)']);
  });

  it('an issue that may follow from a wrong end comes after it, though written earlier', () => {
    expect(issues(typo('zzzzzz'))).toEqual([
      't.yaml:11:22: links[0].b: host "zzzzzz" is not defined',
      't.yaml:5:7: hosts.web.interfaces.eth0: interface "eth0" has no kind and no link creates it: add a link (e.g. { a: web:eth0, b: OTHER:IF }) or set kind',
    ]);
  });
});

describe('a link to an undeclared interface next to an unlinked one (20.10)', () => {
  const lab = (end: string) => `name: x
hosts:
  internet:
    interfaces:
      eth0: { addresses: [203.0.113.1/24] }
  gw:
    interfaces:
      wan: { addresses: [203.0.113.2/24] }
links:
  - { a: gw:wan, b: ${end} }
`;

  it('says did you mean the unlinked interface, and not that it is unlinked', () => {
    expect(issues(lab('internet:eth1'))).toEqual([
      't.yaml:10:21: links[0].b: interface "eth1" is not declared in host "internet", which declares "eth0" and links it nowhere (did you mean "eth0"?)',
    ]);
    expect(issues(lab('internet:eth0'))).toEqual([]);
  });

  it('still lets a link create an interface in a host whose declared ones are all linked', () => {
    const text = lab('internet:eth0').replace('links:\n', 'links:\n  - { a: internet:eth1, b: gw:lan }\n');
    expect(issues(text)).toEqual([]);
  });
});
