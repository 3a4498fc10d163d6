// The CLI's side of `netlab serve` (src/cli/client.ts, wire.ts): frames survive any chunking, and
// only commands that cannot ask for confirmation are handed over.
import { describe, expect, it } from 'vitest';
import { servable } from '../../src/cli/client.js';
import { frame, FrameReader, requestEnv } from '../../src/cli/wire.js';

describe('netlab serve wire', () => {
  it('reads frames back however the stream is cut', () => {
    const bytes = Buffer.concat([frame('o', 'hello\n'), frame('e', Buffer.from([0, 255, 10])), frame('x', '2'), frame('b')]);
    for (const size of [1, 2, 3, 5, 7, bytes.length]) {
      const reader = new FrameReader();
      const got = [];
      for (let i = 0; i < bytes.length; i += size) got.push(...reader.push(bytes.subarray(i, i + size)));
      expect(got.map((f) => [f.kind, [...f.payload]])).toEqual([
        ['o', [...Buffer.from('hello\n')]],
        ['e', [0, 255, 10]],
        ['x', [...Buffer.from('2')]],
        ['b', []],
      ]);
    }
  });

  it("hands over only commands that will not ask, and carries netlab's variables only", () => {
    expect(servable(['apply', 'lab.yaml'], false)).toBe(true);
    expect(servable(['apply', 'lab.yaml'], true)).toBe(false); // would ask on a terminal
    for (const flag of ['-y', '--yes', '--json', '--dry-run']) expect(servable(['apply', flag, 'lab.yaml'], true)).toBe(true);
    expect(servable(['destroy', 'lab.yaml'], true)).toBe(false);
    expect(servable(['-q', 'plan', 'lab.yaml'], true)).toBe(true);
    expect(servable(['status'], true)).toBe(true);
    for (const other of ['exec', 'shell', 'watch', 'serve', 'test', 'gc', 'capture']) expect(servable([other, 'x'], false)).toBe(false);
    expect(servable(['--version'], false)).toBe(false);
    expect(requestEnv({ NETLAB_STATE_DIR: '/s', NO_COLOR: '1', PATH: '/bin', HOME: '/root' })).toEqual({
      NETLAB_STATE_DIR: '/s',
      NO_COLOR: '1',
    });
  });
});
