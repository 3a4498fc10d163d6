// Golden checks of the normalised model: defaults, kernel names, resolved references.
import { describe, expect, it } from 'vitest';
import { loadLabs, loadLabText, nsKey } from '../../src/lab/index.js';
import { bridgePortName, deterministicMac, ownerAltname, sharedIfname } from '../../src/lab/names.js';
import type { Host, Interface, Lab } from '../../src/lab/types.js';

async function lab(file: string): Promise<Lab> {
  const { labs, issues } = await loadLabs([file]);
  if (issues.length > 0 || !labs[0]) throw new Error(`${file} has issues: ${JSON.stringify(issues)}`);
  return labs[0];
}

// Loaded once at the top: describe callbacks must be synchronous.
const docker = await lab('labs/docker-bridge.yaml');
const k8s = await lab('labs/k8s-flat.yaml');
const shared = await lab('test/fixtures/good/shared-netns.yaml');
const kinds = await lab('test/fixtures/good/every-kind.yaml');
const refs = await lab('test/fixtures/good/refs.yaml');
const links = await lab('test/fixtures/good/links.yaml');

function host(l: Lab, name: string): Host {
  const h = l.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no host ${name}`);
  return h;
}

function iface<K extends Interface['kind']>(h: Host, name: string, kind?: K): Extract<Interface, { kind: K }> {
  const i = h.interfaces.find((x) => x.name === name);
  if (!i) throw new Error(`no interface ${h.name}:${name}`);
  if (kind) expect(i.kind).toBe(kind);
  return i as Extract<Interface, { kind: K }>;
}

describe('docker-bridge', () => {
  const l = docker;
  const h = host(l, 'host');

  it('sorts hosts and interfaces by name and names lab namespaces <lab>-<host>', () => {
    expect(l.hosts.map((x) => x.name)).toEqual(['db', 'host', 'internet', 'web']);
    expect(l.hosts.map((x) => [x.ns, x.netns])).toEqual([
      ['docker-db', { kind: 'lab', name: 'docker-db' }],
      ['docker-host', { kind: 'lab', name: 'docker-host' }],
      ['docker-internet', { kind: 'lab', name: 'docker-internet' }],
      ['docker-web', { kind: 'lab', name: 'docker-web' }],
    ]);
    const names = h.interfaces.map((i) => i.name);
    expect(names).toEqual([...names].sort());
  });

  it('makes a bridge port named by bridgePortName for each link to docker0, peered with the container end', () => {
    const webPort = bridgePortName('docker', 'host', 'web', 'eth0');
    const dbPort = bridgePortName('docker', 'host', 'db', 'eth0');
    for (const [port, peer] of [
      [webPort, 'web'],
      [dbPort, 'db'],
    ] as const) {
      expect(iface(h, port, 'veth')).toMatchObject({
        ifname: port,
        altname: null,
        master: 'docker0',
        addresses: [],
        mtu: 1500,
        up: true,
        mac: deterministicMac('docker', 'host', port),
        peer: { host: peer, ifname: 'eth0' },
      });
      expect(iface(host(l, peer), 'eth0', 'veth').peer).toEqual({ host: 'host', ifname: port });
    }
    expect(h.interfaces.map((i) => i.name)).toEqual(['docker0', 'uplink', ...[webPort, dbPort].sort()]);
  });

  it('fills bridge defaults and keeps the written address', () => {
    expect(iface(h, 'docker0', 'bridge')).toMatchObject({
      stp: false,
      ageing: 300,
      vlanFiltering: false,
      addresses: ['172.17.0.1/16'],
      master: null,
      vlans: null,
    });
  });

  it("resolves publish to web:80 to web's first IPv4 address, masquerade out to the kernel name", () => {
    expect(h.policy).toMatchObject({
      snat: [{ from: '172.17.0.0/16', out: 'uplink', to: null }],
      dnat: [{ proto: 'tcp', port: { from: 8080, to: 8080 }, toAddress: '172.17.0.2', toPort: 80, in: null, address: null }],
      services: [],
      defaultAction: 'allow',
      rules: [],
    });
    expect(host(l, 'web').policy).toBeNull();
  });

  it('writes sysctls as strings, routes normalised, ipv6 off without IPv6', () => {
    expect(h.sysctls).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect(host(l, 'web').routes).toMatchObject([
      { to: 'default', family: 4, via: '172.17.0.1', dev: null, metric: null, onlink: false, table: 254 },
    ]);
    expect(l.hosts.every((x) => !x.ipv6)).toBe(true);
  });

  it('fills positions from the YAML', () => {
    expect(iface(host(l, 'web'), 'eth0').pos).toEqual({
      file: 'labs/docker-bridge.yaml',
      line: 22,
      col: 7,
      path: 'hosts.web.interfaces.eth0',
    });
    expect(host(l, 'web').routes[0]!.pos).toMatchObject({ line: 24, path: 'hosts.web.routes[0]' });
    expect(l.pos).toMatchObject({ line: 4, col: 1, path: 'name' });
    expect([l.owner, l.allowRoot, l.file]).toEqual([null, false, 'labs/docker-bridge.yaml']);
  });
});

describe('k8s-flat', () => {
  const l = k8s;

  it("resolves service backends to the pods' addresses and shares aliased sysctls", () => {
    for (const n of ['node1', 'node2']) {
      const h = host(l, n);
      expect(h.policy!.services[0]).toMatchObject({
        name: 'web',
        vip: '10.96.0.10',
        proto: 'tcp',
        port: 80,
        mode: 'round-robin',
        // The NodePort, on every address of the node; Cluster is the default policy.
        nodePort: 30080,
        externalTrafficPolicy: 'Cluster',
        backends: [
          { address: '10.244.1.2', port: 8080 },
          { address: '10.244.2.2', port: 8080 },
        ],
      });
      expect(h.policy!.services).toHaveLength(1);
      expect(h.sysctls).toEqual({ 'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': '1' });
    }
  });
});

describe('shared namespaces', () => {
  const l = shared;

  it('maps netns forms to NetnsRef and ns keys', () => {
    expect(l.hosts.map((h) => [h.name, h.netns, h.ns])).toEqual([
      ['box', { kind: 'named', name: 'some-container' }, 'some-container'],
      ['bypath', { kind: 'path', path: '/proc/4343/ns/net', handle: 'shared-bypath' }, 'shared-bypath'],
      ['byproc', { kind: 'pid', pid: 4242, handle: 'shared-byproc' }, 'shared-byproc'],
      ['hub', { kind: 'lab', name: 'shared-hub' }, 'shared-hub'],
      ['machine', { kind: 'root' }, ''],
    ]);
    expect(l.hosts.every((h) => nsKey(h.netns) === h.ns)).toBe(true);
    expect([l.allowRoot, l.owner]).toEqual([true, 'team-a']);
  });

  it('derives kernel names and altnames there, and peers refer to kernel names', () => {
    const long = 'a-rather-long-interface-name';
    const machine = iface(host(l, 'machine'), long, 'veth');
    expect(machine).toMatchObject({
      ifname: sharedIfname('shared', 'machine', long),
      altname: ownerAltname('shared', 'machine', long),
      peer: { host: 'box', ifname: sharedIfname('shared', 'box', 'eth0') },
    });
    const port = bridgePortName('shared', 'hub', 'byproc', 'eth0');
    expect(iface(host(l, 'hub'), port, 'veth')).toMatchObject({
      ifname: port,
      altname: null,
      master: 'br0',
      peer: { host: 'byproc', ifname: sharedIfname('shared', 'byproc', 'eth0') },
    });
  });
});

describe('every kind', () => {
  const l = kinds;
  const sw = host(l, 'sw');

  it('fills kind defaults and resolves parents, dev and master', () => {
    expect(iface(sw, 'trunk.20', 'vlan')).toMatchObject({ parent: { host: 'sw', ifname: 'trunk' }, id: 20, protocol: '802.1ad' });
    expect(iface(sw, 'mv0', 'macvlan')).toMatchObject({ mode: 'private' });
    expect(iface(sw, 'mvt0', 'macvtap')).toMatchObject({ mode: 'bridge', parent: { host: 'sw', ifname: 'trunk' } });
    expect(iface(sw, 'ipv0', 'ipvlan')).toMatchObject({ mode: 'l3', flag: 'vepa' });
    expect(iface(sw, 'tap0', 'tap')).toMatchObject({ user: 1000, group: 1000, master: 'br0' });
    expect(iface(sw, 'vx0', 'vxlan')).toMatchObject({
      vni: 42,
      port: 4789,
      local: '192.0.2.1',
      group: null,
      dev: 'under',
      remotes: ['192.0.2.2'],
      learning: true,
      master: 'br0',
    });
    expect(iface(sw, 'vx1', 'vxlan')).toMatchObject({ port: 8472, group: '239.1.1.1', learning: false, local: null });
    expect(iface(sw, 'br0', 'bridge')).toMatchObject({ stp: true, ageing: 30, vlanFiltering: true });
    expect(iface(sw, 'p1', 'veth')).toMatchObject({ master: 'br0', vlans: { pvid: 10, tagged: [20, 30] } });
    expect(iface(host(l, 'h1'), 'mv1', 'macvlan')).toMatchObject({ parent: { host: 'sw', ifname: 'trunk' }, mode: 'bridge' });
  });

  it('lowercases a given MAC and derives the others', () => {
    expect(iface(host(l, 'h1'), 'eth0').mac).toBe('02:00:00:00:00:0a');
    expect(iface(host(l, 'h2'), 'eth0').mac).toBe(deterministicMac('kinds', 'h2', 'eth0'));
  });

  it("gives a veth end its own mtu, else the link mtu, else the peer's", () => {
    expect(iface(host(l, 'peer'), 'eth0').mtu).toBe(9000);
    const port = bridgePortName('kinds', 'sw', 'h2', 'eth0');
    expect([iface(host(l, 'h2'), 'eth0').mtu, iface(sw, port).mtu]).toEqual([1400, 1400]);
  });

  it('normalises routes: table, metric, dev', () => {
    expect(sw.routes.map(({ pos: _, ...r }) => r)).toEqual([
      { to: '10.99.0.0/16', family: 4, via: '10.20.0.254', dev: 'trunk.20', metric: 10, onlink: false, table: 100 },
      { to: '10.98.0.0/16', family: 4, via: null, dev: 'br0', metric: null, onlink: false, table: 254 },
    ]);
  });
});

describe('refs', () => {
  const l = refs;
  const gw = host(l, 'gw');

  it('turns 0.0.0.0/0 and ::/0 into default, with the family', () => {
    expect(gw.routes.map((r) => [r.to, r.family, r.via, r.dev])).toEqual([
      ['default', 4, '198.51.100.254', 'wan'],
      ['default', 6, '2001:db8::fe', null],
      ['fd00::/8', 6, 'fe80::1', 'lan'],
    ]);
    expect(gw.ipv6).toBe(true);
    expect(host(l, 'app').ipv6).toBe(false);
  });

  it('resolves NAT and firewall references', () => {
    const p = gw.policy!;
    expect(p.snat.map(({ pos: _, ...r }) => r)).toEqual([
      { from: '10.1.0.0/24', out: 'wan', to: null },
      { from: '10.2.0.0/24', out: 'wan', to: '198.51.100.1' },
    ]);
    expect(p.dnat.map(({ pos: _, ...r }) => r)).toEqual([
      { proto: 'tcp', port: { from: 8080, to: 8080 }, toAddress: '10.1.0.2', toPort: 80, in: 'wan', address: null },
      { proto: 'udp', port: { from: 5000, to: 5010 }, toAddress: '10.1.0.2', toPort: 5000, in: null, address: '198.51.100.1' },
    ]);
    expect(p.services[0]).toMatchObject({
      mode: 'random',
      backends: [
        { address: '10.1.0.2', port: 8080 },
        { address: '10.1.0.2', port: 8081 },
      ],
    });
    expect(p.defaultAction).toBe('deny');
    expect(p.rules.map(({ pos: _, ...r }) => r)).toEqual([
      {
        action: 'allow',
        from: ['10.1.0.2/32'],
        to: ['10.1.0.0/24', '10.1.0.1/32', '198.51.100.1/32', '2001:db8::1/128'],
        proto: 'tcp',
        port: { from: 80, to: 80 },
      },
      { action: 'allow', from: [], to: [], proto: 'icmp', port: null },
      { action: 'deny', from: ['10.1.0.5/32'], to: [], proto: null, port: null },
    ]);
  });
});

describe('links', () => {
  const l = links;

  it('joins two bridges with two new ports, peered with each other', () => {
    const p1 = bridgePortName('links', 'sw1', 'sw2', 'br0');
    const p2 = bridgePortName('links', 'sw2', 'sw1', 'br0');
    expect(iface(host(l, 'sw1'), p1, 'veth')).toMatchObject({ master: 'br0', mtu: 9000, peer: { host: 'sw2', ifname: p2 } });
    expect(iface(host(l, 'sw2'), p2, 'veth')).toMatchObject({ master: 'br0', mtu: 9000, peer: { host: 'sw1', ifname: p1 } });
    expect(host(l, 'sw1').interfaces).toHaveLength(4);
  });

  it('makes a veth pair inside one host', () => {
    expect(iface(host(l, 'a'), 'in0', 'veth').peer).toEqual({ host: 'a', ifname: 'in1' });
    expect(iface(host(l, 'a'), 'in1', 'veth').peer).toEqual({ host: 'a', ifname: 'in0' });
  });
});

describe('canonical forms', () => {
  it('keeps addresses as written but canonical, and route destinations canonical (host bits there are an error)', () => {
    const { lab, issues } = loadLabText(
      'c.yaml',
      [
        'name: c',
        'hosts:',
        '  a:',
        '    interfaces:',
        '      t: { kind: tap, addresses: [10.1.2.3/24, "FD00:0:0::0:1/64"] }',
        '    routes:',
        '      - { to: 10.9.0.0/16, via: 10.1.2.254 }',
        '      - { to: "FD01:0::0/64", via: "FD00::FE" }',
      ].join('\n'),
    );
    expect(issues).toEqual([]);
    const a = lab!.hosts[0]!;
    expect(a.interfaces[0]!.addresses).toEqual(['10.1.2.3/24', 'fd00::1/64']);
    expect(a.routes.map((r) => [r.to, r.via])).toEqual([
      ['10.9.0.0/16', '10.1.2.254'],
      ['fd01::/64', 'fd00::fe'],
    ]);
    expect(a.ipv6).toBe(true);
  });
});
