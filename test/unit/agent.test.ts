// The helper `netlab test` runs in lab namespaces (src/assert/agent.ts), run here on the loopback
// of the test's own namespace: its answer reaches netlab through a pipe, whole, however long.
import { execa } from 'execa';
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
});
