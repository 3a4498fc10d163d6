// A fast reader for the plain YAML lab files are almost always written in: block and flow
// mappings and sequences of one-line scalars, with comments. The full parser builds a syntax tree
// and a document of node objects before any data exists, which dominates checking a big lab. This
// reader returns null for anything else (anchors, tags, merge keys, multi-line scalars, empty
// values, duplicate keys, any error), and the full parser then reads the file and reports; so for
// every text it accepts it gives exactly the data and positions the full parser gives
// (test/unit/fast-yaml.test.ts holds the two equal).
import type { LinePos, Part, Path, PathOffsets } from './locate.js';

/** Thrown inside the reader when the text leaves the subset; never escapes this module. */
const LEAVE = Symbol('not plain YAML');

/** Nesting deeper than this goes to the full parser, which reports it or copes. */
const MAX_DEPTH = 200;

/** Distinct scalar values shared between their occurrences (see Reader.intern). */
const MAX_INTERNED = 4096;

/** Children of a node searched without an index (see TableOffsets.child). */
const SCAN_UP_TO = 16;

const SCALAR = 0;
const MAP = 1;
const SEQ = 2;

// The YAML 1.2 core schema, as the full parser resolves plain scalars (yaml's schema/core).
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT_OCT = /^0o[0-7]+$/;
const INT = /^[-+]?[0-9]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;
/** Can start a plain scalar that may resolve to something other than a string. */
const MAYBE_NOT_STRING = /^[-+.0-9~nNtTfF]/;

export function resolvePlain(s: string): unknown {
  if (!MAYBE_NOT_STRING.test(s) && s !== '') return s;
  if (NULL.test(s)) return null;
  if (BOOL.test(s)) return s[0] === 't' || s[0] === 'T';
  if (INT_OCT.test(s)) return parseInt(s.substring(2), 8);
  if (INT.test(s)) return parseInt(s, 10);
  if (INT_HEX.test(s)) return parseInt(s.substring(2), 16);
  if (FLOAT_NAN.test(s)) return s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? -Infinity : Infinity;
  if (FLOAT_EXP.test(s) || FLOAT.test(s)) return parseFloat(s);
  return s;
}

/** Escapes that mean the same in YAML's double-quoted scalars and in JSON strings. */
const JSON_ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/g;

/**
 * Rows the table of a text needs at most, or close to it: every node but the top one is a map
 * value (after `:`), a block sequence item (`-`) or a flow sequence item (after `[` or `,`). The
 * characters may also stand inside scalars, so this is a little more than needed.
 */
export function rowsFor(text: string): number {
  let rows = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a || c === 0x2c || c === 0x2d || c === 0x5b) rows++;
  }
  return rows;
}

/**
 * Node table: one row per node, in typed arrays, so a big lab costs few objects. Made the size
 * rowsFor gives: rows never written cost no memory (the arrays start as untouched zero pages),
 * while growing by doubling would copy each array again and again and leave freed copies behind.
 */
class Table {
  size = 0;
  start: Int32Array;
  first: Int32Array;
  last: Int32Array;
  next: Int32Array;
  keyStart: Int32Array;
  count: Int32Array;
  kind: Uint8Array;
  /**
   * The key of the entry a node is the value of, as an index in `names` (-1: none). A list of a
   * string per node would be grown, copy after copy, to a million entries in a big lab.
   */
  keyOf: Int32Array;
  readonly names: string[] = [];
  private readonly nameIds = new Map<string, number>();

  constructor(rows: number) {
    const n = Math.max(rows, 16);
    this.start = new Int32Array(n);
    this.first = new Int32Array(n);
    this.last = new Int32Array(n);
    this.next = new Int32Array(n);
    this.keyStart = new Int32Array(n);
    this.count = new Int32Array(n);
    this.kind = new Uint8Array(n);
    this.keyOf = new Int32Array(n);
  }

  setKey(node: number, name: string): void {
    let id = this.nameIds.get(name);
    if (id === undefined) this.nameIds.set(name, (id = this.names.push(name) - 1));
    this.keyOf[node] = id;
  }

  /** The key of the entry `node` is the value of, or undefined. */
  key(node: number): string | undefined {
    const id = this.keyOf[node]!;
    return id < 0 ? undefined : this.names[id];
  }

  add(kind: number, start: number): number {
    if (this.size === this.start.length) this.grow();
    const id = this.size++;
    this.kind[id] = kind;
    this.start[id] = start;
    this.first[id] = -1;
    this.last[id] = -1;
    this.next[id] = -1;
    this.keyStart[id] = -1;
    this.count[id] = 0;
    this.keyOf[id] = -1;
    return id;
  }

