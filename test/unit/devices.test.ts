// Device kinds without a kernel: what observation reads back from `ip -d -j link` / `bridge -j fdb`
// (so a re-apply finds no change), how devices are created and ordered, defaults the kernel would
// otherwise impose (VXLAN MTU), and preflight's needs and messages (with a stub prober).
import { describe, expect, it } from 'vitest';
import { applyLab, planLab } from '../../src/apply/engine.js';
import { labNeeds, missingOf, preflight } from '../../src/apply/preflight.js';
import { mergeScopes } from '../../src/observe/scope.js';
import type { ProbeRequest, ProbeResult } from '../../src/driver/driver.js';
import { FakeDriver } from '../../src/driver/fake.js';
import { batchErrors } from '../../src/driver/probe.js';
import { PreflightError } from '../../src/errors.js';
import { operationText } from '../../src/driver/render.js';
import { desiredState } from '../../src/model/desired.js';
import { parseFdb } from '../../src/model/fdb.js';
import { parseLink, type RawLink } from '../../src/model/link.js';
import { ownerId, withNumericOwners } from '../../src/driver/owner-ids.js';
import type { LinkObj } from '../../src/model/objects.js';
import { plan } from '../../src/plan/plan.js';
import { loadLabText } from '../../src/lab/index.js';
import type { Lab } from '../../src/lab/types.js';
import { labOf, useTempStateDir } from './helpers.js';

function lab(text: string): Lab {
  return labOf('test.yaml', text);
}

const raw = (over: Partial<RawLink>): RawLink => ({
  ifindex: 5,
  ifname: 'x',
  flags: ['UP'],
  mtu: 1500,
  address: '02:00:00:00:00:01',
  ...over,
});

useTempStateDir();

describe('observation reads back what netlab writes', () => {
  it('a parent in the same namespace is printed by name (no link_index)', () => {
    const o = parseLink('ns1', raw({ ifname: 'mv0', link: 'trunk', linkinfo: { info_kind: 'macvlan', info_data: { mode: 'private' } } }));
    expect(o?.obj.peer).toEqual({ ns: 'ns1', ifname: 'trunk' });
    expect(o?.peerRef).toBeNull();
    expect(o?.obj.attrs).toEqual({ mode: 'private' });
  });

  it('ipvlan flags come as boolean keys', () => {
    const flag = (d: Record<string, unknown>) =>
      parseLink('n', raw({ link: 'p', linkinfo: { info_kind: 'ipvlan', info_data: { mode: 'l3', ...d } } }))?.obj.attrs.flag;
    expect([flag({ bridge: true }), flag({ private: true }), flag({ vepa: true }), flag({})]).toEqual([
      'bridge',
      'private',
      'vepa',
      'bridge',
    ]);
  });

  it('tap owners printed as names are read back as ids', () => {
    expect(ownerId('root', 'passwd')).toBe(0);
    expect(ownerId('root', 'group')).toBe(0);
    expect(ownerId(4242, 'passwd')).toBe(4242);
    expect(ownerId(undefined, 'passwd')).toBeNull();
    const printed = raw({ linkinfo: { info_kind: 'tun', info_data: { type: 'tap', persist: true, user: 'root', group: 7 } } });
    expect(parseLink('n', withNumericOwners(printed))?.obj.attrs).toEqual({ user: 0, group: 7 });
    // The model reads only numbers: a name that reached it unresolved is no owner.
    expect(parseLink('n', printed)?.obj.attrs).toEqual({ user: null, group: 7 });
    // A VXLAN's group is an address, never an owner.
    const vxlan = raw({ linkinfo: { info_kind: 'vxlan', info_data: { id: 42, group: '239.1.1.1' } } });
    expect(withNumericOwners(vxlan)).toBe(vxlan);
  });

  it('vxlan IPv6 endpoints come as local6/group6', () => {
    const o = parseLink(
      'n',
      raw({
        linkinfo: {
          info_kind: 'vxlan',
          info_data: { id: 7, port: 4789, local6: 'fd00::1', group6: 'ff05::7', link: 'eth0', learning: true },
        },
      }),
    );
    expect(o?.obj.attrs).toEqual({ vni: 7, port: 4789, local: 'fd00::1', group: 'ff05::7', dev: 'eth0', learning: true });
  });

  it('fdb: only configured remotes are objects, not learned entries or the multicast group the kernel adds', () => {
    const devs = new Set(['vx0', 'vx1']);
    const groups = new Map([['vx1', '239.1.1.1']]);
    expect(parseFdb('n', devs, { mac: '00:00:00:00:00:00', ifname: 'vx0', dst: '192.0.2.2', state: 'permanent' }, groups)?.id).toBe(
      'fdb:n/vx0/00:00:00:00:00:00/192.0.2.2',
    );
    expect(parseFdb('n', devs, { mac: 'aa:bb:cc:dd:ee:ff', ifname: 'vx0', dst: '192.0.2.2', state: '' }, groups)).toBeNull();
    expect(parseFdb('n', devs, { mac: '00:00:00:00:00:00', ifname: 'vx1', dst: '239.1.1.1', state: 'permanent' }, groups)).toBeNull();
    expect(parseFdb('n', devs, { mac: '00:00:00:00:00:00', ifname: 'vx1', dst: '192.0.2.9', state: 'permanent' }, groups)).not.toBeNull();
  });
});

