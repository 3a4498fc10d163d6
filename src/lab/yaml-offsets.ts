// Node positions from the full YAML parser's document, for files the fast reader (fast-yaml.ts)
// leaves to it: anchors and merge keys included.
import type { Document, LineCounter, Node, Pair, YAMLMap } from 'yaml';
import type { LinePos, Part, Path, PathOffsets } from './locate.js';
import { yamlLibrary } from './yaml-library.js';

/** Mappings up to this many entries are searched without an index (see pairOf). */
const SCAN_UP_TO = 16;

export class YamlOffsets implements PathOffsets {
  private readonly index = new WeakMap<YAMLMap, Map<string, Pair>>();
  private readonly yaml = yamlLibrary();

  constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  linePos(offset: number): LinePos {
    const p = this.lines.linePos(offset);
    // LineCounter reports line 0 before its first newline mark; that is line 1.
    return p.line === 0 ? { line: 1, col: offset + 1 } : p;
  }

  offset(path: Path, part: Part): number {
    let node: Node | null = this.doc.contents;
    if (!node) return 0;
    let best: number = rangeStart(node) ?? 0;
    for (const seg of path) {
      const parent = this.deref(node);
      const step = parent ? this.child(parent, seg) : null;
      if (!step) return best;
      node = step.node;
      // A mapping entry is located by its key; a list item by the item itself.
      best = (step.pair ? rangeStart(step.pair.key) : null) ?? rangeStart(node) ?? best;
    }
    if (part === 'value' && node) best = rangeStart(node) ?? best;
    return best;
  }

  /**
   * The first pair of a mapping with this key. Small mappings (a host's, an interface's: most of
   * a big lab) are searched in place, so only the few big ones get an index.
   */
  private pairOf(map: YAMLMap, key: string): Pair | undefined {
    if (map.items.length > SCAN_UP_TO) return this.keysOf(map).get(key);
    for (const item of map.items)
      if (this.yaml.isPair(item) && this.yaml.isScalar(item.key) && String(item.key.value) === key) return item as Pair;
    return undefined;
  }

  /** Key -> pair of a mapping, built once: big labs look up thousands of keys in one mapping. */
  private keysOf(map: YAMLMap): Map<string, Pair> {
    let keys = this.index.get(map);
    if (!keys) {
      keys = new Map();
      for (const item of map.items) {
        if (this.yaml.isPair(item) && this.yaml.isScalar(item.key) && !keys.has(String(item.key.value)))
          keys.set(String(item.key.value), item as Pair);
      }
      this.index.set(map, keys);
    }
    return keys;
  }

  private deref(node: Node | null): Node | null {
    // Errors inside aliased content point at the anchored original.
    if (node && this.yaml.isAlias(node)) return (node.resolve(this.doc) as Node | undefined) ?? null;
    return node;
  }

  private child(parent: Node, seg: string | number): { node: Node | null; pair: Pair | null } | null {
    if (this.yaml.isSeq(parent)) {
      const item = typeof seg === 'number' ? parent.items[seg] : undefined;
      return item === undefined ? null : { node: item as Node | null, pair: null };
    }
    if (!this.yaml.isMap(parent)) return null;
    const pair = this.pairOf(parent, String(seg));
    if (pair) return { node: pair.value as Node | null, pair };
    // `<<: *defaults` merge keys: look into the merged mappings.
    for (const item of parent.items) {
      if (!this.yaml.isPair(item) || !this.yaml.isScalar(item.key) || !isMergeKey(item.key.value)) continue;
      const sources = this.yaml.isSeq(item.value) ? item.value.items : [item.value];
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