  append(parent: number, child: number): void {
    if (this.last[parent] === -1) this.first[parent] = child;
    else this.next[this.last[parent]!] = child;
    this.last[parent] = child;
    this.count[parent]!++;
  }

  /** Done adding: `last` and the ids of the names are needed only while adding. */
  done(): void {
    this.last = new Int32Array(0);
    this.nameIds.clear();
  }

  /** More rows than rowsFor counted: only if a text is not what the reader expects. */
  private grow(): void {
    const n = this.start.length * 2;
    const copy = <T extends Int32Array | Uint8Array>(a: T, b: T): T => (b.set(a), b);
    this.start = copy(this.start, new Int32Array(n));
    this.first = copy(this.first, new Int32Array(n));
    this.last = copy(this.last, new Int32Array(n));
    this.next = copy(this.next, new Int32Array(n));
    this.keyStart = copy(this.keyStart, new Int32Array(n));
    this.count = copy(this.count, new Int32Array(n));
    this.kind = copy(this.kind, new Uint8Array(n));
    this.keyOf = copy(this.keyOf, new Int32Array(n));
  }
}

/** Positions from the fast reader's table, located the way yaml-offsets.ts locates them. */
class TableOffsets implements PathOffsets {
  private lineStarts: Int32Array | null = null;
  private readonly mapIndex = new Map<number, Map<string, number>>();
  private readonly seqIndex = new Map<number, number[]>();

  constructor(
    private readonly text: string,
    private readonly table: Table,
  ) {}

  offset(path: Path, part: Part): number {
    const t = this.table;
    let node = 0;
    let best = t.start[0]!;
    for (const seg of path) {
      const step = this.child(node, seg);
      if (step < 0) return best;
      best = t.kind[node] === MAP ? t.keyStart[step]! : t.start[step]!;
      node = step;
    }
    return part === 'value' ? t.start[node]! : best;
  }

  linePos(offset: number): LinePos {
    const starts = (this.lineStarts ??= lineStartsOf(this.text));
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - starts[lo]! + 1 };
  }

  private child(node: number, seg: string | number): number {
    const t = this.table;
    if (t.kind[node] === SEQ) {
      if (typeof seg !== 'number' || !Number.isInteger(seg) || seg < 0) return -1;
      if (t.count[node]! <= SCAN_UP_TO) {
        let c = t.first[node]!;
        for (let n = 0; n < seg && c !== -1; n++) c = t.next[c]!;
        return c;
      }
      let index = this.seqIndex.get(node);
      if (!index) {
        index = [];
        for (let c = t.first[node]!; c !== -1; c = t.next[c]!) index.push(c);
        this.seqIndex.set(node, index);
      }
      return index[seg] ?? -1;
    }
    if (t.kind[node] !== MAP) return -1;
    const key = String(seg);
    if (t.count[node]! <= SCAN_UP_TO) {
      for (let c = t.first[node]!; c !== -1; c = t.next[c]!) if (t.key(c) === key) return c;
      return -1;
    }
    let index = this.mapIndex.get(node);
    if (!index) {
      index = new Map();
      for (let c = t.first[node]!; c !== -1; c = t.next[c]!) index.set(t.key(c)!, c);
      this.mapIndex.set(node, index);
    }
    return index.get(key) ?? -1;
  }
}

function lineStartsOf(text: string): Int32Array {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  const starts = new Int32Array(n);
  let k = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts[k++] = i + 1;
  return starts;
}

interface Value {
  value: unknown;
  node: number;
  /** Offset just after the value's text. */
  end: number;
}

function leave(): never {
  throw LEAVE;
}

/** Characters that cannot start a plain scalar here (or need more care than this reader takes). */
function isIndicator(c: string): boolean {
  return c === '&' || c === '*' || c === '!' || c === '|' || c === '>' || c === '%' || c === '@' || c === '`' || c === '#';
}

function isFlowIndicator(c: string | undefined): boolean {
  return c === ',' || c === '[' || c === ']' || c === '{' || c === '}';
}

/** Space, end of line or end of text. */
function isBreak(c: string | undefined): boolean {
  return c === undefined || c === ' ' || c === '\n';
}

class Reader {
  readonly table: Table;
  private readonly interned = new Map<string, string>();
  /** First content character of the current line, or the text's length at its end. */
  private p = 0;
  /** Indentation of the current line; -1 at the end of the text. */
  private ind = -1;

