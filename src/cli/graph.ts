// `netlab graph FILE`: the lab's topology as Mermaid, Graphviz DOT, SVG (through Graphviz) or JSON.
import { writeFile } from 'node:fs/promises';
import { lazyExeca } from '../driver/exec.js';
import { UsageError } from '../errors.js';
import { buildTopology, toDot, toMermaid } from '../graph/topology.js';
import { loadValidLabs } from './labs.js';

export const GRAPHVIZ_INSTALL = 'apt-get install graphviz';

/** Runs `dot -Tsvg`; a missing Graphviz is a clear error with the install command. */
export async function dotToSvg(dot: string, dotCommand = 'dot'): Promise<string> {
  const execa = await lazyExeca();
  const r = await execa(dotCommand, ['-Tsvg'], { input: dot, reject: false });
  if ((r as { code?: string }).code === 'ENOENT' || (r.failed && r.exitCode === undefined)) {
    const err = new UsageError(`--format svg needs Graphviz, and "${dotCommand}" is not installed (not found on PATH)`);
    err.hints.push(`install it with: ${GRAPHVIZ_INSTALL}`, 'or use --format dot / --format mermaid, which need nothing');
    throw err;
  }
  if (r.exitCode !== 0) throw new UsageError(`dot -Tsvg failed: ${r.stderr.trim()}`);
  return r.stdout;
}

export interface GraphOptions {
  format: 'mermaid' | 'dot' | 'svg' | 'json';
  json?: boolean;
  out?: string;
}

export async function graph(file: string, o: GraphOptions): Promise<void> {
  const labs = await loadValidLabs([file]);
  const [lab] = labs;
  if (!lab) throw new UsageError(`no lab in ${file}`);
  // One drawing is one lab: a directory of several would silently draw its first.
  if (labs.length > 1) throw new UsageError(`${file} holds ${labs.length} labs: graph draws one lab file at a time`);
  const t = buildTopology(lab);
  const format = o.json ? 'json' : o.format;
  const text =
    format === 'json'
      ? `${JSON.stringify(t, null, 2)}\n`
      : format === 'dot'
        ? toDot(t)
        : format === 'svg'
          ? await dotToSvg(toDot(t))
          : toMermaid(t);
  if (o.out) await writeFile(o.out, text);
  else process.stdout.write(text);
}
