// `netlab capture` on the real kernel, inside the sandbox: tcpdump in a lab host's namespace,
// to a file with a count, ended by SIGINT, and as a pcap stream on stdout.
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFile, netlab, NETLAB } from './cli.js';
import { inNs, sandboxSkipReason, sh } from './sandbox.js';

const LAB = [
  'name: cap',
  'hosts:',
  '  a:',
  '    interfaces:',
  '      eth0: { addresses: [10.64.0.1/24] }',
  '  b:',
  '    interfaces:',
  '      eth0: { addresses: [10.64.0.2/24] }',
  'links:',
  '  - { a: a:eth0, b: b:eth0 }',
  '',
].join('\n');

/**
 * Starts `netlab capture ...` and resolves once tcpdump listens (it says so on stderr). The process
 * comes back wrapped: an async function returning the (thenable) process would wait for its end.
 */
async function startCapture(args: string[], stdout: 'pipe' | 'buffer' = 'pipe'): Promise<{ proc: ResultPromise }> {
  const p = execa('node', [NETLAB, 'capture', ...args], {
    reject: false,
    env: { NO_COLOR: '1' },
    stdin: 'ignore',
    ...(stdout === 'buffer' ? { encoding: 'buffer' as const } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('tcpdump did not start listening')), 15_000);
    let seen = '';
    p.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes('listening on')) {
        clearTimeout(t);
        resolve();
      }
    });
    void p.then((r) => reject(new Error(`capture exited early: ${String(r.stderr)}`)));
  });
  return { proc: p };
}

/** `tcpdump -r FILE` lines. */
async function readPcap(file: string): Promise<string[]> {
  const r = await sh('tcpdump', ['-r', file, '-n']);
  return r.stdout.split('\n').filter(Boolean);
}

describe.skipIf(sandboxSkipReason !== null)('netlab capture on the real kernel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-capture-'));
  const file = labFile('cap', LAB);
  beforeAll(async () => {
    const r = await netlab(['apply', file]);
    expect(r.code, r.all).toBe(0);
  });
  afterAll(async () => {
    await netlab(['destroy', file]);
  });

  it('a ping between two hosts, captured to a file with -c, reads back with tcpdump -r', async () => {
    const pcap = join(dir, 'ping.pcap');
    const { proc: cap } = await startCapture(['cap', 'a:eth0', '-w', pcap, '-c', '4', '--', 'icmp']);
    await inNs('cap-a', 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.64.0.2']);
    const r = await cap;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toContain('cap: 4 packets captured on a:eth0 (cap-a/eth0) to');
    const lines = await readPcap(pcap);
    expect(lines.filter((l) => /10\.64\.0\.1 > 10\.64\.0\.2: ICMP echo request/.test(l))).toHaveLength(2);
    expect(lines.filter((l) => /10\.64\.0\.2 > 10\.64\.0\.1: ICMP echo reply/.test(l))).toHaveLength(2);
    expect(lines).toHaveLength(4);
  });

  it('SIGINT ends a capture cleanly, writes what it saw and reports the count', async () => {
    const pcap = join(dir, 'sigint.pcap');
    const { proc: cap } = await startCapture(['cap', 'b:eth0', '-w', pcap, '--', 'icmp']);
    await inNs('cap-a', 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.64.0.2']);
    cap.kill('SIGINT');
    const r = await cap;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toMatch(/cap: 6 packets captured on b:eth0 \(cap-b\/eth0\)/);
    expect(await readPcap(pcap)).toHaveLength(6);
  });

  it('stdout that is not a terminal gets a pcap stream (for wireshark -k -i -)', async () => {
    const { proc: cap } = await startCapture(['cap', 'b:eth0', '-c', '2', '--', 'icmp'], 'buffer');
    await inNs('cap-a', 'ping', ['-c', '1', '-W', '2', '10.64.0.2']);
    const r = await cap;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const stream = r.stdout as unknown as Uint8Array;
    // pcap's magic number, as tcpdump writes it on little-endian machines.
    expect(Buffer.from(stream).subarray(0, 4).toString('hex')).toMatch(/^(d4c3b2a1|a1b2c3d4)$/);
    const pcap = join(dir, 'stream.pcap');
    writeFileSync(pcap, stream);
    const lines = await readPcap(pcap);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('ICMP echo request');
    expect(lines[1]).toContain('ICMP echo reply');
  });

  it('names what exists when the endpoint does not', async () => {
    const r = await netlab(['capture', 'cap', 'a:eth9', '-c', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('host "a" of lab "cap" has no interface "eth9" (did you mean "eth0"?)');
  });
});
