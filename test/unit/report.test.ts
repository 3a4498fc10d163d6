// `netlab test` reports: JUnit XML read back by a strict XML parser (well-formedness, entities,
// structure), TAP version 13 checked line by line, and the text report.
import { describe, expect, it } from 'vitest';
import { formatJunit, formatTap, formatText, xmlEscape, type LabResult } from '../../src/assert/report.js';

interface El {
  name: string;
  attrs: Record<string, string>;
  children: El[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function decode(s: string): string {
  if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);)/i.test(s)) throw new Error(`bad entity in ${JSON.stringify(s)}`);
  if (/[<]/.test(s)) throw new Error(`unescaped < in ${JSON.stringify(s)}`);
  return s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (_m, e: string) =>
    e.startsWith('#x')
      ? String.fromCodePoint(parseInt(e.slice(2), 16))
      : e.startsWith('#')
        ? String.fromCodePoint(Number(e.slice(1)))
        : ENTITIES[e]!,
  );
}

/** A strict parser for the XML subset JUnit uses: declaration, elements, attributes, text. Throws on anything malformed. */
function parseXml(xml: string): El {
  let i = 0;
  const decl = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n/.exec(xml);
  if (!decl) throw new Error('missing XML declaration');
  i = decl[0].length;
  const ws = () => {
    while (/\s/.test(xml[i] ?? '')) i++;
  };
  const element = (): El => {
    const open = /^<([A-Za-z_][\w.-]*)/.exec(xml.slice(i));
    if (!open) throw new Error(`expected an element at ${i}: ${xml.slice(i, i + 20)}`);
    i += open[0].length;
    const el: El = { name: open[1]!, attrs: {}, children: [], text: '' };
    for (;;) {
      ws();
      if (xml.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (xml[i] === '>') {
        i++;
        break;
      }
      const a = /^([A-Za-z_][\w.-]*)="([^"]*)"/.exec(xml.slice(i));
      if (!a) throw new Error(`bad attribute at ${i}: ${xml.slice(i, i + 30)}`);
      if (a[1]! in el.attrs) throw new Error(`duplicate attribute ${a[1]}`);
      el.attrs[a[1]!] = decode(a[2]!);
      i += a[0].length;
    }
    for (;;) {
      const lt = xml.indexOf('<', i);
      if (lt < 0) throw new Error(`unclosed <${el.name}>`);
      el.text += decode(xml.slice(i, lt));
      i = lt;
      if (xml.startsWith(`</${el.name}>`, i)) {
        i += el.name.length + 3;
        el.text = el.text.trim();
        return el;
      }
      if (xml.startsWith('</', i)) throw new Error(`mismatched close at ${i} inside <${el.name}>`);
      el.children.push(element());
    }
  };
  const root = element();
  ws();
  if (i !== xml.length) throw new Error('content after the root element');
  return root;
}

const pos = (line: number) => ({ file: 'labs/a&b.yaml', line, col: 5, path: `expect[${line}]` });
const RESULTS: LabResult[] = [
  {
    lab: 'docker',
    file: 'labs/a&b.yaml',
    error: null,
    seconds: 1.5,
    timestamp: '2025-01-01T00:00:00',
    results: [
      {
        lab: 'docker',
        text: 'web -> db:5432 tcp reachable',
        pos: pos(30),
        status: 'pass',
        message: 'db answered',
        details: [],
        seconds: 0.01,
      },
      {
        lab: 'docker',
        text: 'web -> internet unreachable # "quoted" <x>',
        pos: pos(31),
        status: 'fail',
        message: 'expected no ping reply, but 203.0.113.254 (internet) answered',
        details: ['64 bytes from 203.0.113.254: icmp_seq=1 ttl=63 time=0.05 ms \u0007'],
        seconds: 0.02,
      },
      {
        lab: 'docker',
        text: 'db -> web reachable',
        pos: pos(32),
        status: 'error',
        message: "host db's namespace is gone",
        details: [],
        seconds: 0,
      },
    ],
  },
  { lab: 'k8s', file: 'labs/k8s.yaml', error: null, seconds: 0.2, timestamp: '2025-01-01T00:00:02', results: [] },
];

