// The fast reader must give exactly what the full parser gives for every text it accepts (data
// and every position), and hand everything else to the full parser.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LineCounter, parseDocument } from 'yaml';
import { starLabYaml } from '../../src/cli/gen.js';
import { readPlainYaml, resolvePlain } from '../../src/lab/fast-yaml.js';
import type { Path } from '../../src/lab/locate.js';
import { YamlOffsets } from '../../src/lab/yaml-offsets.js';

function full(text: string) {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  return { doc, offsets: new YamlOffsets(doc, lines) };
}

/** Every path in the data, plus paths that do not exist (the nearest enclosing node answers). */
function pathsOf(data: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(data)) {
    data.forEach((item, i) => pathsOf(item, [...prefix, i], out));
    out.push([...prefix, data.length], [...prefix, 'x'], [...prefix, -1]);
  } else if (data !== null && typeof data === 'object') {
    for (const [k, v] of Object.entries(data)) pathsOf(v, [...prefix, k], out);
    out.push([...prefix, 'no-such-key'], [...prefix, 0]);
  }
  return out;
}

/** Holds the fast reader equal to the full parser on `text`; returns whether it took it. */
function same(text: string): boolean {
  const fast = readPlainYaml(text);
  const ref = full(text);
  if (!fast) return false;
  expect(ref.doc.errors).toEqual([]);
  expect(ref.doc.warnings).toEqual([]);
  const data = ref.doc.toJS() as unknown;
  expect(fast.data).toStrictEqual(data);
  for (const path of pathsOf(data)) {
    for (const part of ['key', 'value'] as const) {
      const at = fast.offsets.offset(path, part);
      expect([path, part, at]).toEqual([path, part, ref.offsets.offset(path, part)]);
      expect(fast.offsets.linePos(at)).toEqual(ref.offsets.linePos(at));
    }
  }
  return true;
}

const labFiles = [
  ...readdirSync('labs')
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join('labs', f)),
  ...readdirSync('test/fixtures/good').map((f) => join('test/fixtures/good', f)),
];

