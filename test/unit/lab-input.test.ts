// Bad input of every kind becomes issues with positions, never an exception.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_STAR_HOSTS, starLabYaml } from '../../src/cli/gen.js';
import { issuesJson } from '../../src/cli/output.js';
import { decodeLabBytes, MAX_LAB_BYTES, tooBig } from '../../src/lab/read.js';
import { MAX_REPORTED_ISSUES, LabError } from '../../src/errors.js';
import { loadLabs, loadLabText } from '../../src/lab/index.js';

function only(text: string) {
  const { lab, issues } = loadLabText('in.yaml', text);
  expect(lab).toBeNull();
  expect(issues).toHaveLength(1);
  return issues[0]!;
}

describe('bad input', () => {
  it('not YAML', () => {
    const i = only('name: x\nhosts: [a, b\n');
    expect([i.line, i.col]).toEqual([3, 1]);
    expect(i.message).toMatch(/^YAML: .*end with a \]/);
  });

  it('bad indentation', () => {
    const i = only('name: x\nhosts:\n  a: {}\n b: {}\n');
    expect([i.line, i.col, i.message]).toEqual([4, 1, 'YAML: All mapping items must start at the same column']);
  });

  it('tabs as indentation', () => {
    expect(only('name: x\nhosts:\n\ta: {}\n').message).toContain('Tabs are not allowed');
  });

  it('empty file and comment-only file', () => {
    for (const text of ['', '# nothing here\n\n']) {
      const i = only(text);
      expect([i.line, i.col, i.message]).toEqual([1, 1, 'file is empty: a lab needs at least `name` and `hosts`']);
    }
  });

  it('binary content (NUL bytes), with the position of the first NUL', () => {
    const i = only('name: x\nhos\0ts: {}\n');
    expect([i.line, i.col, i.message]).toEqual([2, 4, 'file contains NUL bytes: it is binary, not a YAML lab']);
  });

  it('huge text (> 32 MiB) is refused before parsing', () => {
    const i = only(`name: x\n# ${'x'.repeat(32 * 1024 * 1024)}\n`);
    expect(i.message).toBe('file is 33554443 bytes; lab files are limited to 32 MiB (33554432 bytes)');
  });

  it('top level not a mapping', () => {
    expect(only('- a\n- b\n').message).toBe('top level must be a mapping (name:, hosts:, links:), not a list');
    expect(only('hello\n').message).toBe('top level must be a mapping (name:, hosts:, links:), not a string');
    expect(only('~\n').message).toBe('top level must be a mapping (name:, hosts:, links:), not null');
  });

  it('duplicate keys', () => {
    const i = only('name: x\nhosts:\n  a: {}\n  a: {}\n');
    expect([i.line, i.col, i.message]).toEqual([4, 3, 'duplicate key "a": each key may appear once in a mapping']);
    // The whole key, however written (yaml marks only its first character).
    for (const [text, key, line, col] of [
      ['name: x\nhosts:\n  web: {}\n  web: {}\n', 'web', 4, 3],
      ['name: x\nhosts: {}\nhosts: {}\n', 'hosts', 3, 1],
      ['name: x\nhosts:\n  "we b": {}\n  "we b": {}\n', 'we b', 4, 3],
      ["name: x\nhosts:\n  'it''s': {}\n  'it''s': {}\n", "it's", 4, 3],
      ['name: x\nhosts: { web: {}, web: {} }\n', 'web', 2, 19],
    ] as const) {
      const d = only(text);
      expect([d.line, d.col, d.message]).toEqual([
        line,
        col,
        `duplicate key ${JSON.stringify(key)}: each key may appear once in a mapping`,
      ]);
    }
  });

  it('a duplicate among 100k keys is found, with its position (one pass, not each key against all before it)', () => {
    const n = 100_000;
    const rows = Array.from({ length: n }, (_, i) => `  h${i + 1}: {}`);
    const i = only(`name: x\nhosts:\n${rows.join('\n')}\n  h7: {}\n`);
    expect([i.line, i.col, i.message]).toEqual([n + 3, 3, 'duplicate key "h7": each key may appear once in a mapping']);
    // A generous limit for a loaded machine: each key checked against all before it would take minutes.
  }, 30_000);

  it('keys that are the same once converted are duplicates: 1 and "1"', () => {
    const i = only('name: x\nhosts: { a: { sysctls: { 1: 1, "1": 2 } } }\n');
    expect([i.line, i.col, i.message]).toEqual([2, 32, 'duplicate key "1": each key may appear once in a mapping']);
  });

  it('multiple documents', () => {
    const i = only('name: x\nhosts: { a: {} }\n---\nname: y\n');
    expect([i.line, i.col, i.message]).toEqual([3, 1, 'file holds more than one YAML document (---): one file is one lab']);
  });

  it('an alias bomb', () => {
    const rows = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [n, prev] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
    ])
      rows.push(`${n}: &${n} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    const i = only(`${rows.join('\n')}\n`);
    expect(i.message).toContain('refusing a possible alias bomb');
  });

  it('undefined aliases, unknown tags and collection keys', () => {
    expect(only('name: *nope\nhosts: {a: {}}\n').message).toContain('Unresolved alias');
    expect(only('name: !foo x\nhosts: {a: {}}\n')).toMatchObject({ line: 1, col: 7, message: 'YAML: Unresolved tag: !foo' });
    expect(only('name: x\nhosts: {a: {}}\n? [1, 2]\n: 3\n')).toMatchObject({
      line: 3,
      col: 3,
      message: 'keys must be plain names, not lists or mappings',
    });
    // Without `?`: a flow collection, or an alias of one, as an implicit key.
    expect(only('name: x\nhosts: {a: {}}\n[1, 2]: 3\n')).toMatchObject({
      line: 3,
      col: 1,
      message: 'keys must be plain names, not lists or mappings',
    });
    expect(only('name: x\nhosts: {a: {}}\nk: &k {b: 1}\n*k : 3\n')).toMatchObject({
      line: 4,
      message: 'keys must be plain names, not lists or mappings',
    });
  });

  it('odd scalars: NaN, binary', () => {
    expect(only('name: x\nhosts: {a: {sysctls: {net.x: .nan}}}\n').message).toBe('must be a string or a number (got NaN)');
    expect(only('name: !!binary aGVsbG8=\nhosts: {a: {}}\n').message).toContain('must be a string');
  });

  it('plain anchors, aliases and merge keys work', () => {
    const { lab, issues } = loadLabText(
      'in.yaml',
      'name: x\nhosts:\n  a:\n    sysctls: &s { net.ipv4.ip_forward: 1 }\n    interfaces: { t: &t { kind: tap, mtu: 9000 } }\n  b:\n    sysctls: *s\n    interfaces: { t: { <<: *t, mtu: 1400 } }\n',
    );
    expect(issues).toEqual([]);
    expect(lab!.hosts.map((h) => [h.sysctls['net.ipv4.ip_forward'], h.interfaces[0]!.mtu])).toEqual([
      ['1', 9000],
      ['1', 1400],
    ]);
  });

  it('a byte-order mark and a missing final newline are fine', () => {
    expect(loadLabText('in.yaml', '\uFEFFname: x\nhosts: { a: {} }').issues).toEqual([]);
  });
});

describe('bad files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-spec-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a missing file, a directory and a huge file are issues, read or not', async () => {
    const huge = join(dir, 'huge.yaml');
    writeFileSync(huge, Buffer.alloc(33 * 1024 * 1024, 0x20));
    mkdirSync(join(dir, 'sub.yaml'));
    const { labs, issues } = await loadLabs([join(dir, 'missing.yaml'), join(dir, 'sub.yaml'), huge]);
    expect(labs).toEqual([]);
    expect(issues.map((i) => [i.file, i.line, i.col, i.message])).toEqual([
      [join(dir, 'missing.yaml'), 1, 1, 'cannot read file: no such file'],
      [join(dir, 'sub.yaml'), 1, 1, 'cannot read file: is a directory, not a lab file'],
      [huge, 1, 1, 'file is 34603008 bytes; lab files are limited to 32 MiB (33554432 bytes)'],
    ]);
  });

  it('invalid UTF-8 and binary files', async () => {
    const latin1 = join(dir, 'latin1.yaml');
    writeFileSync(latin1, Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xe9, 0x0a]));
    const bin = join(dir, 'bin.yaml');
    writeFileSync(bin, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x00, 0x00]));
    const { issues } = await loadLabs([latin1, bin]);
    expect(issues.map((i) => i.message)).toEqual(['file is not valid UTF-8 text', 'file contains NUL bytes: it is binary, not a YAML lab']);
  });

  it('more than 100k problems: all are counted, the report lists the first 1,000 and how many more', async () => {
    const n = 130_000;
    const file = join(dir, 'many.yaml');
    writeFileSync(file, `name: x\nhosts:\n${Array.from({ length: n }, (_, i) => `  h${i + 1}: { ipv6: 1 }`).join('\n')}\n`);
    const { issues } = await loadLabs([file]);
    expect(issues).toHaveLength(n);
    const lines = new LabError(issues).message.split('\n');
    expect(lines).toHaveLength(MAX_REPORTED_ISSUES + 1);
    expect(lines[0]).toBe(`${file}:3:15: hosts.h1.ipv6: must be true or false (got 1)`);
    expect(lines.at(-1)).toBe(`... and ${n - MAX_REPORTED_ISSUES} more`);
    expect(issuesJson(issues)).toHaveLength(MAX_REPORTED_ISSUES);
  }, 120_000);

  it("netlab gen's biggest stars fit the file limit, which the message names", () => {
    for (const hosts of [50_000, MAX_STAR_HOSTS]) {
      const text = starLabYaml({ name: 'big', hosts });
      expect(Buffer.byteLength(text)).toBeGreaterThan(4 * 1024 * 1024);
      expect(decodeLabBytes('big.yaml', Buffer.from(text)).issues).toEqual([]);
    }
    expect(tooBig('f.yaml', MAX_LAB_BYTES + 1).message).toContain(`limited to 32 MiB (${MAX_LAB_BYTES} bytes)`);
  });

  it('the same file twice is loaded once', async () => {
    const f = join(dir, 'one.yaml');
    writeFileSync(f, 'name: one\nhosts: { a: {} }\n');
    const { labs, issues } = await loadLabs([f, f]);
    expect(issues).toEqual([]);
    expect(labs).toHaveLength(1);
  });
});