describe('JUnit XML', () => {
  it('reads back with a strict parser: suites, cases, failure and error, escaped text', () => {
    const root = parseXml(formatJunit(RESULTS, 'box'));
    expect(root.name).toBe('testsuites');
    expect(root.attrs).toMatchObject({ name: 'netlab test', tests: '3', failures: '1', errors: '1', time: '1.700' });
    expect(root.children.map((s) => [s.name, s.attrs.name, s.attrs.tests, s.attrs.failures, s.attrs.errors])).toEqual([
      ['testsuite', 'docker', '3', '1', '1'],
      ['testsuite', 'k8s', '0', '0', '0'],
    ]);
    const suite = root.children[0]!;
    expect(suite.attrs).toMatchObject({ hostname: 'box', timestamp: '2025-01-01T00:00:00', file: 'labs/a&b.yaml' });
    const [pass, fail, error] = suite.children;
    expect(pass!.attrs).toMatchObject({ name: 'web -> db:5432 tcp reachable', classname: 'netlab.docker', line: '30', time: '0.010' });
    expect(pass!.children.map((c) => c.name)).toEqual(['system-out']);
    expect(fail!.attrs.name).toBe('web -> internet unreachable # "quoted" <x>');
    expect(fail!.children[0]!.name).toBe('failure');
    expect(fail!.children[0]!.attrs).toEqual({
      message: 'expected no ping reply, but 203.0.113.254 (internet) answered',
      type: 'AssertionFailed',
    });
    // The body says where and what; the control character XML cannot hold is dropped.
    expect(fail!.children[0]!.text.split('\n')).toEqual([
      'labs/a&b.yaml:31:5: web -> internet unreachable # "quoted" <x>',
      'expected no ping reply, but 203.0.113.254 (internet) answered',
      '64 bytes from 203.0.113.254: icmp_seq=1 ttl=63 time=0.05 ms',
    ]);
    expect(error!.children[0]!.name).toBe('error');
  });

  it('escapes every markup character', () => {
    expect(xmlEscape(`a&b<c>d"e'f\u0001g`)).toBe('a&amp;b&lt;c&gt;d&quot;e&apos;fg');
  });
});

/** Checks TAP 13: version, plan, consecutive test points, YAML blocks indented and closed. */
function checkTap(text: string): { ok: number[]; notOk: number[]; yaml: string[][] } {
  const lines = text.trimEnd().split('\n');
  expect(lines[0]).toBe('TAP version 13');
  const plan = /^1\.\.(\d+)$/.exec(lines[1]!);
  expect(plan).not.toBeNull();
  const out = { ok: [] as number[], notOk: [] as number[], yaml: [] as string[][] };
  let next = 1;
  for (let i = 2; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith('#')) continue;
    const m = /^(ok|not ok) (\d+) - (.*)$/.exec(l);
    if (!m) throw new Error(`not a TAP line: ${l}`);
    expect(Number(m[2])).toBe(next++);
    expect(m[3]).not.toMatch(/(^|[^\\])#/);
    (m[1] === 'ok' ? out.ok : out.notOk).push(Number(m[2]));
    if (lines[i + 1] === '  ---') {
      const block: string[] = [];
      for (i += 2; lines[i] !== '  ...'; i++) {
        if (i >= lines.length) throw new Error('unclosed YAML block');
        expect(lines[i]).toMatch(/^ {2,}\S/);
        block.push(lines[i]!);
      }
      out.yaml.push(block);
    }
  }
  expect(next - 1).toBe(Number(plan![1]));
  return out;
}

describe('TAP', () => {
  it('is TAP version 13 with a plan, numbered points and a YAML block per failure', () => {
    const tap = formatTap(RESULTS);
    const r = checkTap(tap);
    expect(r.ok).toEqual([1]);
    expect(r.notOk).toEqual([2, 3]);
    expect(tap).toContain('not ok 2 - docker: web -> internet unreachable \\# "quoted" <x>');
    expect(r.yaml[0]).toEqual([
      '  message: "expected no ping reply, but 203.0.113.254 (internet) answered"',
      '  severity: fail',
      '  at:',
      '    file: "labs/a&b.yaml"',
      '    line: 31',
      '    column: 5',
      '  details:',
      '    - "64 bytes from 203.0.113.254: icmp_seq=1 ttl=63 time=0.05 ms \\u0007"',
    ]);
    expect(r.yaml[1]).toContain('  severity: error');
    expect(tap.trimEnd().split('\n').at(-1)).toBe('# 1 passed, 2 failed');
  });

  it('with no assertions is a valid empty plan', () => {
    expect(formatTap([])).toBe('TAP version 13\n1..0\n# 0 passed, 0 failed\n');
  });
});

describe('text report', () => {
  it('lists passes briefly and failures with file:line:col and what happened', () => {
    const id = (s: string) => s;
    expect(formatText(RESULTS, { ok: id, bad: id, dim: id })).toEqual([
      'docker (labs/a&b.yaml)',
      '  ok   web -> db:5432 tcp reachable  (db answered)',
      '  FAIL labs/a&b.yaml:31:5: web -> internet unreachable # "quoted" <x>',
      '       expected no ping reply, but 203.0.113.254 (internet) answered',
      '       64 bytes from 203.0.113.254: icmp_seq=1 ttl=63 time=0.05 ms \u0007',
      '  ERR  labs/a&b.yaml:32:5: db -> web reachable',
      "       host db's namespace is gone",
      'k8s (labs/k8s.yaml)',
      '1 passed, 2 failed',
    ]);
  });
});
