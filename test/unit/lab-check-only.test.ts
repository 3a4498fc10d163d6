// `netlab validate` of one lab stops after the rules (checkLabs): it must report exactly what
// loading the lab reports, on every kind of bad input, and name the same valid labs.
import { readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { starLabYaml } from '../../src/cli/gen.js';
import { checkLabs, loadLabs } from '../../src/lab/load.js';

const inDir = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => join(dir, f));
const work = mkdtempSync(join(tmpdir(), 'netlab-check-only-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const star = join(work, 'star.yaml');
writeFileSync(star, starLabYaml({ name: 'star', hosts: 2000 }));

async function bothWays(files: string[]) {
  const loaded = await loadLabs(files);
  return {
    checked: await checkLabs(files),
    loaded: { labs: loaded.labs.map((l) => ({ name: l.name, file: l.file, hosts: l.hosts.length })), issues: loaded.issues },
  };
}

describe('checking a lab without its model', () => {
  const files = [...inDir('test/fixtures/bad'), ...inDir('test/fixtures/good'), ...inDir('labs'), star, join(work, 'missing.yaml')];

  it.each(files)('%s: the same issues and labs as loading it', async (file) => {
    const { checked, loaded } = await bothWays([file]);
    expect(checked).toEqual(loaded);
  });

  it('finds issues in the bad fixtures and none in the good ones (so the comparison is not of empties)', async () => {
    for (const f of inDir('test/fixtures/bad')) expect((await checkLabs([f])).issues.length, f).toBeGreaterThan(0);
    for (const f of inDir('test/fixtures/good')) expect((await checkLabs([f])).labs, f).toHaveLength(1);
  });

  it('several labs are still checked against each other', async () => {
    const { checked, loaded } = await bothWays(inDir('test/fixtures/across'));
    expect(checked.issues.length).toBeGreaterThan(0);
    expect(checked).toEqual(loaded);
  });
});