  constructor(private readonly text: string) {
    this.table = new Table(rowsFor(text));
  }

  read(): Record<string, unknown> {
    const text = this.text;
    this.nextLine(0);
    if (this.ind === 0 && text.startsWith('---', this.p) && (text[this.p + 3] === '\n' || text[this.p + 3] === undefined)) {
      this.nextLine(this.p + 3);
    } else if (this.ind >= 0) this.checkMarker();
    if (this.ind < 0 || this.isSeqItem(this.p)) leave();
    const root = this.blockMap(this.ind, 0);
    if (this.ind >= 0) leave();
    return root.value as Record<string, unknown>;
  }

  /** From `from`, skips blank and comment lines to the next line with content. */
  private nextLine(from: number): void {
    const text = this.text;
    let i = from;
    for (;;) {
      const lineStart = i;
      while (text[i] === ' ') i++;
      const c = text[i];
      if (c === undefined) {
        this.p = text.length;
        this.ind = -1;
        return;
      }
      if (c === '\n') {
        i++;
        continue;
      }
      if (c === '#') {
        const nl = text.indexOf('\n', i);
        if (nl < 0) {
          this.p = text.length;
          this.ind = -1;
          return;
        }
        i = nl + 1;
        continue;
      }
      this.p = i;
      this.ind = i - lineStart;
      return;
    }
  }

  /** `---` or `...` at the start of a line: documents and directives go to the full parser. */
  private checkMarker(): void {
    const t = this.text;
    if (this.ind !== 0) return;
    if ((t.startsWith('---', this.p) || t.startsWith('...', this.p)) && isBreak(t[this.p + 3])) leave();
    if (t[this.p] === '%') leave();
  }

  /** After a line's content: only spaces and a comment may follow, then moves to the next line. */
  private endLine(at: number): void {
    const t = this.text;
    let i = at;
    while (t[i] === ' ') i++;
    if (t[i] === '#') {
      if (t[i - 1] !== ' ') leave();
    } else if (t[i] !== '\n' && t[i] !== undefined) leave();
    const nl = t.indexOf('\n', i);
    this.nextLine(nl < 0 ? t.length : nl + 1);
    this.checkMarker();
  }

  private isSeqItem(i: number): boolean {
    return this.text[i] === '-' && isBreak(this.text[i + 1]);
  }

  private blockNode(indent: number, depth: number): Value {
    return this.isSeqItem(this.p) ? this.blockSeq(indent, depth) : this.blockMap(indent, depth);
  }

  private blockMap(indent: number, depth: number): Value {
    if (depth > MAX_DEPTH) leave();
    const t = this.table;
    const map: Record<string, unknown> = {};
    const node = t.add(MAP, this.p);
    while (this.ind === indent) {
      const keyStart = this.p;
      if (this.isSeqItem(keyStart)) leave();
      const key = this.key(keyStart, false);
      let i = key.end;
      while (this.text[i] === ' ') i++;
      if (this.text[i] !== ':' || !isBreak(this.text[i + 1])) leave();
      i++;
      while (this.text[i] === ' ') i++;
      let value: Value;
      const c = this.text[i];
      if (c === '\n' || c === undefined || c === '#') {
        this.endLine(i);
        if (this.ind > indent) value = this.blockNode(this.ind, depth + 1);
        else if (this.ind === indent && this.isSeqItem(this.p)) value = this.blockSeq(indent, depth + 1);
        else leave();
      } else {
        value = this.inline(i, indent, depth + 1);
        this.endLine(value.end);
        if (this.ind > indent) leave();
      }
      if (Object.hasOwn(map, key.name)) leave();
      map[key.name] = value.value;
      t.setKey(value.node, key.name);
      t.keyStart[value.node] = keyStart;
      t.append(node, value.node);
    }
    if (this.ind > indent) leave();
    return { value: map, node, end: this.p };
  }

  private blockSeq(indent: number, depth: number): Value {
    if (depth > MAX_DEPTH) leave();
    const t = this.table;
    const list: unknown[] = [];
    const node = t.add(SEQ, this.p);
    const text = this.text;
    while (this.ind === indent && this.isSeqItem(this.p)) {
      let i = this.p + 1;
      while (text[i] === ' ') i++;
      let item: Value;
      const c = text[i];
      if (c === '\n' || c === undefined || c === '#') {
        this.endLine(i);
        if (this.ind > indent) item = this.blockNode(this.ind, depth + 1);
        else leave();
      } else if (this.isSeqItem(i)) {
        leave();
      } else if (this.startsEntry(i)) {
        // `- key: value` opens a mapping indented to where its first key stands.
        const lineStart = text.lastIndexOf('\n', i - 1) + 1;
        this.p = i;
        this.ind = i - lineStart;
        item = this.blockMap(this.ind, depth + 1);
        if (this.ind > indent) leave();
      } else {
        item = this.inline(i, indent, depth + 1);
        this.endLine(item.end);
        if (this.ind > indent) leave();
      }
      list.push(item.value);
      t.append(node, item.node);
    }
    if (this.ind > indent) leave();
    return { value: fitted(list), node, end: this.p };
  }

