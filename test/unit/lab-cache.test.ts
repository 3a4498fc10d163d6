// The cache of checked labs (src/lab/cache.ts): an unchanged file is taken from it, any change
// to the text or the file name is checked from scratch, bad labs are never kept, and a damaged
// entry is ignored.
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheKey, storeLab } from '../../src/lab/cache.js';
import { loadLabs, loadLabText } from '../../src/lab/index.js';
import { starLabYaml } from '../../src/cli/gen.js';
import type { Lab } from '../../src/lab/types.js';

const LAB = `name: cache\nhosts:\n  a:\n    interfaces:\n      eth0: { addresses: [10.0.0.1/24] }\n  b:\n    interfaces:\n      eth0: { addresses: [10.0.0.2/24] }\nlinks:\n  - { a: a:eth0, b: b:eth0 }\n`;

let dir = '';
let cacheDir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'netlab-cache-'));
  cacheDir = join(dir, 'cache');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const entries = () => readdirSync(cacheDir).filter((n) => n.endsWith('.json'));

describe('spec cache', () => {
  it('takes an unchanged file from the cache, and checks a changed one from scratch', async () => {
    const file = join(dir, 'lab.yaml');
    writeFileSync(file, LAB);
    const first = await loadLabs([file], { cacheDir });
    expect(first.issues).toEqual([]);
    expect(entries()).toHaveLength(1);
    // Proof that the entry is what the next load returns: alter it, and the alteration comes back.
    const entry = join(cacheDir, entries()[0]!);
    const kept = JSON.parse(readFileSync(entry, 'utf8')) as Lab;
    expect(kept).toEqual(first.labs[0]);
    writeFileSync(entry, JSON.stringify({ ...kept, name: 'from-cache' }));
    expect((await loadLabs([file], { cacheDir })).labs[0]!.name).toBe('from-cache');
    // One character changed in the file: a new key, checked again.
    writeFileSync(file, LAB.replace('10.0.0.2/24', '10.0.0.3/24'));
    const changed = await loadLabs([file], { cacheDir });
    expect(changed.labs[0]!.name).toBe('cache');
    expect(changed.labs[0]!.hosts.find((h) => h.name === 'b')!.interfaces[0]!.addresses).toEqual(['10.0.0.3/24']);
    expect(entries()).toHaveLength(2);
  });

  it('keys on the file name as given (positions in messages name it) as well as the text', () => {
    expect(cacheKey('a.yaml', LAB)).not.toBe(cacheKey('./a.yaml', LAB));
    expect(cacheKey('a.yaml', LAB)).not.toBe(cacheKey('a.yaml', `${LAB}\n`));
    expect(cacheKey('a.yaml', LAB)).toBe(cacheKey('a.yaml', LAB));
  });

  it('never keeps a lab with issues, and reports them every time', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, LAB.replace('a:eth0, b: b:eth0', 'a:eth0, b: c:eth0'));
    for (let i = 0; i < 2; i++) {
      const r = await loadLabs([file], { cacheDir });
      expect(r.labs).toEqual([]);
      expect(r.issues.length).toBeGreaterThan(0);
    }
    expect(readdirSync(dir)).not.toContain('cache');
  });

  it('ignores a damaged entry and an unwritable cache directory', async () => {
    const file = join(dir, 'lab.yaml');
    writeFileSync(file, LAB);
    await loadLabs([file], { cacheDir });
    writeFileSync(join(cacheDir, entries()[0]!), '{"truncated');
    expect((await loadLabs([file], { cacheDir })).labs[0]!.name).toBe('cache');
    const blocked = join(dir, 'not-a-dir');
    writeFileSync(blocked, '');
    const r = await loadLabs([file], { cacheDir: join(blocked, 'cache') });
    expect(r.issues).toEqual([]);
    expect(r.labs[0]!.name).toBe('cache');
  });

  it('never follows a symlink planted in the cache directory, reading or writing', async () => {
    const file = join(dir, 'lab.yaml');
    writeFileSync(file, LAB);
    const checked = (await loadLabs([file])).labs[0]!;
    await storeLab(cacheDir, 'seed', checked);
    const key = cacheKey(file, LAB);
    // Read: an entry that is a symlink to a lab written elsewhere is not taken as checked.
    const planted = join(dir, 'planted.json');
    writeFileSync(planted, JSON.stringify({ ...checked, name: 'planted' }));
    symlinkSync(planted, join(cacheDir, `${key}.json`));
    const r = await loadLabs([file], { cacheDir });
    expect(r.checked).toEqual({ cached: 0, parsed: 1 });
    expect(r.labs[0]!.name).toBe('cache');
    // Write: neither the entry's name nor a temporary name next to it writes through a link.
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'untouched');
    rmSync(join(cacheDir, `${key}.json`));
    symlinkSync(victim, join(cacheDir, `${key}.json`));
    symlinkSync(victim, join(cacheDir, `.${key}.json.${process.pid}.tmp`));
    await storeLab(cacheDir, key, checked);
    expect(readFileSync(victim, 'utf8')).toBe('untouched');
    expect(lstatSync(join(cacheDir, `${key}.json`)).isFile()).toBe(true);
    expect((await loadLabs([file], { cacheDir })).checked).toEqual({ cached: 1, parsed: 0 });
  });

  it('keeps at most 64 entries, removing the oldest', async () => {
    const lab = (await loadLabs([(writeFileSync(join(dir, 'l.yaml'), LAB), join(dir, 'l.yaml'))])).labs[0]!;
    for (let i = 0; i < 64; i++) {
      await storeLab(cacheDir, `k${i}`, lab);
      utimesSync(join(cacheDir, `k${i}.json`), 1000 + i, 1000 + i);
    }
    await storeLab(cacheDir, 'newest', lab);
    expect(entries()).toHaveLength(64);
    expect(entries()).not.toContain('k0.json');
    expect(entries()).toContain('k1.json');
    expect(entries()).toContain('newest.json');
  });

  it('keeps at most 16 MB of entries, however few: the newest always, unless it alone is over', async () => {
    const big = (kb: number) => ({ name: 'x'.repeat(kb * 1024) }) as unknown as Lab;
    for (let i = 0; i < 6; i++) {
      await storeLab(cacheDir, `m${i}`, big(3 * 1024));
      utimesSync(join(cacheDir, `m${i}.json`), 1000 + i, 1000 + i);
    }
    for (let i = 0; i < 3; i++) {
      await storeLab(cacheDir, `s${i}`, big(1));
      utimesSync(join(cacheDir, `s${i}.json`), 2000 + i, 2000 + i);
    }
    // 9 entries, 18 MB: the oldest 3 MB one goes.
    expect(entries().sort()).toEqual(['m1.json', 'm2.json', 'm3.json', 'm4.json', 'm5.json', 's0.json', 's1.json', 's2.json']);
    // A newest entry near the budget is kept, and pushes out the older big ones.
    await storeLab(cacheDir, 'big', big(15 * 1024));
    expect(entries().sort()).toEqual(['big.json', 's0.json', 's1.json', 's2.json']);
    // One entry over the whole budget is not kept: it would push out every other lab for itself.
    await storeLab(cacheDir, 'huge', big(17 * 1024));
    expect(entries().sort()).toEqual(['big.json', 's0.json', 's1.json', 's2.json']);
  });

  it('keeps labs exactly: every normalised lab is plain JSON (no undefined members, no special numbers)', () => {
    const texts = [
      ...['labs', 'test/fixtures/good'].flatMap((d) =>
        readdirSync(d)
          .filter((n) => n.endsWith('.yaml'))
          .map((n) => ({ file: join(d, n), text: readFileSync(join(d, n), 'utf8') })),
      ),
      { file: 'star.yaml', text: starLabYaml({ name: 'star', hosts: 20, dnat: 5, backends: 3 }) },
    ];
    expect(texts.length).toBeGreaterThan(15);
    for (const { file, text } of texts) {
      const { lab, issues } = loadLabText(file, text);
      expect(issues, file).toEqual([]);
      expect(JSON.parse(JSON.stringify(lab)), file).toStrictEqual(lab);
    }
  });
});