describe('device defaults and creation', () => {
  const vx = (extra: string, under = '{ addresses: [192.0.2.1/24] }') =>
    lab(
      `name: v\nhosts:\n  a:\n    interfaces:\n      eth0: ${under}\n      vx0: { kind: vxlan, vni: 1, dev: eth0${extra} }\n` +
        '  b:\n    interfaces:\n      eth0: {}\nlinks:\n  - { a: a:eth0, b: b:eth0 }\n',
    );
  const mtu = (l: Lab) => l.hosts[0]!.interfaces.find((i) => i.name === 'vx0')!.mtu;

  it('a VXLAN on an underlay gets its MTU minus the encapsulation (the kernel would clamp it)', () => {
    expect(mtu(vx(''))).toBe(1450);
    expect(mtu(vx('', '{ mtu: 9000 }'))).toBe(8950);
    expect(mtu(vx(', local: "fd00::1"', '{ addresses: ["fd00::1/64"] }'))).toBe(1430);
    expect(mtu(vx(', mtu: 1400'))).toBe(1400);
    expect(mtu(lab('name: v\nhosts:\n  a:\n    interfaces:\n      vx0: { kind: vxlan, vni: 1 }\n'))).toBe(1500);
  });

  const containers = lab(`
name: c
hosts:
  host:
    interfaces:
      eth0: {}
      eth1: {}
  up:
    interfaces:
      eth0: {}
      eth1: {}
  c1:
    interfaces:
      eth0: { kind: macvlan, parent: "host:eth0", mode: passthru }
  c2:
    interfaces:
      eth0: { kind: ipvlan, parent: "host:eth1", mode: l3, flag: private }
links:
  - { a: host:eth0, b: up:eth0 }
  - { a: host:eth1, b: up:eth1 }
`);

  it('passthru macvlan and ipvlan take their parent MAC, are made without one, and are renamed once moved', async () => {
    const d = desiredState(containers);
    const link = (id: string) => d.get(id) as LinkObj;
    expect(link('link:c-c1/eth0').mac).toBe(link('link:c-host/eth0').mac);
    expect(link('link:c-c2/eth0').mac).toBe(link('link:c-host/eth1').mac);
    const steps = (await planLab(new FakeDriver(), containers)).plan.steps;
    const cmds = steps.flatMap((s) => s.commands.map(operationText));
    const add = cmds.find((c) => c.includes('type macvlan mode passthru'))!;
    expect(add).toMatch(/^ip -n c-host link add link eth0 name nlt[0-9a-f]{8} netns c-c1 mtu 1500 type macvlan mode passthru$/);
    const temp = /name (nlt[0-9a-f]{8})/.exec(add)![1]!;
    const rename = cmds.indexOf(`ip -n c-c1 link set dev ${temp} name eth0`);
    expect(rename).toBeGreaterThan(cmds.indexOf(add));
    expect(rename).toBeLessThan(cmds.indexOf('ip -n c-c1 link set dev eth0 up'));
    expect(cmds.find((c) => c.includes('type ipvlan'))).toMatch(
      /link add link eth1 name nlt[0-9a-f]{8} netns c-c2 mtu 1500 type ipvlan mode l3 private$/,
    );
  });

  it('stacked devices are configured parents first, and a bridge MTU is pinned before anything stacks on it', async () => {
    const l = lab(`
name: q
hosts:
  a:
    interfaces:
      wan: {}
      s100: { kind: vlan, parent: wan, id: 100, protocol: 802.1ad }
      c10: { kind: vlan, parent: s100, id: 10 }
      core: { kind: bridge }
      core.10: { kind: vlan, parent: core, id: 10 }
  b:
    interfaces:
      wan: {}
links:
  - { a: a:wan, b: b:wan }
`);
    const cmds = (await planLab(new FakeDriver(), l)).plan.steps.flatMap((s) => s.commands.map(operationText));
    const at = (c: string) => {
      const i = cmds.indexOf(c);
      expect(i, `${c} in\n${cmds.join('\n')}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    expect(at('ip -n q-a link set dev s100 up')).toBeLessThan(at('ip -n q-a link set dev c10 up'));
    expect(at('ip -n q-a link set dev wan up')).toBeLessThan(at('ip -n q-a link set dev s100 up'));
    const coreAdd = cmds.findIndex((c) => c.startsWith('ip -n q-a link add name core '));
    expect(cmds[coreAdd + 1]).toBe('ip -n q-a link set dev core mtu 1500');
    expect(coreAdd + 1).toBeLessThan(cmds.findIndex((c) => c.includes('name core.10')));
  });

  it('per-interface sysctls are written once the interface exists, and again when it is recreated', async () => {
    const text = (vni: number) => `
name: s
hosts:
  a:
    sysctls:
      net.ipv4.conf.vx0.rp_filter: 2
      net.ipv4.ip_forward: 1
    interfaces:
      vx0: { kind: vxlan, vni: ${vni} }
`;
    const d = new FakeDriver();
    const first = (await planLab(d, lab(text(1)))).plan.steps;
    const phase = (key: string) => first.find((s) => s.title.startsWith(`sysctl ${key}`))!.commands[0]!.phase;
    expect(phase('net.ipv4.ip_forward')).toBeLessThan(first.find((s) => s.title === 'vxlan s-a/vx0')!.commands[0]!.phase);
    expect(phase('net.ipv4.conf.vx0.rp_filter')).toBeGreaterThan(first.find((s) => s.title === 'vxlan s-a/vx0')!.commands[0]!.phase);
    await applyLab(d, lab(text(1)));
    const again = (await planLab(d, lab(text(2)))).plan.steps.map((s) => `${s.op} ${s.title}`);
    expect(again).toEqual([
      'delete vxlan s-a/vx0',
      'create vxlan s-a/vx0',
      'modify vxlan s-a/vx0',
      'create sysctl net.ipv4.conf.vx0.rp_filter in s-a',
    ]);
  });

  it("an attached namespace's handle stays a handle although it is named like a created namespace", () => {
    const handle = {
      ns: 'lab-x',
      mode: 'handle' as const,
      sysctls: [],
      nftTables: [],
      ipv6Routes: false,
      bridgeVlans: false,
      target: { pid: 42 },
    };
    const discovered = { ...handle, mode: 'created' as const, target: undefined };
    for (const merged of [mergeScopes([discovered], [handle]), mergeScopes([handle], [discovered])])
      expect(merged.map((q) => ({ mode: q.mode, target: q.target }))).toEqual([{ mode: 'handle', target: { pid: 42 } }]);
  });
});

describe('what the kernel refuses is found by validation', () => {
  const issues = (text: string) => loadLabText('t.yaml', text).issues.map((i) => `${i.path}: ${i.message}`);
  const two = (a: string, extra = '') =>
    `name: k\nhosts:\n  a:\n    interfaces:\n      up: {}\n${a}${extra}  b:\n    interfaces:\n      up: {}\nlinks:\n  - { a: a:up, b: b:up }\n`;

  it('macvlan and ipvlan on one parent, a passthru with siblings, ipvlan modes that differ', () => {
    expect(issues(two('      m: { kind: macvlan, parent: up }\n      i: { kind: ipvlan, parent: up }\n'))).toEqual([
      'hosts.a.interfaces.i.parent: "a:up" is already the parent of macvlan a:m: an interface carries MACVLAN/MACVTAP or IPVLAN devices, not both',
    ]);
    expect(issues(two('      m: { kind: macvlan, parent: up, mode: passthru }\n      t: { kind: macvtap, parent: up }\n'))).toEqual([
      'hosts.a.interfaces.m.mode: a passthru macvlan takes its parent over and must be its only macvlan/macvtap; "a:up" also carries a:t',
    ]);
    expect(issues(two('      i: { kind: ipvlan, parent: up }\n      j: { kind: ipvlan, parent: up, mode: l3 }\n'))).toEqual([
      'hosts.a.interfaces.j.mode: IPVLAN devices on one parent share its mode: "a:up" has a:i in l2, a:j in l3',
    ]);
  });

  it('a macvlan on a bridge port', () => {
    expect(
      issues(
        two(
          '      br0: { kind: bridge }\n      p: { bridge: br0 }\n      m: { kind: macvlan, parent: p }\n',
          '  c:\n    interfaces:\n      e: {}\n',
        ).replace('links:\n', 'links:\n  - { a: a:p, b: c:e }\n'),
      ),
    ).toEqual([
      'hosts.a.interfaces.m.parent: "a:p" is a port of bridge "br0", which holds its receive path: make the bridge the parent instead',
    ]);
  });

  it('an MTU above the parent or the VXLAN underlay; without one, a stacked device takes its parent MTU', () => {
    expect(issues(two('      vx: { kind: vxlan, vni: 1, dev: up, mtu: 1500 }\n'))).toEqual([
      'hosts.a.interfaces.vx.mtu: mtu 1500 is above the 1450 the underlay "up" allows (its MTU minus the VXLAN encapsulation)',
    ]);
    expect(issues(two('      m: { kind: macvlan, parent: up, mtu: 9000 }\n'))).toEqual([
      'hosts.a.interfaces.m.mtu: mtu 9000 is above the 1500 its parent "a:up" has (a macvlan cannot exceed its parent)',
    ]);
    const l = lab(
      two('      m: { kind: macvlan, parent: up }\n      v: { kind: vlan, parent: up, id: 5 }\n').replace(
        '{ a: a:up, b: b:up }',
        '{ a: a:up, b: b:up, mtu: 9000 }',
      ),
    );
    expect(l.hosts[0]!.interfaces.filter((i) => i.name !== 'up').map((i) => [i.name, i.mtu])).toEqual([
      ['m', 9000],
      ['v', 9000],
    ]);
  });
});

describe('preflight', () => {
  const every = lab(`
name: pf
hosts:
  sw:
    sysctls:
      net.bridge.bridge-nf-call-iptables: 1
      net.ipv4.conf.eth9.rp_filter: 1
    interfaces:
      br0: { kind: bridge, vlan_filtering: true }
      p1: { bridge: br0, vlans: { pvid: 10 } }
      trunk: {}
      trunk.10: { kind: vlan, parent: trunk, id: 10 }
      q: { kind: vlan, parent: trunk, id: 20, protocol: 802.1ad }
      iv0: { kind: ipvlan, parent: p2, mode: l3s }
      p2: {}
      mv0: { kind: macvlan, parent: trunk }
      mt0: { kind: macvtap, parent: trunk }
      tap0: { kind: tap }
      vx0: { kind: vxlan, vni: 5, remotes: [192.0.2.2] }
    nat:
      masquerade:
        - { from: 10.0.0.0/8, out: trunk }
  h1:
    interfaces:
      eth0: {}
  ext:
    netns: { pid: 4242 }
    interfaces:
      eth0: {}
  named:
    netns: { name: other }
    interfaces:
      eth0: {}
links:
  - { a: h1:eth0, b: sw:p1 }
  - { a: ext:eth0, b: sw:trunk }
  - { a: named:eth0, b: sw:p2 }
`);

  it('asks for every feature the lab uses, and says who needs it', () => {
    const n = labNeeds(every);
    expect(n.request.features.sort()).toEqual(
      [
        'altname',
        'bridge',
        'bridge-tool',
        'bridge-vlan-filtering',
        'iproute2',
        'ipvlan-l3s',
        'macvlan',
        'macvtap',
        'netns',
        'tap',
        'veth',
        'vlan',
        'vlan-802.1ad',
        'vxlan',
      ].sort(),
    );
    expect(n.users.get('vlan')).toEqual(['sw:trunk.10']);
    expect(n.users.get('ipvlan-l3s')).toEqual(['sw:iv0']);
    // Keys of interfaces that do not exist yet cannot be checked in a new namespace.
    expect(n.request.sysctls).toContain('net.bridge.bridge-nf-call-iptables');
    expect(n.request.sysctls).not.toContain('net.ipv4.conf.eth9.rp_filter');
    expect(n.request.nft).toHaveLength(1);
    expect(n.request.targets).toEqual([
      { kind: 'pid', value: '4242', notOwn: true },
      { kind: 'name', value: 'other', notOwn: true },
    ]);
  });

  class Probing extends FakeDriver {
    requests: ProbeRequest[] = [];
    constructor(private readonly fail: Record<string, string>) {
      super();
    }
    async probe(req: ProbeRequest): Promise<ProbeResult[]> {
      this.requests.push(req);
      const checks = [
        ...req.features,
        ...req.sysctls.map((k) => `sysctl:${k}`),
        ...req.nft.map((_, i) => `nft:${i}`),
        ...req.targets.map((t) => `target:${t.kind}:${t.value}`),
      ];
      return checks.map((check) => ({ check, ok: !(check in this.fail), command: `probe ${check}`, message: this.fail[check] ?? '' }));
    }
  }

  it('reports each missing thing once, with the kernel message and a fix, and changes nothing', async () => {
    const d = new Probing({
      ipvlan: 'Error: Unknown device type.',
      'bridge-vlan-filtering': 'RTNETLINK answers: Operation not supported',
      'sysctl:net.bridge.bridge-nf-call-iptables': '/proc/sys/net/bridge/bridge-nf-call-iptables does not exist in a new namespace',
      'target:pid:4242': 'no process 4242',
      'nft:0': '"nft" not found',
    });
    const l = lab(`
name: m
hosts:
  a:
    sysctls: { net.bridge.bridge-nf-call-iptables: 1 }
    interfaces:
      br0: { kind: bridge, vlan_filtering: true }
      iv0: { kind: ipvlan, parent: up }
      up: {}
    nat: { masquerade: [{ from: 10.0.0.0/8, out: up }] }
  b:
    netns: { pid: 4242 }
    interfaces:
      eth0: {}
links:
  - { a: a:up, b: b:eth0 }
`);
    const err = await applyLab(d, l).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreflightError);
    expect(d.executed).toEqual([]);
    expect((err as PreflightError).message.split('\n')).toEqual([
      'bridge vlan_filtering: not supported by this kernel (probe bridge-vlan-filtering: RTNETLINK answers: Operation not supported); needed by a:br0',
      expect.stringMatching(/^ {2}fix: use a kernel built with CONFIG_BRIDGE_VLAN_FILTERING/),
      'ipvlan: not supported by this kernel (probe ipvlan: Error: Unknown device type.); needed by a:iv0',
      expect.stringMatching(/^ {2}fix: modprobe ipvlan \(CONFIG_IPVLAN\)/),
      'sysctl net.bridge.bridge-nf-call-iptables: not available in a new namespace (/proc/sys/net/bridge/bridge-nf-call-iptables does not exist in a new namespace); needed by host a',
      '  fix: modprobe br_netfilter (the net.bridge.* keys appear when it is loaded)',
      'nftables: "nft" is not installed; needed by host a (nat/firewall)',
      '  fix: install nftables (apt-get install nftables)',
      'netns { pid: 4242 }: no process 4242; needed by host b',
      '  fix: start the process first, or fix the pid',
    ]);
    expect((err as PreflightError).hints.join('\n')).toContain('nothing was changed');
    // plan runs it too.
    await expect(planLab(d, l)).rejects.toBeInstanceOf(PreflightError);
  });

  it('a missing tool or namespace support is the one root cause reported', () => {
    const needs = labNeeds(lab('name: t\nhosts:\n  a:\n    interfaces:\n      br0: { kind: bridge }\n'));
    const missing = missingOf(needs, [
      { check: 'iproute2', ok: false, command: 'ip -V', message: '"ip" not found' },
      { check: 'bridge', ok: false, command: '', message: 'not probed: iproute2 is missing' },
    ]);
    expect(missing).toEqual([
      { feature: 'iproute2', detail: '"ip" not found (ip -V); needed by lab t', fix: 'install iproute2 (apt-get install iproute2)' },
    ]);
    const noNs = missingOf(needs, [
      { check: 'netns', ok: false, command: 'ip netns add', message: 'mount --make-shared /run/netns failed: Operation not permitted' },
      { check: 'bridge', ok: false, command: '', message: 'not probed: mount --make-shared /run/netns failed: Operation not permitted' },
    ]);
    expect(noNs.map((m) => m.feature)).toEqual(['network namespaces']);
    expect(noNs[0]!.fix).toContain('root');
  });

  it('drivers without a prober (the fake kernel) skip it; all-good passes', async () => {
    await expect(preflight(new FakeDriver(), every)).resolves.toBeUndefined();
    const d = new Probing({});
    await expect(preflight(d, every)).resolves.toBeUndefined();
    expect(d.requests).toHaveLength(1);
  });

  it('reads `ip -force -batch` errors line by line', () => {
    const stderr = 'Error: Unknown device type.\nCommand failed -:3\nRTNETLINK answers: Operation not supported\nCommand failed -:4\n';
    expect([...batchErrors(stderr)]).toEqual([
      [3, 'Error: Unknown device type.'],
      [4, 'RTNETLINK answers: Operation not supported'],
    ]);
  });
});

describe('planning is pure', () => {
  it('a plan from the desired state to itself is empty for every kind', () => {
    const d = desiredState(
      lab(`
name: e
hosts:
  a:
    interfaces:
      br0: { kind: bridge, stp: true, ageing: 30 }
      tap0: { kind: tap, user: 1000, bridge: br0 }
      u: { addresses: [192.0.2.1/24] }
      vx0: { kind: vxlan, vni: 9, dev: u, remotes: [192.0.2.2], bridge: br0 }
      mv: { kind: macvlan, parent: u, mode: vepa }
  b:
    interfaces:
      u: { addresses: [192.0.2.2/24] }
links:
  - { a: a:u, b: b:u }
`),
    );
    expect(plan(d, d).steps).toEqual([]);
  });
});
