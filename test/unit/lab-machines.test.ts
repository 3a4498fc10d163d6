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

  it('refuses two machines with one underlay address, written or taken from ssh', () => {
    expect(
      issues('name: m\nmachines:\n  m1: { ssh: root@192.0.2.2 }\n  m2: { ssh: root@node2, underlay: 192.0.2.2 }\nhosts:\n  a: {}\n'),
    ).toEqual(['4:36 machines "m1" and "m2" have the same underlay address 192.0.2.2: each machine needs its own']);
    // Two users on one machine are still one machine.
    expect(issues('name: m\nmachines:\n  m1: { ssh: root@192.0.2.2 }\n  m2: { ssh: admin@192.0.2.2 }\nhosts:\n  a: {}\n')).toEqual([
      '4:14 machines "m1" and "m2" have the same underlay address 192.0.2.2: each machine needs its own',
    ]);
    // The same address written two ways.
    expect(issues('name: m\nmachines:\n  m1: { ssh: root@fd00::2 }\n  m2: { ssh: root@fd00:0::2 }\nhosts:\n  a: {}\n')).toEqual([
      '4:14 machines "m1" and "m2" have the same underlay address fd00::2: each machine needs its own',
    ]);
  });

  it('refuses local twice, and an SSH machine that is this one when local is named', () => {
    expect(issues('name: m\nmachines:\n  m1: local\n  m2: local\nhosts:\n  a: {}\n')).toEqual([
      '4:7 machine "m2" is local as well as "m1": a lab names this machine once',
    ]);
    for (const [dest, host] of [
      ['root@127.0.0.1', '127.0.0.1'],
      ['localhost', 'localhost'],
      ['root@127.0.1.1', '127.0.1.1'],
      ['root@::1', '::1'],
    ])
      expect(issues(`name: m\nmachines:\n  m1: local\n  m2: { ssh: '${dest}', underlay: 192.0.2.5 }\nhosts:\n  a: {}\n`), dest).toEqual([
        `4:14 machine "m2" is this machine (${host}), which the lab also names as local: name it once`,
      ]);
  });

  /** The issues of a lab whose machine m2 has the ssh destination (a YAML double-quoted scalar's content). */
  const destinationIssues = (yaml: string) =>
    issues(`name: m\nmachines:\n  m2: { ssh: "${yaml}", underlay: 192.0.2.9 }\nhosts:\n  a: {}\n`);

  it('refuses SSH destinations ssh could take for an option or a shell could interpret, at the ssh key', () => {
    const HOST = /^3:14 SSH host "[^]*" must be a host name \(letters, digits, "-" and "\.", not starting with "-"\) or an IP address$/;
    const USER = /^3:14 SSH user "[^]*" must be a letter or "_", then letters, digits, "_", "\." or "-" \(at most 32\)$/;
    const cases: [yaml: string, text: string, why: RegExp][] = [
      ['-oProxyCommand=x', '-oProxyCommand=x', HOST],
      ['-oProxyCommand=sh -c id', '-oProxyCommand=sh -c id', HOST],
      ['root@-oProxyCommand=x', 'root@-oProxyCommand=x', HOST],
      ['-oProxyCommand=x@h', '-oProxyCommand=x@h', USER],
      ['-i@h', '-i@h', USER],
      ['-p', '-p', HOST],
      ['root@-x', 'root@-x', HOST],
      ['root@a;b', 'root@a;b', HOST],
      ['root@h|id', 'root@h|id', HOST],
      ['root@h&&id', 'root@h&&id', HOST],
      ['root@h>x', 'root@h>x', HOST],
      ['a b', 'a b', HOST],
      ['root@h x', 'root@h x', HOST],
      ['root@h\\tx', 'root@h\tx', HOST],
      ['root@h\\nid', 'root@h\nid', HOST],
      ['root\\n@h', 'root\n@h', USER],
      ['$(id)@h', '$(id)@h', USER],
      ['root@$(id)', 'root@$(id)', HOST],
      ['root@${IFS}h', 'root@${IFS}h', HOST],
      ['root@h`x`', 'root@h`x`', HOST],
      ['`id`@h', '`id`@h', USER],
      ["root@'h'", "root@'h'", HOST],
      ['root@\\"h\\"', 'root@"h"', HOST],
      ['r@@h', 'r@@h', USER],
      ['root@h:22', 'root@h:22', HOST],
      ['ssh://root@h', 'ssh://root@h', USER],
      ['root@h#x', 'root@h#x', HOST],
      ['root@fe80::1%eth0', 'root@fe80::1%eth0', HOST],
      ['root@', 'root@', HOST],
      ['@h', '@h', USER],
    ];
    for (const [yaml, text, why] of cases) {
      expect(typeof parseSshDestination(text), text).toBe('string');
      const found = destinationIssues(yaml);
      expect(found, text).toHaveLength(1);
      expect(found[0], text).toMatch(why);
      // Quoted as JSON: a newline or an escape sequence in the file cannot forge a line of output.
      expect(
        [...found[0]!].filter((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
        text,
      ).toEqual([]);
    }
    expect(destinationIssues('root@h\\nerror: x.yaml:1:1: forged\\u001b[31m')).toEqual([
      '3:14 SSH host "h\\nerror: x.yaml:1:1: forged\\u001b[31m" must be a host name (letters, digits, "-" and ".", not starting with "-") or an IP address',
    ]);
    expect(parseSshDestination('netlab@fd00::2')).toEqual({ user: 'netlab', host: 'fd00::2' });
    expect(parseSshDestination('node-1.lab')).toEqual({ user: null, host: 'node-1.lab' });
    expect(parseSshDestination('_ci.bot-1@192.0.2.2')).toEqual({ user: '_ci.bot-1', host: '192.0.2.2' });
  });

  it('refuses identities ssh could take for an option, a shell could interpret, or that are relative or climb with ..', () => {
    const identityIssues = (yaml: string) =>
      issues(`name: m\nmachines:\n  m2: { ssh: root@192.0.2.2, identity: "${yaml}" }\nhosts:\n  a: {}\n`);
    const OK = { user: 'root', host: '192.0.2.2', port: null };
    for (const [yaml, text] of [
      ['-oX', '-oX'],
      ['-i', '-i'],
      ['k;rm', 'k;rm'],
      ['/keys/$(id)', '/keys/$(id)'],
      ['/keys/`id`', '/keys/`id`'],
      ['/keys/a b', '/keys/a b'],
      ['/keys/a\\nb', '/keys/a\nb'],
      ['id_ed25519', 'id_ed25519'],
      ['keys/id_ed25519', 'keys/id_ed25519'],
      ['./id_ed25519', './id_ed25519'],
      ['../id_ed25519', '../id_ed25519'],
      ['~/../../etc/ssh/ssh_host_ed25519_key', '~/../../etc/ssh/ssh_host_ed25519_key'],
      ['/root/.ssh/../../etc/shadow', '/root/.ssh/../../etc/shadow'],
      ['/root/..', '/root/..'],
      ['~root/.ssh/id', '~root/.ssh/id'],
      ['~', '~'],
    ]) {
      expect(identityIssues(yaml), text).toEqual([
        `3:40 identity ${JSON.stringify(text)} must be an absolute path or one under ~/, of letters, digits and "_ . , / + ~ -", with no ".." part`,
      ]);
    }
    for (const good of ['/root/.ssh/id_ed25519', '~/.ssh/lab_ed25519', '/etc/netlab/keys/m2.key', '~/.ssh/..key'])
      expect(
        labOf('lab.yaml', `name: m\nmachines:\n  m2: { ssh: root@192.0.2.2, identity: '${good}' }\nhosts:\n  a: {}\n`).machines![0]!.ssh,
      ).toEqual({
        ...OK,
        identity: good,
      });
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
