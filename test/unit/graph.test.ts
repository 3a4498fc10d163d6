// `netlab graph`: golden Mermaid and DOT output for the example labs and a lab with every device
// kind, the README's diagrams kept in sync, and SVG through Graphviz (or a clear message without it).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dotToSvg, graph, GRAPHVIZ_INSTALL } from '../../src/cli/graph.js';
import { UsageError } from '../../src/errors.js';
import { buildTopology, toDot, toMermaid } from '../../src/graph/topology.js';
import { loadLabs } from '../../src/lab/index.js';
import type { Lab } from '../../src/lab/types.js';

async function lab(file: string): Promise<Lab> {
  const { labs, issues } = await loadLabs([file]);
  expect(issues).toEqual([]);
  return labs[0]!;
}

const CASES = [
  ['labs/docker-bridge.yaml', 'docker-bridge'],
  ['labs/k8s-flat.yaml', 'k8s-flat'],
  ['test/fixtures/good/every-kind.yaml', 'every-kind'],
] as const;

describe('graph (golden)', () => {
  for (const [file, name] of CASES) {
    it(`${name}: mermaid and dot`, async () => {
      const t = buildTopology(await lab(file));
      await expect(toMermaid(t)).toMatchFileSnapshot(`golden/${name}.mmd`);
      await expect(toDot(t)).toMatchFileSnapshot(`golden/${name}.dot`);
    });
  }

  it('labels links with interface names and port VLANs, draws devices on another host dashed', async () => {
    const t = buildTopology(await lab('test/fixtures/good/every-kind.yaml'));
    expect(t.edges).toContainEqual(
      expect.objectContaining({ from: 'h_h1', to: 'b_sw_br0', kind: 'veth', label: 'eth0 — p1 (pvid 10; tagged 20,30)' }),
    );
    expect(t.edges).toContainEqual(expect.objectContaining({ from: 'h_sw', to: 'h_h1', kind: 'device', label: 'macvlan mv1 on trunk' }));
    expect(t.nodes.find((n) => n.id === 'b_sw_br0')!.lines).toEqual(['sw:br0 (bridge, vlan_filtering, stp)', '10.0.0.1/24']);
  });

  it('escapes quotes and markup in labels', () => {
    const t = {
      lab: 'x',
      file: 'x.yaml',
      nodes: [{ id: 'h_a', kind: 'host' as const, host: 'a', lines: ['a "quoted" <b>', 'b\\c'] }],
      edges: [],
    };
    expect(toMermaid(t)).toContain('h_a["a #quot;quoted#quot; #lt;b#gt;<br/>b\\c"]');
    expect(toDot(t)).toContain('"h_a" [label="a \\"quoted\\" <b>\\nb\\\\c"];');
  });
});

describe('the lab catalogue', () => {
  it('shows the current Mermaid diagrams of the example labs (regenerate with `netlab graph FILE`)', async () => {
    const catalogue = readFileSync('docs/labs/README.md', 'utf8');
    for (const file of ['labs/docker-bridge.yaml', 'labs/k8s-flat.yaml']) {
      const mermaid = toMermaid(buildTopology(await lab(file)));
      expect(catalogue, `docs/labs/README.md is missing the current diagram of ${file}`).toContain(`\`\`\`mermaid\n${mermaid}\`\`\``);
    }
  });
});

describe('docs/labs', () => {
  const pages = readdirSync('docs/labs').filter((f) => f.endsWith('.md') && f !== 'README.md');

  it('the catalogue links a page for each of its labs, and each page a lab file', () => {
    const index = readFileSync('docs/labs/README.md', 'utf8');
    const linked = [...index.matchAll(/\]\(([a-z0-9-]+)\.md\)/g)].map((m) => `${m[1]}.md`);
    expect(linked.length).toBeGreaterThan(0);
    for (const page of linked) expect(pages, `docs/labs/README.md links ${page}`).toContain(page);
    for (const page of pages) expect(existsSync(`labs/${page.replace(/\.md$/, '.yaml')}`), `docs/labs/${page} has no lab`).toBe(true);
  });

  for (const page of pages) {
    it(`${page}: its diagram is what \`netlab graph\` draws now`, async () => {
      const text = readFileSync(`docs/labs/${page}`, 'utf8');
      const blocks = [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]);
      if (blocks.length === 0) return; // a page that points at another lab's diagram
      const mermaid = toMermaid(buildTopology(await lab(`labs/${page.replace(/\.md$/, '.yaml')}`)));
      const drawn = mermaid.replace(/^%%.*\n/, '');
      expect(blocks, `docs/labs/${page} is missing the current diagram (netlab graph, without its %% line)`).toContain(drawn);
    });
  }
});

const hasDot = spawnSync('dot', ['-V']).status === 0;

describe('svg', () => {
  it.skipIf(!hasDot)('renders DOT to SVG with Graphviz', async () => {
    const svg = await dotToSvg(toDot(buildTopology(await lab('labs/docker-bridge.yaml'))));
    expect(svg).toContain('<svg');
    expect(svg).toContain('docker0');
  });

  it('without Graphviz says so and gives the install command', async () => {
    const err = await dotToSvg('graph x {}', 'netlab-no-such-dot').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toContain('needs Graphviz');
    expect((err as UsageError).hints.join('\n')).toContain(GRAPHVIZ_INSTALL);
    expect(GRAPHVIZ_INSTALL).toBe('apt-get install graphviz');
  });

  it('refuses a directory of several labs rather than draw its first', async () => {
    // A state directory of its own: the check's cache never touches the machine's.
    const state = mkdtempSync(join(tmpdir(), 'netlab-graph-state-'));
    process.env.NETLAB_STATE_DIR = state;
    const err = await graph('labs', { format: 'mermaid' })
      .catch((e: unknown) => e)
      .finally(() => {
        delete process.env.NETLAB_STATE_DIR;
        rmSync(state, { recursive: true, force: true });
      });
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/^labs holds \d+ labs: graph draws one lab file at a time$/);
  });

  it.skipIf(!hasDot)('the DOT output is valid Graphviz input for every example', async () => {
    for (const [file] of CASES) execFileSync('dot', ['-Tsvg', '-o', '/dev/null'], { input: toDot(buildTopology(await lab(file))) });
  });
});
