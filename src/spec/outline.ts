// The outline of a lab file: where each entry of its top-level block collections (`hosts:`,
// `links:`, ...) starts. An edit that stays inside a few entries of one collection can then be
// re-checked by parsing only those lines (recheck.ts): in block YAML an entry ends where the next
// one at its indentation begins, so nothing outside the edited entries can read differently.
//
// Only files whose pieces mean the same alone get an outline: no anchors or aliases (an alias in
// one entry reads another's text), no explicit tags, no directives or document markers.
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  visit,
  type Document,
  type LineCounter,
  type Node,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';

export interface Section {
  /** The top-level key. */
  key: string;
  kind: 'map' | 'seq';
  /** Column (0-based) of the entries: their keys, or their `-`. */
  indent: number;
  /** Line (0-based) where each entry starts. */
  starts: number[];
  /** Line (0-based) where the section ends: the next top-level key's, or the number of lines. */
  end: number;
}

export interface Outline {
  sections: Section[];
}

/** No anchors, aliases, explicit tags or merge keys: every piece of the document reads alone. */
export function isPlain(doc: Document.Parsed, text: string): boolean {
  // Without these characters none of them can occur; with them (`!=` in a rule, `*` in a
  // command), look at the nodes.
  if (!/[&*!]|<</.test(text)) return true;
  let plain = true;
  visit(doc, {
    Node(_, node) {
      const n = node as Node & { anchor?: string; tag?: string; value?: unknown };
      if (isAlias(n) || n.anchor !== undefined || n.tag !== undefined || (isScalar(n) && n.value === '<<')) {
        plain = false;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return plain;
}

/** A key JavaScript objects order before all others ("0", "17"). */
export const isIndexLike = (key: unknown): boolean => typeof key === 'string' && /^(0|[1-9]\d*)$/.test(key);

/** Line (0-based) of a text offset. */
function lineOf(lines: LineCounter, offset: number): number {
  const starts = lines.lineStarts;
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Where each entry of a block collection starts (0-based line; column of its key or `-`), or
 * null when one cannot be placed: a non-string key, an empty item, a `-` not first on its line.
 */
export function entryStarts(value: YAMLMap | YAMLSeq, text: string, lines: LineCounter): { line: number; col: number }[] | null {
  const out: { line: number; col: number }[] = [];
  for (const item of value.items) {
    const node = isPair(item) ? item.key : item;
    const offset = (node as { range?: [number, number, number] } | null)?.range?.[0];
    if (offset === undefined || (isPair(item) && !(isScalar(item.key) && typeof item.key.value === 'string'))) return null;
    const line = lineOf(lines, offset);
    const lineStart = lines.lineStarts[line]!;
    const col = isPair(item) ? offset - lineStart : text.slice(lineStart, offset).indexOf('-');
    if (col < 0 || text.slice(lineStart, lineStart + col).trim() !== '') return null;
    if (out.length > 0 && line <= out[out.length - 1]!.line) return null;
    out.push({ line, col });
  }
  return out;
}

function sectionOf(key: string, value: unknown, end: number, text: string, lines: LineCounter): Section | null {
  if (!(isMap(value) || isSeq(value)) || value.flow || value.items.length === 0) return null;
  // Data keeps a mapping's order except for index-like keys, which objects put first.
  if (isMap(value) && value.items.some((p) => isScalar(p.key) && isIndexLike(p.key.value))) return null;
  const starts = entryStarts(value, text, lines);
  const indent = starts?.[0]?.col;
  if (!starts || starts.some((s) => s.col !== indent) || starts[starts.length - 1]!.line >= end) return null;
  return { key, kind: isMap(value) ? 'map' : 'seq', indent: indent!, starts: starts.map((s) => s.line), end };
}

/** The file's outline, or null when its pieces may not be read alone. */
export function outlineOf(doc: Document.Parsed, text: string, lines: LineCounter): Outline | null {
  if (/^(%|---|\.\.\.)/m.test(text) || !isPlain(doc, text)) return null;
  const top = doc.contents;
  if (!isMap(top) || top.flow) return null;
  const total = lines.lineStarts.length;
  const keyLines = top.items.map((item) => {
    const offset = (item.key as { range?: [number, number, number] } | null)?.range?.[0];
    return offset === undefined ? -1 : lineOf(lines, offset);
  });
  if (keyLines.includes(-1)) return null;
  const sections: Section[] = [];
  top.items.forEach((item, i) => {
    if (!isScalar(item.key) || typeof item.key.value !== 'string') return;
    const section = sectionOf(item.key.value, item.value, keyLines[i + 1] ?? total, text, lines);
    if (section) sections.push(section);
  });
  return { sections };
}
