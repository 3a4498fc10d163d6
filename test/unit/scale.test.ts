// Host templates and address pools: a 500-host lab in a few lines, addresses and MACs that do not
// move when hosts come and go (golden), and the errors that point at the template.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatLabIssue } from '../../src/errors.js';
import { loadLabText } from '../../src/lab/index.js';
import type { Lab } from '../../src/lab/types.js';

function load(text: string): Lab {
  const r = loadLabText('t.yaml', text);
  if (!r.lab) throw new Error(r.issues.map(formatLabIssue).join('\n'));
  return r.lab;
}

function issues(text: string): string[] {
  return loadLabText('t.yaml', text).issues.map(formatLabIssue);
}

/** host:interface -> "address mac" for every interface of a lab. */
function table(lab: Lab): Map<string, string> {
  return new Map(
    lab.hosts.flatMap((h) => h.interfaces.map((i) => [`${h.name}:${i.name}`, `${i.addresses.join(',') || '-'} ${i.mac}`] as const)),
  );
}

const SCALE = readFileSync('labs/scale.yaml', 'utf8');
// The lab's network, without the assertions that follow it.
const NETWORK = SCALE.slice(0, SCALE.indexOf('\n# Checked by'));

// The scale lab with two more hosts named outside the template: they take pool addresses by hash.
const MIXED = `${NETWORK.trimEnd()}
  web:
    interfaces:
      eth0: { link: hub:br0 }
  db:
    interfaces:
      eth0: { link: hub:br0 }
`;

describe('host templates', () => {
  it('the 500-host scale lab is under 15 lines of YAML and normalises to 500 hosts (and the hub)', () => {
    const yamlLines = NETWORK.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
    expect(yamlLines.length).toBeLessThan(15);
    const lab = load(SCALE);
    const generated = lab.hosts.filter((h) => /^h\d+$/.test(h.name));
    expect(generated).toHaveLength(500);
    expect(lab.hosts).toHaveLength(501);
    const h1 = lab.hosts.find((h) => h.name === 'h1')!;
    expect(h1.interfaces.map((i) => [i.name, i.kind, i.addresses])).toEqual([['eth0', 'veth', ['10.10.0.2/16']]]);
    expect(h1.routes.map((r) => [r.to, r.via])).toEqual([['default', '10.10.0.1']]);
    expect(lab.hosts.find((h) => h.name === 'h500')!.interfaces[0]!.addresses).toEqual(['10.10.1.245/16']);
    // One bridge port per host, every address distinct, every MAC distinct.
    expect(lab.hosts.find((h) => h.name === 'hub')!.interfaces.filter((i) => i.master === 'br0')).toHaveLength(500);
    const addrs = generated.map((h) => h.interfaces[0]!.addresses[0]);
    expect(new Set(addrs).size).toBe(500);
    expect(new Set(generated.map((h) => h.interfaces[0]!.mac)).size).toBe(500);
  });

  it('expands {i} with arithmetic in names, keys and values; a lone placeholder is a number', () => {
    const lab = load(`name: t
hosts:
  r:
    interfaces:
      br0: { kind: bridge, addresses: [10.0.0.1/16] }
  node-{i*2}:
    count: 3
    start: 0
    interfaces:
      eth{i}: { link: r:br0, addresses: ["10.0.{i/2}.{i%2+10}/16"], mtu: "{i+1400}" }
`);
    const nodes = lab.hosts.filter((h) => h.name.startsWith('node-'));
    expect(nodes.map((h) => [h.name, h.interfaces[0]!.name, h.interfaces[0]!.addresses[0], h.interfaces[0]!.mtu])).toEqual([
      ['node-0', 'eth0', '10.0.0.10/16', 1400],
      ['node-2', 'eth1', '10.0.0.11/16', 1401],
      ['node-4', 'eth2', '10.0.1.10/16', 1402],
    ]);
  });

  it('formats placeholders: zero-padded, hex (for MACs)', () => {
    const lab = load(`name: t
hosts:
  n{i:03}:
    count: 2
    start: 254
    interfaces:
      eth0: { link: "m{i:03}:eth0", mac: "02:00:00:00:{i/256:02x}:{i%256:02x}" }
  m{i:03}:
    count: 2
    start: 254
`);
    const n = lab.hosts.filter((h) => h.name.startsWith('n'));
    expect(n.map((h) => [h.name, h.interfaces[0]!.mac])).toEqual([
      ['n254', '02:00:00:00:00:fe'],
      ['n255', '02:00:00:00:00:ff'],
    ]);
    expect(load('name: t\nhosts:\n  a{i:03}: { count: 1, start: 7 }\n').hosts.map((h) => h.name)).toEqual(['a007']);
  });

  it('points errors at the template, once for all its hosts', () => {
    const text = `name: t
hosts:
  hub:
    interfaces:
      br0: { kind: bridge, addresses: [10.10.0.1/16], pool: 10.10.0.0/16 }
  h{i}:
    count: 20
    interfaces:
      eth0: { link: hub:br9 }
`;
    expect(issues(text)).toEqual([
      // hub:br9 is not declared, so h1's link makes it (a veth end); the other 19 cannot have it too.
      't.yaml:9:21: hosts.h2.interfaces.eth0.link: interface hub:br9 is already used by hosts.h1.interfaces.eth0.link: an interface can be in one link only (and in 18 more hosts of template h{i})',
    ]);
    expect(issues(text.replace('count: 20', 'count: 0'))).toEqual(['t.yaml:7:12: hosts["h{i}"].count: count must be an integer 1..65536']);
    expect(issues(text.replace('h{i}:', 'h{x}:'))).toEqual([
      't.yaml:6:3: hosts["h{x}"]: {x} is not a placeholder: write {i}, or {i+N}, {i-N}, {i*N}, {i/N}, {i%N}, chains of them, and :03 or :02x to pad or write hex',
    ]);
    expect(
      issues(
        text
          .replace('h{i}:', 'hub{i}:')
          .replace('count: 20', 'count: 20\n    start: 0')
          .replace('hub:', 'hub0:')
          .replace('hub:br9', 'hub0:br0'),
      ),
    ).toEqual([
      't.yaml:6:3: hosts["hub{i}"]: template "hub{i}" makes host "hub0" (index 0), which host "hub0" also defines: host names must be unique',
    ]);
    expect(issues(text.replace('h{i}:\n    count: 20', 'h:\n    count: 20'))[0]).toMatch(
      /^t\.yaml:6:3: hosts\.h: host "h" has count\/start but no \{i\}/,
    );
  });
});

