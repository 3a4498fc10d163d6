// What the README, docs/ and the example labs promise about themselves: every lab has assertions
// and (but the scale lab) a catalogue page, the lab files point at their own test, the docs never
// tell users to kill by name pattern, and the NAT fields the schema has are explained in prose.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLabs } from '../../src/spec/index.js';

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
