// Re-checking an edit from the last check's memory (src/spec/recheck.ts) must give exactly what a
// full check of the edited text gives (the lab, positions included, or the same issues), and must
// actually splice the edits it is meant for. Each edit below is checked both ways.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { starLabYaml } from '../../src/cli/gen.js';
import { checkLabText, loadLabText, type Memory } from '../../src/spec/check.js';

const FILE = 'labs/edited.yaml';

/** The memory a passing check leaves, as the next run reads it back. */
function memoryOf(text: string, file = FILE): Memory {
  const { result, memory } = checkLabText(file, text);
  expect(result.issues).toEqual([]);
  expect(memory).not.toBeNull();
  return JSON.parse(memory!()) as Memory;
}

/** Checks `edited` from the memory of `base`; asserts it equals a full check; returns how it went. */
function recheck(base: string, edited: string): 'splice' | 'parse' {
  const out = checkLabText(FILE, edited, memoryOf(base));
  expect(out.result).toEqual(loadLabText(FILE, edited));
  return out.via;
}

const STAR = starLabYaml({ name: 's', hosts: 30 });
const host = (i: number) =>
  `  h${i}:\n    interfaces: { eth0: { addresses: [10.10.0.${i + 1}/16] } }\n    routes: [{ to: default, via: 10.10.0.1 }]\n`;

const BLOCK = `# a lab written in block style, with comments
name: blk
hosts:
  a:
    # the first host
    interfaces:
      eth0:
        addresses:
          - 10.0.0.1/24
    routes:
      - to: default
        via: 10.0.0.254
  b:
    interfaces:
      eth0:
        addresses: [10.0.0.2/24]
    exec:
      - |
        echo hello
        echo world

  c:
    interfaces:
      eth0: { addresses: [10.0.0.3/24] }
  sw:
    interfaces:
      br0: { kind: bridge }
links:
  - a: a:eth0
    b: sw:br0
  - { a: b:eth0, b: sw:br0 }
  - a: c:eth0
    b: sw:br0
`;