describe('address pools', () => {
  it('golden: the pool addresses and MACs of the scale lab with two named hosts', async () => {
    const lines = [...table(load(MIXED))].map(([k, v]) => `${k} ${v}`).sort();
    await expect(`${lines.join('\n')}\n`).toMatchFileSnapshot('golden/scale-pool.txt');
  });

  it('adding hosts in the middle of a count (and growing it) moves no other host: same address, same MAC', () => {
    const before = table(load(MIXED));
    const grown = MIXED.replace('count: 500', 'count: 501').concat(`  h250a:
    interfaces:
      eth0: { link: hub:br0 }
  cache:
    interfaces:
      eth0: { link: hub:br0 }
`);
    const after = table(load(grown));
    for (const [k, v] of before) if (!k.startsWith('hub:')) expect(after.get(k), k).toBe(v);
    expect(after.size).toBe(before.size + 3 * 2); // three hosts, each with eth0 and a bridge port on hub
    // Removing a named host and shrinking the count moves no one either.
    const shrunk = table(load(MIXED.replace('count: 500', 'count: 400').replace(/ {2}db:\n( {4}.*\n)+/, '')));
    for (const [k, v] of shrunk) if (!k.startsWith('hub:')) expect(before.get(k), k).toBe(v);
  });

  it('template hosts take the free addresses in order, skipping the gateway, network, broadcast and exclusions', () => {
    const lab = load(`name: t
hosts:
  gw:
    interfaces:
      br0: { kind: bridge, addresses: [192.168.5.1/29], pool: { subnet: 192.168.5.0/29, exclude: [192.168.5.3, 192.168.5.4/31] } }
  n{i}:
    count: 2
    interfaces:
      eth0: { link: gw:br0 }
  other:
    interfaces:
      eth0: { link: gw:br0, addresses: [] }
`);
    const addr = (h: string) => lab.hosts.find((x) => x.name === h)!.interfaces[0]!.addresses;
    expect([addr('n1'), addr('n2'), addr('other')]).toEqual([['192.168.5.2/29'], ['192.168.5.6/29'], []]);
  });

  it('says when a pool runs out, and when a written address is one it hands out', () => {
    const base = `name: t
hosts:
  gw:
    interfaces:
      br0: { kind: bridge, addresses: [10.1.0.1/29], pool: 10.1.0.0/29 }
  n{i}:
    count: COUNT
    interfaces:
      eth0: { link: gw:br0 }
  fixed:
    interfaces:
      eth0: { link: gw:br0, addresses: [10.1.0.3/29] }
`;
    expect(issues(base.replace('COUNT', '6'))).toEqual([
      't.yaml:9:7: hosts.n6.interfaces.eth0: the pool 10.1.0.0/29 of gw:br0 has no address left for n6:eth0 (5 to hand out; n6 is number 6 of template n{i}): use a larger subnet or fewer hosts',
      't.yaml:12:41: hosts.fixed.interfaces.eth0.addresses[0]: address 10.1.0.3 is handed out by the pool 10.1.0.0/29 of gw:br0 to n2:eth0: exclude it from the pool (pool: { subnet: 10.1.0.0/29, exclude: [10.1.0.3] }) or write another',
    ]);
  });

  it('a pool on one end of a veth addresses the other end', () => {
    const lab = load(`name: t
hosts:
  a:
    interfaces:
      eth0: { link: b:eth0, addresses: [10.9.0.1/30], pool: 10.9.0.0/30 }
  b: {}
`);
    expect(lab.hosts.find((h) => h.name === 'b')!.interfaces[0]!.addresses).toEqual(['10.9.0.2/30']);
  });
});