  /** Whether a block mapping entry (`key:`) starts at `i`. */
  private startsEntry(i: number): boolean {
    const c = this.text[i]!;
    if (c === '[' || c === '{') return false;
    if (c !== '"' && c !== "'" && (isIndicator(c) || ((c === '?' || c === ':') && isBreak(this.text[i + 1])))) return false;
    const end = c === '"' || c === "'" ? this.quoted(i).end : this.plainEnd(i, false);
    let k = end;
    while (this.text[k] === ' ') k++;
    return this.text[k] === ':' && isBreak(this.text[k + 1]);
  }

  /** A mapping key: a quoted or plain scalar that is a string. */
  private key(i: number, flow: boolean): { name: string; end: number } {
    const c = this.text[i]!;
    let name: string;
    let end: number;
    if (c === '"' || c === "'") ({ value: name, end } = this.quoted(i));
    else {
      if (isIndicator(c) || isFlowIndicator(c) || c === '?' || c === ':' || c === '-') leave();
      end = this.plainEnd(i, flow);
      const raw = this.text.slice(i, end);
      if (raw === '' || resolvePlain(raw) !== raw || raw === '<<') leave();
      name = raw;
    }
    if (name === '__proto__') leave();
    return { name, end };
  }

  /** A value on the line of its key or dash: a flow collection or a one-line scalar. */
  private inline(i: number, indent: number, depth: number): Value {
    const c = this.text[i]!;
    if (c === '{') return this.flowMap(i, indent, depth);
    if (c === '[') return this.flowSeq(i, indent, depth);
    return this.scalar(i, false);
  }

  private scalar(i: number, flow: boolean): Value {
    const text = this.text;
    const c = text[i]!;
    if (c === '"' || c === "'") {
      const q = this.quoted(i);
      return { value: this.intern(q.value), node: this.table.add(SCALAR, i), end: q.end };
    }
    if (isIndicator(c) || isFlowIndicator(c)) leave();
    if ((c === '-' || c === '?' || c === ':') && (isBreak(text[i + 1]) || isFlowIndicator(text[i + 1]))) leave();
    const end = this.plainEnd(i, flow);
    // A `: ` inside a block value (`a: b: c`) is an error the full parser reports.
    if (!flow && text[end] === ':') leave();
    return { value: this.intern(resolvePlain(text.slice(i, end))), node: this.table.add(SCALAR, i), end };
  }

  /**
   * One string for each repeated value (`default`, the hub's address, `hub:br0` in every host of
   * a generated lab) instead of a copy per occurrence. The first MAX_INTERNED distinct values
   * are kept: repeated values show up early, and values seen once would only fill the map.
   */
  private intern(value: unknown): unknown {
    if (typeof value !== 'string') return value;
    const seen = this.interned.get(value);
    if (seen !== undefined) return seen;
    if (this.interned.size < MAX_INTERNED) this.interned.set(value, value);
    return value;
  }

  /** End of a plain scalar starting at `i` (trailing spaces excluded). */
  private plainEnd(i: number, flow: boolean): number {
    const text = this.text;
    let k = i;
    for (;;) {
      const c = text[k];
      if (c === undefined || c === '\n') break;
      if (c === ' ' && text[k + 1] === '#') break;
      if (c === ':') {
        const n = text[k + 1];
        if (isBreak(n) || (flow && isFlowIndicator(n))) break;
      }
      if (flow && isFlowIndicator(c)) break;
      k++;
    }
    while (k > i && text[k - 1] === ' ') k--;
    return k;
  }

