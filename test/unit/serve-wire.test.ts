// The CLI's side of `netlab serve` (src/cli/client.ts, wire.ts): frames survive any chunking, and
// only commands that cannot ask for confirmation are handed over.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { servable } from '../../src/cli/client.js';
import { checkServeSocket, frame, FrameReader, LineReader, requestEnv, requestProblem, servedCommand } from '../../src/cli/wire.js';

const work = mkdtempSync(join(tmpdir(), 'netlab-serve-wire-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

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

describe('netlab serve requests', () => {
  it('splits lines however they arrive, and gives up on a line longer than the cap without keeping it', () => {
    const r = new LineReader(8);
    expect(r.push(Buffer.from('ab'))).toEqual([]);
    expect(r.push(Buffer.from('c\nde\nf'))).toEqual(['abc', 'de']);
    expect(r.push(Buffer.from('1234567\n'))).toEqual(['f1234567']);
    expect(r.push(Buffer.from('12345678\n'))).toEqual(['12345678']);
    expect(r.push(Buffer.from('1234'))).toEqual([]);
    expect(r.push(Buffer.from('56789'))).toBeNull();
    expect(new LineReader(8).push(Buffer.from('123456789\nok\n'))).toBeNull();
  });

  it("runs only the commands a client hands over, after netlab's own options only", () => {
    for (const c of ['apply', 'plan', 'destroy', 'status', 'validate']) expect(servedCommand([c, 'x'])).toBe(c);
    expect(servedCommand(['-q', '-v', 'plan', 'x'])).toBe('plan');
    for (const args of [
      ['gen', '-o', 'f'],
      ['exec', 'l', 'h', '--', 'sh'],
      ['serve'],
      ['--version'],
      [],
      ['--bogus', 'plan'],
      ['-o', 'plan'],
    ])
      expect(servedCommand(args), args.join(' ')).toBeUndefined();
  });

  it('says what is wrong with a request', () => {
    const ok = { id: 'i', args: ['status'], cwd: '/', env: { NETLAB_X: '1' } };
    expect(requestProblem(ok)).toBeNull();
    expect(requestProblem(null)).toMatch(/JSON object/);
    expect(requestProblem({ ...ok, args: [1] })).toMatch(/args/);
    expect(requestProblem({ ...ok, cwd: 'rel' })).toMatch(/absolute/);
    expect(requestProblem({ ...ok, env: ['a'] })).toMatch(/env/);
    expect(requestProblem({ ...ok, env: { A: 1 } })).toMatch(/env/);
    expect(requestProblem({ ...ok, args: ['gen', '--hosts', '1'] })).toMatch(/runs only/);
  });
});

describe('the serve socket a client trusts', () => {
  let n = 0;
  /** A directory (0700) with a listening socket (0600) in it, as `netlab serve` makes them. */
  async function socketDir() {
    const dir = join(work, `d${n++}`);
    mkdirSync(dir, { mode: 0o700 });
    const path = join(dir, '.serve.sock');
    const server = createServer();
    await new Promise<void>((r) => server.listen(path, r));
    chmodSync(path, 0o600);
    return { dir, path, close: () => server.close() };
  }

  it('is a socket of the same uid, mode 0600, in a directory of that uid nobody else can write', async () => {
    const s = await socketDir();
    try {
      expect(checkServeSocket(s.path, 0)).toEqual({ use: true });
      // Another user sees root's server: not theirs, not an attack, nothing to say.
      expect(checkServeSocket(s.path, 1000)).toMatchObject({ use: false, why: null });
      chmodSync(s.path, 0o660);
      expect(checkServeSocket(s.path, 0)).toMatchObject({ use: false, why: expect.stringContaining('mode is 0660') });
      chmodSync(s.path, 0o600);
      chownSync(s.path, 65534, 65534);
      expect(checkServeSocket(s.path, 0)).toMatchObject({ use: false, why: expect.stringContaining('belongs to uid 65534') });
      // The socket's owner, in root's directory: root's business, nothing to report.
      expect(checkServeSocket(s.path, 65534)).toMatchObject({ use: false, why: null });
      chownSync(s.path, 0, 0);
      chmodSync(s.dir, 0o770);
      expect(checkServeSocket(s.path, 0)).toMatchObject({
        use: false,
        why: expect.stringContaining('others can replace'),
        fix: `chmod go-w ${s.dir}`,
      });
      chmodSync(s.dir, 0o755);
      expect(checkServeSocket(s.path, 0)).toEqual({ use: true });
      chownSync(s.dir, 65534, 65534);
      expect(checkServeSocket(s.path, 0)).toMatchObject({ use: false, why: expect.stringContaining('belongs to uid 65534') });
    } finally {
      s.close();
    }
  });

  it('is not a link to a socket, nor a file; and no socket is nothing to report', async () => {
    const s = await socketDir();
    try {
      const link = join(s.dir, 'link.sock');
      symlinkSync(s.path, link);
      expect(checkServeSocket(link, 0)).toMatchObject({
        use: false,
        why: 'it is a symbolic link, not a socket',
        fix: expect.stringContaining(`rm ${link}`),
      });
      const file = join(s.dir, 'file.sock');
      writeFileSync(file, '');
      expect(checkServeSocket(file, 0)).toMatchObject({ use: false, why: 'it is not a socket' });
      expect(checkServeSocket(join(s.dir, 'none.sock'), 0)).toMatchObject({ use: false, why: null });
    } finally {
      s.close();
    }
  });
});
