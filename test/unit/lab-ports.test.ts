// Bridge ports links create are named uniquely within their host by construction (src/lab/ports.ts),
// even when the short hashes of two ports collide; a real duplicate names both links.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadLabText } from '../../src/lab/index.js';
import { IFNAME_MAX, IFNAME_PATTERN } from '../../src/lab/names.js';
import type { Lab } from '../../src/lab/types.js';

/** The name earlier versions gave a port: `veth` + 7 hex of sha256('port', lab, host, peerHost, peerIf). */
function oldPortName(lab: string, host: string, peerHost: string, peerIf: string): string {
  return `veth${createHash('sha256').update(['port', lab, host, peerHost, peerIf].join('\0')).digest('hex').slice(0, 7)}`;
}

/** Two hosts whose ports on sw:br0 collide in the old scheme: a birthday search over h0, h1, ... (~10^4 tries). */
function collidingHosts(lab: string): [string, string] {
  const seen = new Map<string, string>();
  for (let i = 0; ; i++) {
    const name = oldPortName(lab, 'sw', `h${i}`, 'eth0');
    const first = seen.get(name);
    if (first !== undefined) return [first, `h${i}`];
    seen.set(name, `h${i}`);
  }
}

function starText(lab: string, hosts: string[], extra = ''): string {
  const lines = [`name: ${lab}`, 'hosts:', '  sw:', '    interfaces:', '      br0: { kind: bridge }', extra];
  for (const h of hosts) lines.push(`  ${h}:`, '    interfaces:', '      eth0: { link: sw:br0 }');
  return `${lines.filter(Boolean).join('\n')}\n`;
}

function load(text: string): Lab {
  const r = loadLabText('lab.yaml', text);
  if (!r.lab) throw new Error(r.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`).join('\n'));
  return r.lab;
}

function ports(l: Lab): Map<string, string> {
  const sw = l.hosts.find((h) => h.name === 'sw')!;
  const out = new Map<string, string>();
  for (const i of sw.interfaces) if (i.kind === 'veth') out.set(i.peer.host, i.name);
  return out;
}

describe('bridge port names', () => {
  const [x, y] = collidingHosts('coll');

  it('two hosts whose port hashes collide get distinct names, and the lab validates', () => {
    expect(oldPortName('coll', 'sw', x, 'eth0')).toBe(oldPortName('coll', 'sw', y, 'eth0'));
    const named = ports(load(starText('coll', [x, y])));
    expect(named.size).toBe(2);
    expect(named.get(x)).not.toBe(named.get(y));
    for (const n of named.values()) {
      expect(Buffer.byteLength(n)).toBeLessThanOrEqual(IFNAME_MAX);
      expect(n).toMatch(IFNAME_PATTERN);
    }
  });

  it('are the same whatever the order of the hosts, and keep the earlier names where nothing collides', () => {
    const a = ports(load(starText('coll', [x, y, 'web'])));
    const b = ports(load(starText('coll', ['web', y, x])));
    expect(b).toEqual(a);
    // The first of the colliding pair in identity order keeps the name it always had.
    const [first] = [x, y].sort();
    expect(a.get(first!)).toBe(oldPortName('coll', 'sw', first!, 'eth0'));
    expect(a.get('web')).toBe(oldPortName('coll', 'sw', 'web', 'eth0'));
  });

  it('never take a name the lab writes for an interface of that host', () => {
    const taken = oldPortName('coll', 'sw', 'web', 'eth0');
    const named = ports(load(starText('coll', ['web'], `      ${taken}: { kind: bridge }`)));
    expect(named.get('web')).not.toBe(taken);
  });

  it('two bridges of one host linked to one far bridge get two ports', () => {
    const l = load(
      [
        'name: twobr',
        'hosts:',
        '  a:',
        '    interfaces:',
        '      br0: { kind: bridge }',
        '      br1: { kind: bridge }',
        '  b:',
        '    interfaces:',
        '      brx: { kind: bridge }',
        'links:',
        '  - { a: a:br0, b: b:brx }',
        '  - { a: a:br1, b: b:brx }',
        '',
      ].join('\n'),
    );
    const a = l.hosts.find((h) => h.name === 'a')!;
    const veths = a.interfaces.filter((i) => i.kind === 'veth');
    expect(veths).toHaveLength(2);
    expect(new Set(veths.map((v) => v.name)).size).toBe(2);
  });

  it('a real duplicate (the same bridge and far end twice) names both links', () => {
    const text = starText('dup', []).concat(
      '  h1:\n    interfaces:\n      eth0: {}\nlinks:\n  - { a: h1:eth0, b: sw:br0 }\n  - { a: sw:br0, b: h1:eth0 }\n',
    );
    const r = loadLabText('lab.yaml', text);
    expect(r.lab).toBeNull();
    const messages = r.issues.map((i) => `${i.path}: ${i.message}`);
    expect(messages).toContainEqual(expect.stringMatching(/^links\[1\]\.a: links\[1\] and links\[0\] both join bridge sw:br0 to h1:eth0/));
  });
});
