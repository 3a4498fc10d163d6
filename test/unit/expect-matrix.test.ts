// `expect: - matrix:` truth tables: parsing `want`, every error at its file:line:col, and the table
// `netlab test` prints, with `*` after each cell that differs from `want`.
import { describe, expect, it } from 'vitest';
import { formatMatrix, mismatches } from '../../src/assert/matrix.js';
import { parseWant } from '../../src/lab/expect-matrix.js';
import { loadLabText } from '../../src/lab/index.js';
import { labOf } from './helpers.js';

const HOSTS = `name: m
hosts:
  node: { interfaces: { br0: { kind: bridge, addresses: [10.0.0.1/24] } } }
  a: { interfaces: { eth0: { addresses: [10.0.0.2/24] } } }
  b: { interfaces: { eth0: { addresses: [10.0.0.3/24] } } }
  bare: {}
links: [{ a: a:eth0, b: node:br0 }, { a: b:eth0, b: node:br0 }]
expect:
`;

const issues = (expectText: string) =>
  loadLabText('m.yaml', HOSTS + expectText).issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);

describe('parseWant', () => {
  it('reads rows of . and X, spaces ignored', () => {
    expect(parseWant(['. X', 'X.'], 2, 2)).toEqual([
      [true, false],
      [false, true],
    ]);
  });

  it('says which row is wrong and how', () => {
    expect(parseWant(['..'], 2, 2)).toMatchObject({
      row: null,
      message: expect.stringContaining('want has 1 rows but from names 2 hosts'),
    });
    expect(parseWant(['..', '.x'], 2, 2)).toEqual({ row: 1, message: '"x" is not a cell: write "." for reachable and "X" for blocked' });
    expect(parseWant(['..', '...'], 2, 2)).toEqual({ row: 1, message: 'row 2 has 3 cells but to names 2 hosts: one cell per to host' });
  });
});

describe('matrix assertions in a lab', () => {
  it('normalises to the destinations’ first addresses', () => {
    const lab = labOf('m.yaml', `${HOSTS}  - matrix: { from: [a, b], to: [a, b], port: 80, want: [".X", ".."] }\n`);
    expect(lab.matrices).toEqual([
      {
        from: ['a', 'b'],
        to: [
          { host: 'a', address: '10.0.0.2' },
          { host: 'b', address: '10.0.0.3' },
        ],
        proto: 'tcp',
        port: 80,
        want: [
          [true, false],
          [true, true],
        ],
        pos: expect.objectContaining({ line: 9 }),
      },
    ]);
  });

  it('reports unknown hosts, a destination without an address and a bad want at their positions', () => {
    expect(issues('  - matrix: { from: [a, c], to: [b, bare], port: 80, protocol: udp, want: ["..", ".."] }\n')).toEqual([
      '9:25 expect[0].matrix.from[1]: host "c" is not defined (did you mean "a"?)',
      '9:37 expect[0].matrix.to[1]: host "bare" has no address to send traffic to',
    ]);
    expect(issues('  - matrix: { from: [a, b], to: [a, b], port: 80, want: ["..", ".-"] }\n')).toEqual([
      '9:64 expect[0].matrix.want[1]: "-" is not a cell: write "." for reachable and "X" for blocked',
    ]);
    expect(issues('  - matrix: { from: [a, b], to: [a, b], port: 80, want: [".."] }\n')).toEqual([
      '9:57 expect[0].matrix.want: want has 1 rows but from names 2 hosts: one row per from host (want: ["X..", ".X.", "..."] for 3 from hosts and 3 to hosts)',
    ]);
  });
});

describe('the printed table', () => {
  const want = [
    [true, false],
    [true, true],
  ];

  it('marks each cell that differs from want with *, and counts them', () => {
    const got = [
      [true, true],
      [false, true],
    ];
    expect(formatMatrix(['x/a', 'y/b'], ['x/a', 'y/b'], want, got)).toEqual(['     x/a y/b', 'x/a  .   .*', 'y/b  X*  .']);
    expect(mismatches(want, got)).toBe(2);
  });

  it('has no * when every cell is as wanted, and ? for a cell not probed', () => {
    expect(formatMatrix(['a', 'b'], ['a', 'b'], want, want)).toEqual(['   a  b', 'a  .  X', 'b  .  .']);
    expect(formatMatrix(['a', 'b'], ['a', 'b'], want, [want[0]!, [null, true]])).toEqual(['   a  b', 'a  .  X', 'b  ?* .']);
    expect(mismatches(want, want)).toBe(0);
  });
});
