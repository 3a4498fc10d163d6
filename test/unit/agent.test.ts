// The helper `netlab test` runs in lab namespaces (src/assert/agent.ts), run here on the loopback
// of the test's own namespace: its answer reaches netlab through a pipe, whole, however long.
import { execa } from 'execa';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const AGENT = join(import.meta.dirname, '../../dist/assert/agent.js');

describe('netlab agent', () => {
  it('probe writes all of an answer larger than a pipe holds before it exits', { timeout: 60_000 }, async () => {
    // Port 1 of the loopback: refused at once, so many attempts make a long answer quickly.
    const count = 10_000;
    const r = await execa('sh', [
      '-c',
      'node "$0" probe --proto tcp --to 127.0.0.1 --port 1 --count "$1" --timeout 500 | cat',
      AGENT,
      String(count),
    ]);
    expect(r.stdout.length).toBeGreaterThan(200_000);
    expect((JSON.parse(r.stdout) as { results: unknown[] }).results).toHaveLength(count);
  });

  it('probe with several --to tries them all at once, one list of results per target in order', { timeout: 30_000 }, async () => {
    const server = createServer((c) => c.end('{"netlab":"responder","name":"up"}\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      // The server listens on 127.0.0.1 only, so 127.0.0.2 is refused: the order of the answers shows.
      const r = await execa('node', [
        AGENT,
        'probe',
        '--proto',
        'tcp',
        '--port',
        String(port),
        '--timeout',
        '2000',
        '--to',
        '127.0.0.1',
        '--to',
        '127.0.0.2',
        '--to',
        '127.0.0.1',
      ]);
      const answer = JSON.parse(r.stdout) as { targets: { ok: boolean; name?: string }[][] };
      expect(answer.targets.map((t) => t.map((p) => p.ok))).toEqual([[true], [false], [true]]);
      expect(answer.targets[0]![0]!.name).toBe('up');
      const refused = await execa('node', [AGENT, 'probe', '--proto', 'tcp', '--port', '1', '--to', '127.0.0.1', '--to', '127.0.0.1']);
      expect((JSON.parse(refused.stdout) as { targets: { ok: boolean }[][] }).targets).toEqual([
        [{ ok: false, error: 'ECONNREFUSED' }],
        [{ ok: false, error: 'ECONNREFUSED' }],
      ]);
    } finally {
      server.close();
    }
  });

  it('refuses --hold with several targets', async () => {
    const r = await execa(
      'node',
      [AGENT, 'probe', '--proto', 'tcp', '--port', '1', '--hold', '1', '--to', '127.0.0.1', '--to', '127.0.0.2'],
      {
        reject: false,
      },
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('--hold takes one --to');
  });

  it('with --retry-silent, a connection that brought nothing is made once more', { timeout: 30_000 }, async () => {
    // The first connection is closed at once, the next ones answered: as a reset under load looks.
    let seen = 0;
    const server = createServer((c) => (seen++ === 0 ? c.destroy() : c.end('{"netlab":"responder","name":"up"}\n')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = String((server.address() as AddressInfo).port);
    const probe = (...extra: string[]) =>
      execa('node', [AGENT, 'probe', '--proto', 'tcp', '--to', '127.0.0.1', '--port', port, '--count', '2', ...extra]).then((r) =>
        (JSON.parse(r.stdout) as { results: { ok: boolean; name: string | null }[] }).results.map((p) => p.name),
      );
    try {
      expect(await probe('--retry-silent', '1')).toEqual(['up', 'up']);
      seen = 0;
      expect(await probe()).toEqual([null, 'up']);
    } finally {
      server.close();
    }
  });
});
