// Labs across machines in the lab language: `machines:`, `on:` and `placement`, and the input
// they must refuse (an SSH destination becomes an argument of ssh).
import { describe, expect, it } from 'vitest';
import { loadLabText } from '../../src/lab/index.js';
import { parseSshDestination } from '../../src/lab/machines.js';
import { labOf } from './helpers.js';

const MACHINES = `machines:
  m1: local
  m2: { ssh: root@192.0.2.2 }
  m3: { ssh: admin@node3.example, port: 2222, identity: ~/.ssh/lab_ed25519, underlay: 192.0.2.3 }
`;

function issues(text: string): string[] {
  const r = loadLabText('lab.yaml', text);
  return r.issues.map((i) => `${i.line}:${i.col} ${i.message}`);
}

function placement(text: string): Record<string, string | undefined> {
  return Object.fromEntries(labOf('lab.yaml', text).hosts.map((h) => [h.name, h.machine]));
}

describe('machines in the lab language', () => {
  it('normalises machines and places hosts by on:, templates included', () => {
    const lab = labOf('lab.yaml', `name: m\n${MACHINES}hosts:\n  a: { on: m2 }\n  w{i}: { count: 2, on: m3 }\n  b: {}\n`);
    expect(lab.machines).toEqual([
      { name: 'm1', ssh: null, underlay: null, pos: expect.objectContaining({ line: 3 }) },
      { name: 'm2', ssh: { user: 'root', host: '192.0.2.2', port: null, identity: null }, underlay: '192.0.2.2', pos: expect.anything() },
      {
        name: 'm3',
        ssh: { user: 'admin', host: 'node3.example', port: 2222, identity: '~/.ssh/lab_ed25519' },
        underlay: '192.0.2.3',
        pos: expect.anything(),
      },
    ]);
    // pack (the default) puts unplaced hosts on the local machine.
    expect(placement(`name: m\n${MACHINES}hosts:\n  a: { on: m2 }\n  w{i}: { count: 2, on: m3 }\n  b: {}\n`)).toEqual({
      a: 'm2',
      b: 'm1',
      w1: 'm3',
      w2: 'm3',
    });
  });

  it('a lab without machines has no machine on its hosts', () => {
    expect(placement('name: m\nhosts:\n  a: {}\n')).toEqual({ a: undefined });
  });

  it('spread is deterministic, uses every machine, and adding a host never moves another', () => {
    const lab = (n: number) =>
      `name: m\nplacement: spread\n${MACHINES}hosts:\n${Array.from({ length: n }, (_, i) => `  h${i}: {}\n`).join('')}`;
    const small = placement(lab(30));
    expect(placement(lab(30))).toEqual(small);
    expect(new Set(Object.values(small))).toEqual(new Set(['m1', 'm2', 'm3']));
    const big = placement(lab(60));
    for (const [h, m] of Object.entries(small)) expect(big[h]).toBe(m);
  });

  it('refuses a host on an unknown machine, with its position', () => {
    expect(issues(`name: m\n${MACHINES}hosts:\n  a: { on: m4 }\n`)).toEqual([
      expect.stringMatching(/^7:12 host "a" is placed on machine "m4", which is not defined/),
    ]);
  });

  it('refuses on: without machines', () => {
    expect(issues('name: m\nhosts:\n  a: { on: m1 }\n')).toEqual([expect.stringMatching(/^3:12 .*the lab has no machines/)]);
  });

  it('refuses two machines with one underlay address', () => {
    expect(
      issues('name: m\nmachines:\n  m1: { ssh: root@192.0.2.2 }\n  m2: { ssh: root@node2, underlay: 192.0.2.2 }\nhosts:\n  a: {}\n'),
    ).toEqual(['4:36 machines "m1" and "m2" have the same underlay address 192.0.2.2: each machine needs its own']);
  });

  it('refuses local twice, and an SSH machine that is this one when local is named', () => {
    expect(issues('name: m\nmachines:\n  m1: local\n  m2: local\nhosts:\n  a: {}\n')).toEqual([
      '4:7 machine "m2" is local as well as "m1": a lab names this machine once',
    ]);
    expect(issues('name: m\nmachines:\n  m1: local\n  m2: { ssh: root@127.0.0.1 }\nhosts:\n  a: {}\n')).toEqual([
      expect.stringMatching(/^4:14 machine "m2" is this machine/),
    ]);
  });

  it('refuses SSH destinations and identities ssh or a shell could misread', () => {
    for (const bad of ['-oProxyCommand=x', 'root@-x', 'root@a;b', 'a b', '$(id)@h', 'root@h`x`', 'r@@h', 'root@h:22', '-i@h']) {
      expect(typeof parseSshDestination(bad), bad).toBe('string');
      const found = issues(`name: m\nmachines:\n  m2: { ssh: '${bad}', underlay: 192.0.2.9 }\nhosts:\n  a: {}\n`);
      expect(found, bad).toEqual([expect.stringMatching(/^3:14 SSH (user|host) /)]);
    }
    expect(issues("name: m\nmachines:\n  m2: { ssh: root@192.0.2.2, identity: '-oX' }\nhosts:\n  a: {}\n")).toEqual([
      expect.stringMatching(/^3:40 identity "-oX" must be a file path/),
    ]);
    expect(issues("name: m\nmachines:\n  m2: { ssh: root@192.0.2.2, identity: 'k;rm' }\nhosts:\n  a: {}\n")).toHaveLength(1);
    expect(parseSshDestination('netlab@fd00::2')).toEqual({ user: 'netlab', host: 'fd00::2' });
    expect(parseSshDestination('node-1.lab')).toEqual({ user: null, host: 'node-1.lab' });
  });

  it('refuses a port out of range and a host name without underlay', () => {
    expect(issues('name: m\nmachines:\n  m2: { ssh: root@192.0.2.2, port: 65536 }\nhosts:\n  a: {}\n')).toEqual([
      expect.stringMatching(/^3:36 must be <= 65535/),
    ]);
    expect(issues('name: m\nmachines:\n  m2: { ssh: root@192.0.2.2, port: 0 }\nhosts:\n  a: {}\n')).toHaveLength(1);
    expect(issues('name: m\nmachines:\n  m2: { ssh: root@node2 }\nhosts:\n  a: {}\n')).toEqual([
      expect.stringMatching(/^3:14 machine "m2" is reached by host name: give its address .* underlay: ADDRESS/),
    ]);
  });
});
