// The hidden `netlab machine` commands a coordinator runs over ssh: the slice on stdin is
// input like any lab file, checked before anything is observed or changed, and every answer
// (errors too) is one JSON object the coordinator can report from.
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { frame } from '../../src/machines/frame.js';

const NETLAB = join(import.meta.dirname, '../../dist/cli/netlab.js');
const STATE = mkdtempSync(join(tmpdir(), 'netlab-machine-state-'));
afterAll(() => rmSync(STATE, { recursive: true, force: true }));

/** Runs `netlab machine ARGS`; a slice goes framed, as the coordinator sends it, unless `raw`. */
async function machine(args: string[], input: string, raw = false) {
  const r = await execa('node', [NETLAB, 'machine', ...args], {
    reject: false,
    input: raw || input === '' ? input : frame(input),
    env: { NO_COLOR: '1', NETLAB_STATE_DIR: STATE, NETLAB_SERVE: '0' },
  });
  const lines = r.stdout.trim().split('\n');
  return { code: r.exitCode, answer: JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>, stderr: r.stderr };
}

describe('netlab machine', () => {
  it('refuses a slice with a lab error, file:line:col included', async () => {
    for (const cmd of ['plan', 'apply']) {
      const r = await machine([cmd], 'name: s1\nhosts:\n  a:\n    interfaces:\n      eth0: { addresses: [10.0.0.300/24] }\n');
      expect(r.code, cmd).toBe(1);
      expect(r.answer.ok).toBe(false);
      const issues = r.answer.issues as { file: string; line: number; col: number; message: string }[];
      expect(issues[0]).toMatchObject({ file: '<slice on stdin>', line: 5 });
      expect(issues[0]!.message).toMatch(/10\.0\.0\.300/);
    }
  });

  it('refuses a slice that has machines of its own, and bytes that are not text', async () => {
    const r = await machine(['plan'], 'name: s1\nmachines:\n  m1: local\nhosts:\n  a: {}\n');
    expect(r.code).toBe(1);
    expect(r.answer.message).toMatch(/cannot have machines/);
    const bin = await machine(['plan'], 'name: s1\n\u0000\u0001hosts: {}\n');
    expect(bin.code).toBe(1);
    expect(bin.answer.ok).toBe(false);
  });

  it('refuses a slice that is not framed, or ends before its length, before reading it as a lab', async () => {
    const unframed = await machine(['plan'], 'name: s1\nhosts:\n  a: {}\n', true);
    expect(unframed.code).toBe(1);
    expect(unframed.answer.message).toMatch(/must start with a line giving the length of the slice/);
    const short = await machine(['plan'], '100\nname: s1\n', true);
    expect(short.code).toBe(1);
    expect(short.answer.message).toMatch(/stdin ended before the whole slice came/);
    const big = await machine(['plan'], '99999999999\n', true);
    expect(big.answer.ok).toBe(false);
  });

  it('refuses a lab name that is not a lab name', async () => {
    for (const [cmd, flag] of [
      ['commit', '--lab'],
      ['rollback', '--lab'],
      ['destroy', '--lab'],
      ['plan', '--remove'],
      ['apply', '--remove'],
    ] as const) {
      const r = await machine([cmd, flag, '../etc'], '');
      expect(r.code, cmd).toBe(1);
      expect(r.answer.ok).toBe(false);
      expect(String(r.answer.message)).toMatch(/lab/);
    }
  });

  it('answers a probe with its version, and refuses a --to that is not an address', async () => {
    const r = await machine(['probe', '--to', '1.2.3.4;id'], '');
    expect(r.code).toBe(1);
    expect(r.answer.message).toMatch(/not an IP address/);
    const ok = await machine(['probe'], '');
    expect(ok.answer).toMatchObject({ ok: true, version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });
});
