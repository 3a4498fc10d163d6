// The differential fuzzer of re-checking edits (test/tools/recheck-fuzz.mjs), on the built spec
// layer: 600 adversarial edits and the edits chained after them, each equal to a full check. Two
// seeds, so a change meets edits it has not been tuned against. (The fuzzer found the edge cases
// in recheck.ts's history: lines before an entry's key, the line break after a piece.)
import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const FUZZ = join(import.meta.dirname, '../tools/recheck-fuzz.mjs');

describe('re-checking edits, fuzzed', () => {
  for (const seed of [1, 2]) {
    it(`matches the full check on 300 adversarial edits (seed ${seed})`, { timeout: 60_000 }, async () => {
      const r = await execa('node', [FUZZ, '300', String(seed)], { reject: false });
      const stats = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
      expect(r.stderr, 'the failing edits (OUT=fails.json keeps them)').toBe('');
      expect(stats).toMatchObject({ fail: 0, threw: 0, memDrift: 0 });
      // Both ways are exercised.
      expect(stats.splice).toBeGreaterThan(50);
      expect(stats.parse).toBeGreaterThan(50);
      expect(r.exitCode).toBe(0);
    });
  }
});
