// Maps a path in the lab data (`['hosts', 'web', 'interfaces', 'eth0', 'mtu']`) back to the
// line and column of the YAML that produced it, so every issue points at the offending text.
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';
import type { SpecIssue } from '../errors.js';
import type { SourcePos } from './types.js';

export type Path = (string | number)[];

/** Which part of a mapping entry an issue is about: its key (unknown key, bad name) or its value. */
export type Part = 'key' | 'value';

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** Mappings up to this many entries are searched without an index (see Locator.pairOf). */
const SCAN_UP_TO = 16;

/** `hosts.web.interfaces.eth0.mtu`, `links[2].a`, `sysctls["net.ipv4.ip_forward"]`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (PLAIN_KEY.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export interface LinePos {
  line: number;
  col: number;
}

export class Locator {
  private readonly index = new WeakMap<YAMLMap, Map<string, Pair>>();
  /** Hosts generated from a template (`h{i}`), by instance name: their text is the template's. */
  private readonly hostTemplates = new Map<string, { template: string; index: number; start: number }>();

  constructor(
    readonly file: string,
    private readonly doc: Document.Parsed | null,
    private readonly lines: LineCounter | null,
  ) {}

  /** Line/column of a byte offset in the text (1-based). */
  offsetPos(offset: number): LinePos {
    if (!this.lines) return { line: 1, col: 1 };
    const p = this.lines.linePos(offset);
    // LineCounter reports line 0 before its first newline mark; that is line 1.
    return p.line === 0 ? { line: 1, col: offset + 1 } : p;
  }

  /** Positions under `hosts.INSTANCE` are those under `hosts.TEMPLATE` (see src/spec/template.ts). */
  aliasHost(instance: string, template: string, index: number, start: number): void {
    this.hostTemplates.set(instance, { template, index, start });
  }

  /** The template a host was generated from, its index and the template's first index; or undefined. */
  templateOf(host: string): { template: string; index: number; start: number } | undefined {
    return this.hostTemplates.get(host);
  }

  /** Positions inside templates by template path: every instance of a template asks for the same ones. */
  private readonly templatePos = new Map<string, LinePos>();

  /** Position of the key (or value) at `path`, or of the nearest enclosing node that exists. */
  pos(path: Path, part: Part = 'value'): LinePos {
    const template = path[0] === 'hosts' && typeof path[1] === 'string' ? this.hostTemplates.get(path[1])?.template : undefined;
    if (template === undefined) return this.walk(path, part);
    const key = `${part}\0${template}\0${path.slice(2).join('\0')}`;
    let pos = this.templatePos.get(key);
    if (!pos) {
      pos = this.walk(['hosts', template, ...path.slice(2)], part);
      this.templatePos.set(key, pos);
    }
    return pos;
  }

  private walk(path: Path, part: Part): LinePos {
    const doc = this.doc;
    if (!doc || !doc.contents) return { line: 1, col: 1 };
    let node: Node | null = doc.contents;
    let best: number = rangeStart(node) ?? 0;
    for (const seg of path) {
      const parent = this.deref(node);
      const step = parent ? this.child(parent, seg) : null;
      if (!step) return this.offsetPos(best);
      node = step.node;
      // A mapping entry is located by its key; a list item by the item itself.
      best = (step.pair ? rangeStart(step.pair.key) : null) ?? rangeStart(node) ?? best;
    }
    if (part === 'value' && node) best = rangeStart(node) ?? best;
    return this.offsetPos(best);
  }

  issue(path: Path, message: string, part: Part = 'value'): SpecIssue {
    const { line, col } = this.pos(path, part);
    return { file: this.file, line, col, path: formatPath(path), message };
  }

  /** SourcePos of a key, for the normalised model. */
  source(path: Path): SourcePos {
    const { line, col } = this.pos(path, 'key');
    return { file: this.file, line, col, path: formatPath(path) };
  }

  /**
   * The first pair of a mapping with this key. Small mappings (a host's, an interface's: most of
   * a big lab) are searched in place, so only the few big ones get an index.
   */
  private pairOf(map: YAMLMap, key: string): Pair | undefined {
    if (map.items.length > SCAN_UP_TO) return this.keysOf(map).get(key);
    for (const item of map.items) if (isPair(item) && isScalar(item.key) && String(item.key.value) === key) return item as Pair;
    return undefined;
  }

  /** Key -> pair of a mapping, built once: big labs look up thousands of keys in one mapping. */
  private keysOf(map: YAMLMap): Map<string, Pair> {
    let keys = this.index.get(map);
    if (!keys) {
      keys = new Map();
      for (const item of map.items) {
        if (isPair(item) && isScalar(item.key) && !keys.has(String(item.key.value))) keys.set(String(item.key.value), item as Pair);
      }
      this.index.set(map, keys);
    }
    return keys;
  }

  private deref(node: Node | null): Node | null {
    // Errors inside aliased content point at the anchored original.
    if (node && isAlias(node)) return (node.resolve(this.doc!) as Node | undefined) ?? null;
    return node;
  }

  private child(parent: Node, seg: string | number): { node: Node | null; pair: Pair | null } | null {
    if (isSeq(parent)) {
      const item = typeof seg === 'number' ? parent.items[seg] : undefined;
      return item === undefined ? null : { node: item as Node | null, pair: null };
    }
    if (!isMap(parent)) return null;
    const pair = this.pairOf(parent, String(seg));
    if (pair) return { node: pair.value as Node | null, pair };
    // `<<: *defaults` merge keys: look into the merged mappings.
    for (const item of parent.items) {
      if (!isPair(item) || !isScalar(item.key) || !isMergeKey(item.key.value)) continue;
      const sources = isSeq(item.value) ? item.value.items : [item.value];
      for (const src of sources) {
        const merged = this.deref(src as Node | null);
        const found = merged ? this.child(merged, seg) : null;
        if (found) return found;
      }
    }
    return null;
  }
}

function isMergeKey(value: unknown): boolean {
  return value === '<<' || (typeof value === 'symbol' && value.description === '<<');
}

function rangeStart(node: unknown): number | null {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range ? range[0] : null;
}