describe('fast YAML reader', () => {
  it('reads the catalogue and fixtures as the full parser does (or leaves them to it)', () => {
    const taken = labFiles.filter((f) => same(readFileSync(f, 'utf8')));
    // Most of them are plain YAML: the fast path is the common one.
    expect(taken.length).toBeGreaterThan(labFiles.length / 2);
  });

  it('reads what netlab gen writes', () => {
    expect(same(starLabYaml({ hosts: 300, name: 'big', dnat: 3, backends: 2 }))).toBe(true);
  });

  it('agrees with the full parser on each construct it takes', () => {
    const texts = [
      'name: x\nhosts: {}\n',
      '---\nname: x # c\n# only a comment\nhosts:\n  a: { interfaces: { eth0: { addresses: [10.0.0.1/24, "fd00::1/64"] } } }\n',
      'a:\n- 1\n- -2\n- 0x1F\n- 0o17\n- 1.50\n- 1e3\n- .inf\n- -.Inf\n- .nan\n- true\n- False\n- ~\n- null\n- x y\n',
      "a:\n  - k: 1\n    l: [a, b]\n  - m: { n: \"q\\\"\\u00e9\\n\", o: 'it''s' }\n  - [1, [2, [3]]]\n",
      'a: http://x:80/p#frag\nb: a#b\nc: "x" # d\nd: fd00::1\ne: [fd00::1/64, ::1, "x: y"]\n',
      'a: {\n  b: 1,\n  c: [2,\n    3],\n  }\nz: 1\n',
      '"quoted key": 1\n\'single\': 2\nkey with spaces: 3\n',
      'a:\n  b:\n    c:\n    - d\n    - e: f\n      g: h\n  i: j\n',
      'a: [ ]\nb: { }\nc: []\n',
      'a: 1\n\n\n# trailing\n',
      'a: -x\nb: -1\nc: +1\nd: .5\ne: 1.\nf: 12:30\ng: 0x\nh: 0o8\n',
    ];
    for (const text of texts) expect([text, same(text)]).toEqual([text, true]);
  });

  it('leaves everything outside its subset to the full parser', () => {
    const others = [
      'a: &x 1\nb: *x\n',
      'a: !!str 1\n',
      'a: |\n  text\n',
      'a: >\n  text\n',
      'a: multi\n  line\n',
      'a: "multi\n  line"\n',
      'a:\nb: 1\n',
      'a: 1\na: 2\n',
      'a:\n\tb: 1\n',
      'a: 1\r\nb: 2\r\n',
      '<<: { a: 1 }\n',
      '? a\n: 1\n',
      '1: x\n',
      'true: x\n',
      '__proto__: x\n',
      'a: 1\n---\nb: 2\n',
      '%YAML 1.2\n---\na: 1\n',
      '- a\n- b\n',
      'just a scalar\n',
      '',
      '# nothing\n',
      'a: b: c\n',
      'a: [1, 2\n',
      'a: { b }\n',
      'a: { b: }\n',
      'a: "\\x41"\n',
      'a: 1\n b: 2\n',
      '  a: 1\nb: 2\n',
      'a: "x" y\n',
      'a: {\nb: 1}\n',
      'a: {\n  b: 1\n}\n',
      'top:\n  - - x\n',
      'a: [' + '['.repeat(500) + ']'.repeat(500) + ']\n',
    ];
    for (const text of others) expect([text, readPlainYaml(text)]).toEqual([text, null]);
  });

  it('resolves plain scalars as the YAML 1.2 core schema does', () => {
    for (const s of [
      '',
      '~',
      'null',
      'Null',
      'NULL',
      'true',
      'TRUE',
      'False',
      '0',
      '-0',
      '+12',
      '010',
      '0o17',
      '0x1f',
      '1.5',
      '-.5',
      '1e-3',
      '.inf',
      '.NaN',
      'nan',
      'no',
      'yes',
      '1.2.3',
      '10.0.0.1/24',
    ]) {
      const ref = parseDocument(`a: ${s}\n`).toJS() as { a: unknown };
      expect([s, resolvePlain(s)]).toEqual([s, ref.a]);
    }
  });

  it('agrees on random documents built from the subset', () => {
    // A small deterministic generator: nested block and flow collections of assorted scalars.
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const scalars = [
      'a',
      'b c',
      '1',
      '-2',
      '3.5',
      'true',
      'null',
      '~',
      '"q"',
      "'s'",
      'fd00::1/64',
      '10.0.0.1/24',
      'x#y',
      '"a: b"',
      'ip link',
      '0x10',
    ];
    const flow = (depth: number): string => {
      const r = rand(depth > 2 ? 1 : 3);
      if (r === 0) return scalars[rand(scalars.length)]!;
      if (r === 1) return `[${Array.from({ length: rand(3) }, () => flow(depth + 1)).join(', ')}]`;
      return `{ ${Array.from({ length: rand(3) }, (_, i) => `k${i}: ${flow(depth + 1)}`).join(', ')} }`;
    };
    const block = (indent: number, depth: number): string => {
      const pad = ' '.repeat(indent);
      const seq = depth > 0 && rand(3) === 0;
      let out = '';
      for (let i = 0; i <= rand(3); i++) {
        const nested = depth < 3 && rand(2) === 0;
        const head = seq ? `${pad}- ` : `${pad}k${i}:`;
        if (nested) out += `${head}\n${block(indent + 2, depth + 1)}`;
        else out += `${head}${seq ? '' : ' '}${flow(depth)}${rand(4) === 0 ? ' # note' : ''}\n`;
      }
      return out;
    };
    let taken = 0;
    for (let n = 0; n < 300; n++) if (same(block(0, 0))) taken++;
    expect(taken).toBeGreaterThan(250);
  });
});