  /** A one-line quoted scalar at `i`: its value and the offset after its closing quote. */
  private quoted(i: number): { value: string; end: number } {
    const text = this.text;
    if (text[i] === "'") {
      let k = i + 1;
      for (;;) {
        const q = text.indexOf("'", k);
        const nl = text.indexOf('\n', k);
        if (q < 0 || (nl >= 0 && nl < q)) leave();
        if (text[q + 1] === "'") {
          k = q + 2;
          continue;
        }
        return { value: text.slice(i + 1, q).replaceAll("''", "'"), end: q + 1 };
      }
    }
    let k = i + 1;
    let escaped = false;
    for (;;) {
      const c = text[k];
      if (c === undefined || c === '\n') leave();
      if (c === '\\') {
        escaped = true;
        k += 2;
        continue;
      }
      if (c === '"') break;
      k++;
    }
    const raw = text.slice(i, k + 1);
    if (!escaped) return { value: raw.slice(1, -1), end: k + 1 };
    if (raw.replace(JSON_ESCAPE, '').includes('\\')) leave();
    try {
      return { value: JSON.parse(raw) as string, end: k + 1 };
    } catch {
      return leave();
    }
  }

  /** Skips spaces, line breaks and comments inside a flow collection. */
  private flowSpace(i: number, indent: number): number {
    const text = this.text;
    let k = i;
    for (;;) {
      const c = text[k];
      if (c === ' ') k++;
      else if (c === '#') {
        if (text[k - 1] !== ' ' && text[k - 1] !== '\n') leave();
        const nl = text.indexOf('\n', k);
        if (nl < 0) leave();
        k = nl;
      } else if (c === '\n') {
        k++;
        const lineStart = k;
        while (text[k] === ' ') k++;
        // Lines inside a flow collection must be indented more than the block it is in.
        if (text[k] !== '\n' && k - lineStart <= indent) leave();
      } else return k;
    }
  }

  private flowValue(i: number, indent: number, depth: number): Value {
    const c = this.text[i];
    if (c === '{') return this.flowMap(i, indent, depth);
    if (c === '[') return this.flowSeq(i, indent, depth);
    if (c === undefined) leave();
    return this.scalar(i, true);
  }

  private flowMap(i: number, indent: number, depth: number): Value {
    if (depth > MAX_DEPTH) leave();
    const text = this.text;
    const t = this.table;
    const map: Record<string, unknown> = {};
    const node = t.add(MAP, i);
    let k = this.flowSpace(i + 1, indent);
    while (text[k] !== '}') {
      const keyStart = k;
      const key = this.key(k, true);
      k = this.flowSpace(key.end, indent);
      if (text[k] !== ':') leave();
      k = this.flowSpace(k + 1, indent);
      if (text[k] === ',' || text[k] === '}') leave();
      const value = this.flowValue(k, indent, depth + 1);
      if (Object.hasOwn(map, key.name)) leave();
      map[key.name] = value.value;
      t.setKey(value.node, key.name);
      t.keyStart[value.node] = keyStart;
      t.append(node, value.node);
      k = this.flowSpace(value.end, indent);
      if (text[k] === ',') k = this.flowSpace(k + 1, indent);
      else if (text[k] !== '}') leave();
    }
    return { value: map, node, end: k + 1 };
  }

  private flowSeq(i: number, indent: number, depth: number): Value {
    if (depth > MAX_DEPTH) leave();
    const text = this.text;
    const t = this.table;
    const list: unknown[] = [];
    const node = t.add(SEQ, i);
    let k = this.flowSpace(i + 1, indent);
    while (text[k] !== ']') {
      if (text[k] === ',') leave();
      const item = this.flowValue(k, indent, depth + 1);
      list.push(item.value);
      t.append(node, item.node);
      k = this.flowSpace(item.end, indent);
      if (text[k] === ',') k = this.flowSpace(k + 1, indent);
      else if (text[k] !== ']') leave();
    }
    return { value: fitted(list), node, end: k + 1 };
  }
}

/**
 * A short list with room for exactly its items: one grown by push keeps a capacity of 17, and a
 * lab holds a one-item list (its addresses, its routes) for every host.
 */
function fitted(list: unknown[]): unknown[] {
  return list.length < 16 ? list.slice() : list;
}

/**
 * The data and node positions of a lab text in the plain subset, or null: then the full parser
 * must read it (and reports what is wrong, if anything).
 */
export function readPlainYaml(text: string): { data: Record<string, unknown>; offsets: PathOffsets } | null {
  // Tabs, carriage returns and a byte-order mark each have rules of their own.
  if (text.includes('\t') || text.includes('\r') || text.charCodeAt(0) === 0xfeff) return null;
  const reader = new Reader(text);
  try {
    const data = reader.read();
    reader.table.done();
    return { data, offsets: new TableOffsets(text, reader.table) };
  } catch (err) {
    if (err === LEAVE || err instanceof RangeError) return null;
    throw err;
  }
}
