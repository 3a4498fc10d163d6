// Every example lab shipped in labs/ must validate cleanly, alone and together.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatLabIssue } from '../../src/errors.js';
import { loadLabs } from '../../src/lab/index.js';

const files = readdirSync('labs')
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => `labs/${f}`);

describe('labs/', () => {
  it('has example labs', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    it(`${file} validates with zero issues`, async () => {
      const { labs, issues } = await loadLabs([file]);
      expect(issues.map(formatLabIssue)).toEqual([]);
      expect(labs).toHaveLength(1);
    });
  }

  it('all of them validate together', async () => {
    const { labs, issues } = await loadLabs(files);
    expect(issues.map(formatLabIssue)).toEqual([]);
    expect(labs).toHaveLength(files.length);
  });
});
