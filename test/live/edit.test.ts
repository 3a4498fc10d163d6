// Applying an edited lab file on the real kernel, inside the sandbox: the edited file is checked
// whole and the lab observed while the file is checked (the early observation in
// src/apply/engine.ts). Whichever way each goes, the result is the kernel the
// file describes; the early observation's lock never outlives the run.
import { execa } from 'execa';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { labFile, netlab, starLab } from './cli.js';
import { inNs, sandboxSkipReason } from './sandbox.js';

const LAB = 'edit';
const file = labFile(LAB, starLab(LAB, 12));
const lockFile = `/run/netlab/${LAB}/lock`;

/** Applies with NETLAB_PROFILE and returns the exit code, output and the profile's counters. */
async function apply(extra: string[] = []) {
  const r = await netlab(['apply', '--yes', ...extra, file], { env: { NETLAB_PROFILE: '1' } });
  const line = /NETLAB_PROFILE (\{.*\})/.exec(r.stderr)?.[1];
  const counts = line ? (JSON.parse(line) as { counts: Record<string, number> }).counts : {};
  return { ...r, counts };
}

async function addressesOf(host: string): Promise<string[]> {
  const r = await inNs(`${LAB}-${host}`, 'ip', ['-j', '-4', 'addr', 'show', 'dev', 'eth0']);
  return (JSON.parse(r.stdout) as { addr_info: { local: string; prefixlen: number }[] }[])[0]!.addr_info.map(
    (a) => `${a.local}/${a.prefixlen}`,
  );
}

const edit = (from: string, to: string) => {
  const text = readFileSync(file, 'utf8');
  expect(text).toContain(from);
  writeFileSync(file, text.replace(from, to));
};

afterAll(async () => {
  await netlab(['destroy', '--yes', '--lab', LAB]);
});

describe.skipIf(sandboxSkipReason !== null)('applying an edited lab', () => {
  it('checks a one-host edit and plans it from the early observation', { timeout: 60_000 }, async () => {
    const first = await apply();
    expect(first.code, first.all).toBe(0);
    expect(first.counts['lab parsed']).toBe(1);
    edit('10.10.0.7/16', '10.10.3.7/16');
    const changed = await apply();
    expect(changed.code, changed.all).toBe(0);
    expect(changed.counts['lab parsed']).toBe(1);
    expect(changed.counts['early observation used']).toBe(1);
    expect(await addressesOf('h5')).toEqual(['10.10.3.7/16']);
    expect(existsSync(lockFile)).toBe(false);
    const again = await apply();
    expect(again.stdout).toContain('no changes');
    expect(again.counts['lab cached']).toBe(1);
  });

  it('observes again when the edited lab reaches beyond its record (a new host)', { timeout: 60_000 }, async () => {
    edit('  - { a: h1:eth0, b: hub:br0 }\n', '  - { a: h1:eth0, b: hub:br0 }\n  - { a: h13:eth0, b: hub:br0 }\n');
    edit('links:\n', '  h13:\n    interfaces:\n      eth0: { addresses: [10.10.5.13/16] }\nlinks:\n');
    const r = await apply();
    expect(r.code, r.all).toBe(0);
    expect(r.counts['early observation unused']).toBe(1);
    expect(await addressesOf('h13')).toEqual(['10.10.5.13/16']);
    expect((await apply()).stdout).toContain('no changes');
  });

  it('releases the lock when the edited file does not check, and reports a lock held by a live process', { timeout: 60_000 }, async () => {
    edit('10.10.5.13/16', '10.10.5.13/16 ]');
    const bad = await apply();
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/edit\.yaml:\d+:\d+/);
    expect(existsSync(lockFile)).toBe(false);
    edit('10.10.5.13/16 ]', '10.10.5.14/16');
    // Another netlab (any live process whose pid is in the lock) holds the lab: this run says
    // so and changes nothing, early observation or not.
    const holder = execa('sleep', ['30']);
    try {
      writeFileSync(lockFile, `${holder.pid}\n`);
      const busy = await apply();
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(/locked by another netlab process \(pid \d+\)/);
      expect(await addressesOf('h13')).toEqual(['10.10.5.13/16']);
    } finally {
      holder.kill();
      await holder.catch(() => undefined);
    }
    // A damaged record: the run says which file, and leaves no lock behind.
    const recordFile = `/run/netlab/${LAB}/state.json`;
    const record = readFileSync(recordFile, 'utf8');
    writeFileSync(recordFile, '{"damaged');
    const damaged = await apply();
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toContain('state.json');
    expect(existsSync(lockFile)).toBe(false);
    writeFileSync(recordFile, record);
    writeFileSync(lockFile, '999999999\n'); // a dead holder's lock is taken over
    const fixed = await apply();
    expect(fixed.code, fixed.all).toBe(0);
    expect(await addressesOf('h13')).toEqual(['10.10.5.14/16']);
    expect(existsSync(lockFile)).toBe(false);
  });
});
