// Link conditions on the real kernel, inside the sandbox: a rate limit measured with a TCP
// transfer, changed in place (one step, same veth), drift from `netlab link` reverted by apply,
// conditions removed, destroy in created and shared namespaces, and preflight refusing netem
// where the kernel has none.
import { execa } from 'execa';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { RawQdisc } from '../../src/model/qdisc.js';
import { labFile, netlab } from './cli.js';
import { inNs, sandboxSkipReason, sh } from './sandbox.js';

const THROUGHPUT = fileURLToPath(new URL('./tools/throughput.mjs', import.meta.url));

async function netnsList(): Promise<string[]> {
  const r = await sh('ip', ['-j', 'netns', 'list']);
  return (JSON.parse(r.stdout || '[]') as { name: string }[]).map((n) => n.name).sort();
}

async function qdiscs(ns: string): Promise<RawQdisc[]> {
  const r = await sh('tc', [...(ns ? ['-n', ns] : []), '-raw', '-j', 'qdisc', 'show']);
  return JSON.parse(r.stdout || '[]') as RawQdisc[];
}

async function rootQdisc(ns: string, dev: string): Promise<RawQdisc | undefined> {
  return (await qdiscs(ns)).find((q) => q.dev === dev && q.root);
}

/** Bits per second of a TCP transfer of `bytes` from `from` to `toAddr` (a receiver in `toNs`). */
async function measure(from: string, toNs: string, toAddr: string, bytes: number): Promise<number> {
  const receiver = execa('ip', ['netns', 'exec', toNs, process.execPath, THROUGHPUT, 'receive', '--port', '5201', '--timeout', '30'], {
    reject: false,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('receiver did not start')), 10_000);
      receiver.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    await inNs(from, process.execPath, [THROUGHPUT, 'send', '--to', `${toAddr}:5201`, '--bytes', String(bytes), '--timeout', '30']);
    const r = await receiver;
    expect(r.exitCode, r.stderr).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'))!;
    const result = JSON.parse(line) as { bytes: number; seconds: number; bitsPerSecond: number };
    expect(result.bytes).toBe(bytes);
    return result.bitsPerSecond;
  } finally {
    if (receiver.exitCode === null) receiver.kill('SIGTERM');
    await receiver;
  }
}

type PlanDoc = { labs: { steps: { op: string; objects: string[]; reason: string }[] }[] };

function rateLab(rate: string | null): string {
  const conditions = rate ? `, conditions: { rate: ${rate} }` : '';
  return [
    'name: cond',
    'hosts:',
    '  a:',
    '    interfaces:',
    `      eth0: { addresses: [10.60.0.1/24]${conditions} }`,
    '  b:',
    '    interfaces:',
    '      eth0: { addresses: [10.60.0.2/24] }',
    'links:',
    '  - { a: a:eth0, b: b:eth0 }',
    '',
  ].join('\n');
}

const measured: string[] = [];
afterAll(() => {
  if (measured.length) console.log(`rate limits measured with TCP:\n  ${measured.join('\n  ')}`);
});

