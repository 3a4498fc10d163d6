// What the README, docs/ and the example labs promise about themselves: every lab has assertions
// and (but the scale lab) a catalogue page, the lab files point at their own test, the docs never
// tell users to kill by name pattern, and the NAT fields the schema has are explained in prose.
// The README's two commands, its example lab and every link between pages are checked too, and
// code comments in src/ state reasons, not timings (those belong in docs/performance.md).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLabs } from '../../src/lab/index.js';
// @ts-expect-error: a plain .mjs module of the bench, without types
import { replaceBetweenMarkers } from '../bench/docs-table.mjs';

const LABS = readdirSync('labs')
  .filter((f) => f.endsWith('.yaml'))
  .sort();

function markdown(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? markdown(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
  );
}
const DOCS = ['README.md', ...markdown('docs')];

describe('the example labs', () => {
  it.each(LABS)('%s has expect: assertions', async (file) => {
    const { labs, issues } = await loadLabs([`labs/${file}`]);
    expect(issues).toEqual([]);
    expect(labs[0]!.expect.length).toBeGreaterThan(0);
  });

  it.each(LABS)('%s names its own file where it says how it is checked', (file) => {
    const text = readFileSync(`labs/${file}`, 'utf8');
    for (const m of text.matchAll(/Checked by `netlab test ([^`]+)`/g)) expect(m[1]).toBe(`labs/${file}`);
  });

  it('each has a page in the catalogue (the scale lab excepted), linked from its index', () => {
    const index = readFileSync('docs/labs/README.md', 'utf8');
    for (const file of LABS.filter((f) => f !== 'scale.yaml')) expect(index).toContain(`](${file.replace(/\.yaml$/, '.md')})`);
  });
});

describe('the docs', () => {
  it('never tell users to stop processes by a name pattern (in a script it matches the script too)', () => {
    for (const file of DOCS) expect(readFileSync(file, 'utf8'), file).not.toMatch(/\b(pkill|killall)\b|pgrep[^\n|]*\|\s*xargs kill/);
  });

  it('use no internal issue numbers', () => {
    for (const file of DOCS) expect(readFileSync(file, 'utf8'), file).not.toMatch(/\bissue[- ]?#?\d+/i);
  });

  it("explain every field of masquerade, snat and publish in the lab language's NAT section", () => {
    const text = readFileSync('docs/lab-language.md', 'utf8');
    const section = text.slice(text.indexOf('## NAT'), text.indexOf('\n## ', text.indexOf('## NAT') + 1));
    const prose = section.replace(/```[\s\S]*?```/g, '');
    const defs = (JSON.parse(readFileSync('schemas/lab.schema.json', 'utf8')) as { $defs: Record<string, { properties: object }> }).$defs;
    for (const kind of ['masquerade', 'snat', 'publish'])
      for (const field of Object.keys(defs[kind]!.properties)) expect(prose, `${kind}.${field}`).toContain(`\`${field}\``);
  });
});

