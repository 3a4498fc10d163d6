// Runs the built CLI (dist/) the way users do.
import { execa } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlias, parseDocument, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';

export const NETLAB = join(import.meta.dirname, '../../dist/cli/netlab.js');

export async function netlab(args: string[], opts: { input?: string; env?: Record<string, string> } = {}) {
  const r = await execa('node', [NETLAB, ...args], { reject: false, input: opts.input ?? '', env: { NO_COLOR: '1', ...opts.env } });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, all: `${r.stdout}\n${r.stderr}` };
}

/** Writes a lab file into a fresh temp directory and returns its path. */
export function labFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-lab-'));
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** A lab's text, as written, without its `run:` processes of this name (for a test that listens on their ports itself). */
export function withoutProcess(text: string, name: string): string {
  const doc = parseDocument(text);
  const hosts = doc.get('hosts') as YAMLMap<Scalar, YAMLMap>;
  // Last host first: an alias of a process goes before the anchor it names.
  for (const host of [...hosts.items].reverse()) {
    const run = host.value?.get('run') as YAMLSeq | undefined;
    if (!run) continue;
    run.items = run.items.filter((item) => {
      const p = (isAlias(item) ? item.resolve(doc) : item) as YAMLMap | undefined;
      return p?.get('name') !== name;
    });
    if (!run.items.length) host.value!.delete('run');
  }
  return doc.toString();
}

/** A star lab: N hosts, each with eth0 on a veth to one bridge in a `hub` host, an address and a default route. */
export function starLab(name: string, n: number): string {
  const lines = [`name: ${name}`, 'hosts:', '  hub:', '    interfaces:', '      br0: { kind: bridge, addresses: [10.10.0.1/16] }'];
  for (let i = 1; i <= n; i++) {
    lines.push(
      `  h${i}:`,
      '    interfaces:',
      `      eth0: { addresses: [10.10.${Math.floor(i / 250)}.${(i % 250) + 2}/16] }`,
      '    routes:',
      '      - { to: default, via: 10.10.0.1 }',
    );
  }
  lines.push('links:');
  for (let i = 1; i <= n; i++) lines.push(`  - { a: h${i}:eth0, b: hub:br0 }`);
  return `${lines.join('\n')}\n`;
}