describe.skipIf(sandboxSkipReason !== null)('link conditions on the real kernel', () => {
  it('a 10mbit rate limit lands within 20%; 20mbit is one in-place step; netlab link drift is reverted; destroy leaves no qdisc', async () => {
    const file = labFile('cond', rateLab('10mbit'));
    const first = await netlab(['apply', file]);
    expect(first.code, first.all).toBe(0);
    const tbf = await rootQdisc('cond-a', 'eth0');
    expect(tbf).toMatchObject({ kind: 'tbf', handle: '1:', options: { rate: 1_250_000 } });
    // Re-apply is 0 steps: the units tc prints back (bytes/s, a burst recomputed from time) normalise to the lab's.
    const again = await netlab(['plan', file]);
    expect(again.code, again.all).toBe(0);

    const bps10 = await measure('cond-a', 'cond-b', '10.60.0.2', 3 * 1024 * 1024);
    measured.push(`10mbit: ${(bps10 / 1e6).toFixed(2)} Mbit/s of TCP payload`);
    expect(bps10).toBeGreaterThan(8e6);
    expect(bps10).toBeLessThan(12e6);

    const ifindex = (await inNs('cond-a', 'cat', ['/sys/class/net/eth0/ifindex'])).stdout;
    writeFileSync(file, rateLab('20mbit'));
    const planned = await netlab(['plan', '--json', file]);
    expect(planned.code, planned.all).toBe(2);
    const steps = (JSON.parse(planned.stdout) as PlanDoc).labs[0]!.steps;
    expect(steps).toEqual([expect.objectContaining({ op: 'modify', objects: ['qdisc:cond-a/eth0'] })]);
    expect(steps[0]!.reason).toContain('rate: 10mbit -> 20mbit');
    const changed = await netlab(['apply', file]);
    expect(changed.code, changed.all).toBe(0);
    expect(changed.stdout).toContain('applied 1 step (');
    expect((await inNs('cond-a', 'cat', ['/sys/class/net/eth0/ifindex'])).stdout).toBe(ifindex);
    expect(await rootQdisc('cond-a', 'eth0')).toMatchObject({ kind: 'tbf', handle: '1:', options: { rate: 2_500_000 } });
    const bps20 = await measure('cond-a', 'cond-b', '10.60.0.2', 6 * 1024 * 1024);
    measured.push(`20mbit: ${(bps20 / 1e6).toFixed(2)} Mbit/s of TCP payload`);
    expect(bps20).toBeGreaterThan(16e6);
    expect(bps20).toBeLessThan(24e6);

    // A runtime override: made directly, shown as drift, reverted by the next apply.
    const override = await netlab(['link', 'cond', 'a:eth0', '--rate', '5mbit']);
    expect(override.code, override.all).toBe(0);
    expect(override.all).toMatch(/runtime override.*next `netlab apply` reverts it/);
    expect(await rootQdisc('cond-a', 'eth0')).toMatchObject({ options: { rate: 625_000 } });
    const down = await netlab(['link', 'cond', 'b:eth0', 'down']);
    expect(down.code, down.all).toBe(0);
    const drift = await netlab(['status', '--lab', 'cond']);
    expect(drift.code, drift.all).toBe(2);
    expect(drift.stdout).toContain('differs: conditions on cond-a/eth0: rate: 5mbit -> 20mbit');
    expect(drift.stdout).toContain('differs: veth cond-b/eth0: up: false -> true');
    expect((await netlab(['plan', file])).code).toBe(2);
    const revert = await netlab(['apply', file]);
    expect(revert.code, revert.all).toBe(0);
    expect(revert.stdout).toContain('applied 2 steps');
    expect(await rootQdisc('cond-a', 'eth0')).toMatchObject({ options: { rate: 2_500_000 } });
    expect((await netlab(['status', '--lab', 'cond'])).code).toBe(0);

    // Dropping the conditions from the lab is one delete step: the veth's default qdisc comes back.
    writeFileSync(file, rateLab(null));
    const removed = await netlab(['apply', file]);
    expect(removed.code, removed.all).toBe(0);
    expect(removed.stdout).toContain('applied 1 step (0 to create, 0 to change, 1 to delete)');
    expect((await rootQdisc('cond-a', 'eth0'))?.kind).toBe('noqueue');
    expect((await inNs('cond-a', 'cat', ['/sys/class/net/eth0/ifindex'])).stdout).toBe(ifindex);

    writeFileSync(file, rateLab('10mbit'));
    expect((await netlab(['apply', file])).code).toBe(0);
    const gone = await netlab(['destroy', file]);
    expect(gone.code, gone.all).toBe(0);
    expect((await netnsList()).filter((n) => n.startsWith('cond-'))).toEqual([]);
    expect((await qdiscs('')).filter((q) => ['tbf', 'netem', 'pfifo'].includes(q.kind))).toEqual([]);
  });

  it('in a shared namespace: conditions on the lab interface only, removed by destroy', async () => {
    await sh('ip', ['netns', 'add', 'condext']);
    try {
      // A foreign interface in the shared namespace keeps its own qdisc throughout.
      await sh('ip', ['-n', 'condext', 'link', 'add', 'name', 'mine0', 'type', 'veth', 'peer', 'name', 'mine1']);
      await sh('tc', ['-n', 'condext', 'qdisc', 'add', 'dev', 'mine0', 'root', 'tbf', 'rate', '1mbit', 'burst', '16kb', 'limit', '30000']);
      const file = labFile(
        'conx',
        [
          'name: conx',
          'hosts:',
          '  a:',
          '    interfaces:',
          '      eth0: { addresses: [10.62.0.1/24] }',
          '  ext:',
          '    netns: { name: condext }',
          '    interfaces:',
          '      eth0: { addresses: [10.62.0.2/24] }',
          'links:',
          '  - { a: a:eth0, b: ext:eth0, conditions: { rate: 50mbit, burst: 64kb, limit: 200 } }',
          '',
        ].join('\n'),
      );
      const r = await netlab(['apply', file]);
      expect(r.code, r.all).toBe(0);
      const ext = await qdiscs('condext');
      const lab = ext.filter((q) => q.dev?.startsWith('nl'));
      expect(lab.map((q) => q.kind).sort()).toEqual(['pfifo', 'tbf']);
      expect(lab.find((q) => q.kind === 'pfifo')?.options).toMatchObject({ limit: 200 });
      expect((await rootQdisc('conx-a', 'eth0'))?.kind).toBe('tbf');
      expect((await netlab(['plan', file])).code).toBe(0);

      const gone = await netlab(['destroy', file]);
      expect(gone.code, gone.all).toBe(0);
      const after = await qdiscs('condext');
      expect(after.filter((q) => q.dev?.startsWith('nl'))).toEqual([]);
      expect(after.find((q) => q.dev === 'mine0')).toMatchObject({ kind: 'tbf', options: { rate: 125_000 } });
      expect(existsSync('/run/netlab/conx')).toBe(false);
    } finally {
      await sh('ip', ['netns', 'del', 'condext'], { reject: false });
    }
  });

  it('preflight refuses a lab that needs netem on a kernel without it, before anything changes', async () => {
    // Whether this kernel has netem, asked the same way preflight does, in a throwaway namespace.
    const probe = await execa(
      'unshare',
      ['--net', 'sh', '-c', 'ip link add name p0 type veth peer name p1 && tc qdisc add dev p0 root netem delay 1ms'],
      { reject: false },
    );
    const file = labFile(
      'nem',
      [
        'name: nem',
        'hosts:',
        '  a:',
        '    interfaces:',
        '      eth0: { addresses: [10.63.0.1/24], conditions: { delay: 50ms, loss: 20% } }',
        '  b:',
        '    interfaces:',
        '      eth0: { addresses: [10.63.0.2/24] }',
        'links:',
        '  - { a: a:eth0, b: b:eth0, conditions: { rate: 10mbit } }',
        '',
      ].join('\n'),
    );
    const before = await netnsList();
    const r = await netlab(['apply', file]);
    if (probe.exitCode === 0) {
      // A kernel with netem (not this one as the design notes describe it): the lab simply applies.
      expect(r.code, r.all).toBe(0);
      expect((await netlab(['destroy', file])).code).toBe(0);
      return;
    }
    expect(probe.stderr).toContain('Specified qdisc kind is unknown');
    expect(r.code, r.all).toBe(1);
    expect(r.stderr).toMatch(
      /netem: not supported by this kernel \(tc qdisc add netem: Error: Specified qdisc kind is unknown\.\); needed by a:eth0 \(delay, loss\)/,
    );
    expect(r.stderr).toContain('modprobe sch_netem');
    // One message, for netem only: the rate on the same lab needs tbf, which this kernel has.
    expect(r.stderr).not.toMatch(/^error: tbf/m);
    expect(r.stderr.match(/^error: /gm)).toHaveLength(1);
    expect(await netnsList()).toEqual(before);
    expect(existsSync('/run/netlab/nem/state.json')).toBe(false);
  });
});