describe('the README', () => {
  const readme = readFileSync('README.md', 'utf8');
  const blocks = (lang: string) => [...readme.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);

  it('opens with the two commands: set up and apply an example lab, and the test command CI runs', () => {
    const [setup, test] = blocks('sh');
    expect(readme.indexOf('```sh')).toBeLessThan(readme.indexOf('\n## '));
    expect(setup).toBe(
      'apt-get update && apt-get install -y iproute2 nftables iputils-ping && npm ci && node dist/cli/netlab.js apply --yes labs/docker-bridge.yaml\n',
    );
    expect(existsSync('labs/docker-bridge.yaml')).toBe(true);
    expect(test).toBe('npm test\n');
    expect(readFileSync('.ci/run', 'utf8')).toMatch(/^npm test$/m);
  });

  it('shows an example lab that is valid, with the output of testing its assertions', async () => {
    const [yaml] = blocks('yaml');
    const dir = mkdtempSync(join(tmpdir(), 'netlab-readme-'));
    try {
      writeFileSync(join(dir, 'docker.yaml'), yaml!);
      const { labs, issues } = await loadLabs([join(dir, 'docker.yaml')]);
      expect(issues).toEqual([]);
      const output = /```\n(\$ netlab apply[\s\S]*?)```/.exec(readme)?.[1] ?? '';
      expect(output).toContain('$ netlab test docker.yaml');
      for (const a of labs[0]!.expect) expect(output).toContain(`ok   ${a.text}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the safety statement: a lab file runs commands as root', () => {
    expect(readme).toContain('**A lab file runs commands as root.**');
    expect(readme).toContain('](docs/security.md)');
  });
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

describe('links between the docs', () => {
  it.each(DOCS)('%s links only files and headings that exist', (file) => {
    const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [path, hash] = target!.split('#');
      const resolved = path ? join(dirname(file), path) : file;
      expect(existsSync(resolved), `${file}: ${target}`).toBe(true);
      if (hash && resolved.endsWith('.md')) {
        const headings = [...readFileSync(resolved, 'utf8').matchAll(/^#+ (.*)$/gm)].map((m) => anchor(m[1]!));
        expect(headings, `${file}: ${target}`).toContain(hash);
      }
    }
  });
});

describe('docs/performance.md', () => {
  it('has the markers npm run bench writes its table between, and the bench keeps the prose around them', () => {
    const page = readFileSync('docs/performance.md', 'utf8');
    const written = replaceBetweenMarkers(page, '| N | new |') as string;
    expect(written).toContain('| N | new |');
    expect(written).not.toContain('| 1000 |');
    expect(written.slice(0, written.indexOf('<!-- bench:begin'))).toBe(page.slice(0, page.indexOf('<!-- bench:begin')));
    expect(written.slice(written.indexOf('<!-- bench:end -->'))).toBe(page.slice(page.indexOf('<!-- bench:end -->')));
    expect(() => replaceBetweenMarkers('no markers', 'x')).toThrow(/markers/);
  });
});

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every comment line of a TypeScript file (`//` comments and the lines of block comments), with its line number. */
function comments(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let inBlock = false;
  text.split('\n').forEach((l, i) => {
    const t = l.trim();
    if (inBlock || t.startsWith('/*')) {
      out.push({ line: i + 1, text: l });
      inBlock = !l.includes('*/');
      return;
    }
    const m = /(?:^|[\s;,(){}])\/\/(.*)$/.exec(l);
    if (m) out.push({ line: i + 1, text: m[1]! });
  });
  return out;
}

/**
 * A measured timing or size: a duration in ms or µs, anything approximate (`~40`, `about 30 ms`),
 * or decimal megabytes. Quoted values (`latency 50ms`) are syntax, not measurements.
 */
const MEASUREMENT =
  /\b\d+(\.\d+)?\s?(ms|µs|us)\b|~\s?\d|\babout \d|\b\d+(\.\d+)?\s?(MB|GB|kB)\b|\btimes (faster|slower)\b|\b\d+(\.\d+)?x (faster|slower)\b/;

describe('code comments in src/', () => {
  it('state reasons, not timings (measured numbers go to docs/performance.md)', () => {
    const found = sources('src').flatMap((file) =>
      comments(readFileSync(file, 'utf8'))
        .filter((c) => MEASUREMENT.test(c.text.replace(/`[^`]*`/g, '')))
        .map((c) => `${file}:${c.line}: ${c.text.trim()}`),
    );
    expect(found).toEqual([]);
  });

  it('are found by that check, in // and block comments alike', () => {
    const sample = [
      'const a = 1; // takes ~40 ms to load',
      '/**',
      ' * costs 15 ms at N=500',
      ' */',
      "const url = 'http://x'; // `50ms` is syntax",
    ].join('\n');
    const hits = comments(sample).filter((c) => MEASUREMENT.test(c.text.replace(/`[^`]*`/g, '')));
    expect(hits.map((c) => c.line)).toEqual([1, 3]);
  });
});