describe('re-checking an edit from the last check', () => {
  it('splices a change inside one entry, and positions after it move with the lines added', () => {
    expect(recheck(STAR, STAR.replace('10.10.0.16/16', '10.10.9.9/16'))).toBe('splice');
    const longer = STAR.replace(host(15), `${host(15)}    # a comment that adds a line\n`);
    expect(recheck(STAR, longer)).toBe('splice');
    const lab = checkLabText(FILE, longer, memoryOf(STAR)).result.lab!;
    const full = loadLabText(FILE, longer).lab!;
    expect(lab.hosts.find((h) => h.name === 'h20')!.pos).toEqual(full.hosts.find((h) => h.name === 'h20')!.pos);
  });

  it('splices added, removed and renamed entries, in maps and lists', () => {
    const extra = '  extra:\n    sysctls: { net.ipv4.ip_forward: 1 }\n';
    const added = STAR.replace(host(10), `${host(10)}${extra}`);
    expect(recheck(STAR, added)).toBe('splice');
    expect(recheck(added, STAR)).toBe('splice');
    expect(recheck(added, added.replace('  extra:', '  extra2:'))).toBe('splice');
    expect(recheck(STAR, STAR.replace(host(30), `${host(30)}${extra}`))).toBe('splice'); // after the last entry
    expect(recheck(STAR, STAR.replace('  hub:\n', `${extra}  hub:\n`))).toBe('splice'); // before the first
    const swapped = STAR.replace(
      '  - { a: h3:eth0, b: hub:br0 }\n  - { a: h4:eth0, b: hub:br0 }\n',
      '  - { a: h4:eth0, b: hub:br0 }\n  - { a: h3:eth0, b: hub:br0 }\n',
    );
    expect(swapped).not.toBe(STAR);
    expect(recheck(STAR, swapped)).toBe('splice');
    // A host and its link removed: two collections at once, parsed in full, the same result.
    expect(recheck(STAR, STAR.replace(host(7), '').replace('  - { a: h7:eth0, b: hub:br0 }\n', ''))).toBe('parse');
    // Only the link removed: h7's eth0 is left without a peer, an issue the full check words.
    expect(recheck(STAR, STAR.replace('  - { a: h7:eth0, b: hub:br0 }\n', ''))).toBe('parse');
  });

  it('chains: the memory of a spliced check serves the next edit', () => {
    let text = STAR;
    let memory = memoryOf(text);
    for (const i of [3, 17, 29, 1]) {
      const next = text.replace(`10.10.0.${i + 1}/16]`, `10.10.7.${i}/16]`);
      const out = checkLabText(FILE, next, memory);
      expect(out.via).toBe('splice');
      expect(out.result).toEqual(loadLabText(FILE, next));
      memory = JSON.parse(out.memory!()) as Memory;
      text = next;
    }
  });

  it('splices block-style entries with comments and block scalars', () => {
    expect(recheck(BLOCK, BLOCK.replace('echo world', 'echo there'))).toBe('splice');
    expect(recheck(BLOCK, BLOCK.replace('    # the first host\n', ''))).toBe('splice');
    expect(recheck(BLOCK, BLOCK.replace('  - a: c:eth0\n    b: sw:br0\n', '  - b: sw:br0\n    a: c:eth0\n'))).toBe('splice');
    expect(recheck(BLOCK, BLOCK.replace('          - 10.0.0.1/24\n', '          - 10.0.0.1/24\n          - 10.0.1.1/24\n'))).toBe('splice');
    expect(
      recheck(BLOCK, BLOCK.replace('      eth0: { addresses: [10.0.0.3/24] }\n', '      eth0: { addresses: [10.0.0.3/24], mtu: 1400 }\n')),
    ).toBe('splice');
  });

  it('reads lines at the edges of an edit as the whole file does (block scalars, CRLF)', () => {
    // Found by a fuzzer: lines put before an entry's key continue the block scalar before them;
    // the line break after an edited entry keeps a kept scalar's blank lines and a CRLF's CR.
    const kept = (tail: string) => `name: t\nhosts:\n  a:\n    exec:\n      - |+\n        echo hi\n${tail}  b: {}\n`;
    expect(recheck(kept(''), kept('\n'))).toBe('splice');
    const clipped = (tail: string) => `name: t\nhosts:\n  a:\n    exec:\n      - |\n        echo hi\n${tail}  b: {}\n`;
    expect(recheck(clipped(''), clipped('        # not a comment\n'))).toBe('splice');
    const blank = (x: string) => `name: t\nhosts:\n  a:\n    exec:\n      - |+\n        echo ${x}\n\n  b: {}\n`;
    expect(recheck(blank('hi'), blank('ho'))).toBe('splice');
    const crlf = (x: string) => `name: t\r\nhosts:\r\n  a:\r\n    exec:\r\n      - echo ${x}\r\n  b: {}\r\n`;
    expect(recheck(crlf('hi'), crlf('ho'))).toBe('splice');
    const expectCrlf = (x: string) =>
      `name: t\r\nhosts:\r\n  a: { interfaces: { e: { addresses: [10.0.0.1/24], link: b:e } } }\r\n  b: { interfaces: { e: { addresses: [10.0.0.2/24] } } }\r\nexpect:\r\n  - a -> b reachable${x}\r\n  - b -> a reachable\r\n`;
    recheck(expectCrlf(''), expectCrlf(' '));
    // The memory a spliced check leaves is the full check's.
    const spliced = JSON.parse(checkLabText(FILE, expectCrlf(' '), memoryOf(expectCrlf(''))).memory!()) as Memory;
    expect(spliced.data).toEqual(memoryOf(expectCrlf(' ')).data);
    // An issue the whole file has (a comment line inside a folded item) is the full check's.
    const folded = (tail: string) =>
      `name: t\nhosts:\n  a: { interfaces: { e: { addresses: [10.0.0.1/24], link: b:e } } }\n  b: { interfaces: { e: { addresses: [10.0.0.2/24] } } }\nexpect:\n  - >-\n    a -> b reachable\n${tail}  - b -> a reachable\n`;
    expect(recheck(folded(''), folded('    # why\n'))).toBe('parse');
  });

  it("gives the full check's issues for a bad edit, and never splices what could read differently", () => {
    const cases = [
      BLOCK.replace('      eth0: { addresses: [10.0.0.3/24] }', '      eth0: { addresses: [10.0.0.3/24'), // syntax error
      BLOCK.replace('  c:\n', '  a:\n'), // duplicate key
      BLOCK.replace('  c:\n    interfaces:', 'c:\n    interfaces:'), // an entry moved to the top level
      BLOCK.replace('  c:\n', '  c:\nfoo: 1\n'), // a top-level key inside the section
      BLOCK.replace('          - 10.0.0.1/24', '          - &x 10.0.0.1/24'), // an anchor
      BLOCK.replace('      eth0: { addresses: [10.0.0.3/24] }', '      eth0: { addresses: [10.0.0.1/24] }'), // a rule across hosts
      BLOCK.replace('  c:\n', '  c{i}:\n    count: 2\n'), // a host template
      BLOCK.replace('        addresses: [10.0.0.2/24]', '        addresses: [10.0.0.2/24]\n      eth1: { mtu: .inf }'), // no exact JSON
      BLOCK.replace('  b:\n', '  1:\n').replace('b:eth0', '1:eth0'), // an index-like key reorders the data
    ];
    for (const edited of cases) expect(recheck(BLOCK, edited)).toBe('parse');
  });

  it('leaves files with anchors to the full check, and keeps their results right', () => {
    const k8s = readFileSync('labs/k8s-flat.yaml', 'utf8');
    expect(checkLabText(FILE, k8s).memory).toBeNull();
    for (const lab of ['docker-bridge', 'netns-basics', 'network-policy', 'cross-host-nat', 'scale', 'shared-netns']) {
      const text = readFileSync(`labs/${lab}.yaml`, 'utf8');
      const base = checkLabText(FILE, text);
      expect(base.result.issues).toEqual([]);
      if (!base.memory) continue;
      // Any single line blanked out: whatever the result, it is the full check's.
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i += 3) {
        const edited = [...lines.slice(0, i), '', ...lines.slice(i + 1)].join('\n');
        recheck(text, edited);
      }
    }
  });

  it('matches the full check on random line edits', () => {
    // A small deterministic generator, so a failure replays.
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const mutations = [
      (l: string) => l.replace(/\d/, (d) => String((Number(d) + 1) % 10)),
      (l: string) => ` ${l}`,
      (l: string) => l.slice(1),
      (l: string) => `${l}\n${l}`,
      () => '',
      (l: string) => `${l} # note`,
      (l: string) => l.replace(':', ''),
      // Lines put before a line, which may belong to the entry above it.
      (l: string) => `\n${l}`,
      (l: string) => `        # indented\n${l}`,
      (l: string) => `${l}\r`,
    ];
    const seen = { splice: 0, parse: 0 };
    for (const base of [STAR, BLOCK, BLOCK.replace(/\n/g, '\r\n')]) {
      const lines = base.split('\n');
      for (let k = 0; k < 150; k++) {
        const i = random(lines.length);
        const edited = [...lines.slice(0, i), mutations[random(mutations.length)]!(lines[i]!), ...lines.slice(i + 1)].join('\n');
        seen[recheck(base, edited)]++;
      }
    }
    // Both ways are exercised: most edits splice, the rest fall back.
    expect(seen.splice).toBeGreaterThan(60);
    expect(seen.parse).toBeGreaterThan(10);
  });
});
