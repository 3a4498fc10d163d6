// Slicing a lab whose NAT, firewall and neighbour entries name hosts on other machines: each
// slice must validate on its machine and give the rules the full lab gives on one machine.
import { describe, expect, it } from 'vitest';
import { loadLabText } from '../../src/lab/index.js';
import type { Host, Lab } from '../../src/lab/types.js';
import { sliceLab, type Underlay } from '../../src/machines/slice.js';
import { UNREACHED_MACHINES } from '../fixtures/span-lab.js';

const LAB = `name: svc
${UNREACHED_MACHINES}hosts:
  sw: { on: m1, interfaces: { br0: { kind: bridge } } }
  node1:
    on: m1
    interfaces:
      eth0:
        addresses: [10.0.0.1/24, fd00::1/64]
        neighbours: [{ address: 10.0.0.2, mac: pod2:eth0 }, { address: 10.0.0.4, mac: "02:00:00:00:00:04" }]
    nat:
      services:
        - { name: web, vip: 10.96.0.10, port: 80, backends: [pod1:8080, pod2:8080] }
        - { name: web6, vip: "fd00:96::10", port: 80, backends: [pod2:8080] }
      publish:
        - { port: 8081, to: pod2:8080 }
        - { port: 8082, to: pod1:8080 }
    firewall:
      rules:
        - { action: allow, from: [pod2, pod1, 10.1.0.0/16], to: pod3, proto: tcp }
        - { action: allow, from: pod1 }
  pod1: { on: m1, interfaces: { eth0: { addresses: [10.0.0.11/24] } } }
  pod2: { on: m2, interfaces: { eth0: { addresses: [10.0.0.2/24, fd00::2/64] } } }
  pod3: { on: m3, interfaces: { eth0: { addresses: [10.0.0.3/24] } } }
links:
  - { a: node1:eth0, b: sw:br0 }
  - { a: pod1:eth0, b: sw:br0 }
  - { a: pod2:eth0, b: sw:br0 }
  - { a: pod3:eth0, b: sw:br0 }
`;

const underlays = new Map<string, Underlay>([
  ['m1', { address: '192.0.2.1', dev: 'eth0', mtu: 1500 }],
  ['m2', { address: '192.0.2.2', dev: 'eth0', mtu: 1500 }],
  ['m3', { address: '192.0.2.3', dev: 'eth0', mtu: 1500 }],
]);

function load(name: string, text: string) {
  const r = loadLabText(name, text);
  expect(r.issues).toEqual([]);
  return { lab: r.lab!, raw: r.raw! };
}

/** What a host's rules do, without where they were written. */
function rulesOf(lab: Lab, name: string) {
  const h: Host = lab.hosts.find((x) => x.name === name)!;
  const strip = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(strip)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .filter(([k]) => k !== 'pos')
              .map(([k, x]) => [k, strip(x)]),
          )
        : v;
  return strip({ policy: h.policy, tables: h.interfaces.map((i) => ({ neighbours: i.neighbours, fdb: i.fdb })) });
}

describe('slicing references to hosts on other machines', () => {
  const full = load('svc.yaml', LAB);
  const m1 = sliceLab(full.raw, full.lab, underlays).slices.get('m1')!;

  it('writes a remote backend, target or match as the address the full lab gives it', () => {
    const node1 = m1.hosts.node1!;
    expect(node1.nat!.services!.map((s) => s.backends)).toEqual([['pod1:8080', '10.0.0.2:8080'], ['[fd00::2]:8080']]);
    expect(node1.nat!.publish!.map((p) => p.to)).toEqual(['10.0.0.2:8080', 'pod1:8080']);
    expect(node1.firewall!.rules!.map((r) => [r.from, r.to])).toEqual([
      [['10.0.0.2/32', 'fd00::2/128', 'pod1', '10.1.0.0/16'], ['10.0.0.3/32']],
      ['pod1', undefined],
    ]);
    const pod2mac = full.lab.hosts.find((h) => h.name === 'pod2')!.interfaces[0]!.mac;
    expect(node1.interfaces!.eth0!.neighbours).toEqual([
      { address: '10.0.0.2', mac: pod2mac },
      { address: '10.0.0.4', mac: '02:00:00:00:00:04' },
    ]);
    // The slice's own checks accept exactly the remote addresses its NAT rules target.
    expect(m1.addresses_elsewhere).toEqual(['10.0.0.2', 'fd00::2']);
  });

  it('gives a slice that validates on its machine, with the rules of the lab on one machine', () => {
    const sliced = load('slice', JSON.stringify(m1)).lab;
    expect(rulesOf(sliced, 'node1')).toEqual(rulesOf(full.lab, 'node1'));
    const oneMachine = load('one.yaml', LAB.replace(/machines:[\s\S]*?hosts:/, 'hosts:').replace(/ on: m\d,?/g, ''));
    expect(rulesOf(sliced, 'node1')).toEqual(rulesOf(oneMachine.lab, 'node1'));
  });

  it('refuses addresses_elsewhere in a lab file with machines: only slices carry it', () => {
    const r = loadLabText('svc.yaml', LAB.replace('hosts:', 'addresses_elsewhere: [10.0.0.2]\nhosts:'));
    expect(r.issues.map((i) => `${i.line}:${i.col} ${i.message}`)).toEqual([
      expect.stringMatching(/^6:1 addresses_elsewhere is written by the coordinator/),
    ]);
  });
});

describe('slicing interface links to hosts on other machines', () => {
  const TEXT = `name: lk
${UNREACHED_MACHINES}hosts:
  sw: { on: m1, interfaces: { br0: { kind: bridge } } }
  a: { on: m1, interfaces: { eth0: { link: sw:br0, addresses: [10.0.0.1/24] } } }
  b: { on: m2, interfaces: { eth0: { link: sw:br0, addresses: [10.0.0.2/24] } } }
`;

  it('turns a link: to another machine into the segment, as a links entry would', () => {
    const { lab, raw } = load('lk.yaml', TEXT);
    const { segments, slices } = sliceLab(raw, lab, underlays);
    expect(segments.map((s) => [s.members, s.machines])).toEqual([
      [
        ['b:eth0', 'sw:br0'],
        ['m1', 'm2'],
      ],
    ]);
    const vni = segments[0]!.vni;
    expect(slices.get('m1')!.links).toEqual([
      { a: 'a:eth0', b: 'sw:br0', mtu: 1450 },
      { a: 'sw:br0', b: `overlay:br${vni}`, mtu: 1450 },
    ]);
    expect(slices.get('m2')!.links).toEqual([{ a: 'b:eth0', b: `overlay:br${vni}`, mtu: 1450 }]);
    for (const s of slices.values()) load('slice', JSON.stringify(s));
  });
});
