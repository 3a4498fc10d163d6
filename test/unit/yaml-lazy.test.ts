// The full YAML parser is loaded only for a file the fast reader leaves to it: a plain lab is
// checked without it. Run in a fresh node process on the build, where nothing else loaded it.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function yamlLoadedAfter(text: string): boolean {
  const script = `
    import { createRequire } from 'node:module';
    const { loadLabText } = await import('./dist/lab/check.js');
    const r = loadLabText('t.yaml', process.argv[1]);
    if (!r.lab && !r.issues.length) throw new Error('no result');
    const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/yaml/'));
    process.stdout.write(JSON.stringify({ loaded, issues: r.issues.length }));`;
  const out = execFileSync('node', ['--input-type=module', '-e', script, text], { encoding: 'utf8' });
  return (JSON.parse(out) as { loaded: boolean }).loaded;
}

describe('loading the full YAML parser', () => {
  it('leaves it unloaded for a plain lab', () => {
    expect(yamlLoadedAfter('name: t\nhosts:\n  a: {}\n')).toBe(false);
  });

  it('loads it for a file with an anchor, and for one with a syntax error', () => {
    expect(yamlLoadedAfter('name: t\nhosts:\n  a: &x {}\n  b: *x\n')).toBe(true);
    expect(yamlLoadedAfter('name: t\nhosts: [\n')).toBe(true);
  });
});
