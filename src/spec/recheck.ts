// Re-checking an edited lab file from the last check of the same file: the lines that changed are
// widened to whole entries of one top-level collection (a few hosts, a few links), only those
// lines are parsed, and their entries replace the old ones in the data parsed last time. The
// result then goes through the same schema, rules and normalisation as a full check; only the
// YAML parse (most of a full check: ~150 ms of ~240 for a 500-host file) is saved.
//
// Anything this cannot do exactly gives null and the file is checked in full: an edit across two
// collections or outside any, a file without an outline (anchors, tags: see outline.ts), a piece
// that does not parse alone, a host template, any issue (positions of issues need the whole
// document), or a position the last check did not record.
import { isDeepStrictEqual } from 'node:util';
import { formatPath, Locator, type LinePos, type Part, type Path } from './locate.js';
import { isIndexLike, type Outline, type Section } from './outline.js';
import { parseFragment } from './yaml.js';

/** What the last check of a file leaves for the next one. */
export interface Memory {
  file: string;
  text: string;
  /** The file's data as parsed (before any rule wrote pool addresses into it). */
  data: Record<string, unknown>;
  /** The line and column of every position the checked lab holds, by path (Locator.sources). */
  positions: Record<string, [number, number]>;
  outline: Outline;
}

/** The edited file as data, with a Locator for it and its outline. */
export interface Spliced {
  data: Record<string, unknown>;
  locator: Locator;
  outline: Outline;
}

/** A position the spliced locator cannot give exactly: check the file in full. */
export class NeedsFullCheck extends Error {}

interface Edit {
  section: Section;
  /** Index of the first replaced entry, and how many were replaced by how many. */
  first: number;
  oldCount: number;
  newCount: number;
  /** The replaced lines (0-based, end exclusive) in the old text; the new text has `delta` more. */
  start: number;
  oldEnd: number;
  delta: number;
}

/** Lines changed between two texts, widened to whole entries of one section; null if none fits. */
function editOf(oldLines: string[], newLines: string[], outline: Outline): Omit<Edit, 'newCount'> | null {
  const max = Math.min(oldLines.length, newLines.length);
  let prefix = 0;
  while (prefix < max && oldLines[prefix] === newLines[prefix]) prefix++;
  let suffix = 0;
  while (suffix < max - prefix && oldLines[oldLines.length - 1 - suffix] === newLines[newLines.length - 1 - suffix]) suffix++;
  const changedEnd = oldLines.length - suffix;
  const section = outline.sections.find((s) => s.starts[0]! <= prefix && changedEnd <= s.end);
  if (!section) return null;
  const { starts } = section;
  const entryAt = (line: number) => {
    let i = 0;
    while (i + 1 < starts.length && starts[i + 1]! <= line) i++;
    return i;
  };
  // Lines put just before an entry's key may belong to the entry before it (blank lines or
  // indented text continue its block scalar), which is then re-parsed with them.
  const at = entryAt(prefix);
  const first = prefix === starts[at] && at > 0 ? at - 1 : at;
  const last = Math.max(first, changedEnd > prefix ? entryAt(changedEnd - 1) : first);
  const oldEnd = last + 1 < starts.length ? starts[last + 1]! : section.end;
  return { section, first, oldCount: last - first + 1, start: starts[first]!, oldEnd, delta: newLines.length - oldLines.length };
}

/** Every line with content in a piece of a section is inside it: indented to its entries at least. */
function staysInside(lines: string[], section: Section): boolean {
  for (const line of lines) {
    const content = line.trimStart();
    if (content === '' || content.startsWith('#')) continue;
    const indent = line.length - content.length;
    if (line.slice(0, indent).includes('\t') || indent < section.indent) return false;
    if (section.kind === 'seq' && indent === section.indent && !content.startsWith('-')) return false;
  }
  return true;
}

/**
 * Positions in the edited file: inside the re-parsed lines from their own document; elsewhere
 * from the last check's, moved by the lines the edit added or removed. Only the positions a
 * clean check asks for (keys, for the normalised lab) are known; asking any other means the
 * file has issues, whose positions need the whole document.
 */
class SplicedLocator extends Locator {
  constructor(
    file: string,
    private readonly edit: Edit,
    private readonly piece: Locator,
    private readonly pieceKeys: Set<string>,
    private readonly positions: Record<string, [number, number]>,
  ) {
    super(file, null, null);
  }

  override pos(path: Path, part: Part = 'value'): LinePos {
    if (part !== 'key') throw new NeedsFullCheck(`position of ${formatPath(path)}`);
    const { section, first, oldCount, newCount, start, oldEnd, delta } = this.edit;
    const inSection = path[0] === section.key && path.length > 1;
    const seg = path[1];
    if (inSection && section.kind === 'map' && this.pieceKeys.has(String(seg))) return this.inPiece(path.slice(1));
    if (inSection && section.kind === 'seq' && typeof seg === 'number' && seg >= first && seg < first + newCount)
      return this.inPiece([seg - first, ...path.slice(2)]);
    const old =
      inSection && typeof seg === 'number' && seg >= first + newCount ? [path[0]!, seg - newCount + oldCount, ...path.slice(2)] : path;
    const at = formatPath(old);
    const known = Object.hasOwn(this.positions, at) ? this.positions[at]! : null;
    if (!known || (known[0] - 1 >= start && known[0] - 1 < oldEnd)) throw new NeedsFullCheck(`position of ${formatPath(path)}`);
    return { line: known[0] - 1 >= oldEnd ? known[0] + delta : known[0], col: known[1] };
  }

  override aliasHost(): void {
    throw new NeedsFullCheck('host template');
  }

  private inPiece(path: Path): LinePos {
    const p = this.piece.pos(path, 'key');
    return { line: p.line + this.edit.start, col: p.col };
  }
}

const isTemplate = (key: string) => key.includes('{');

/** The edited file as the last check's data with the edited entries re-parsed, or null. */
export function splice(file: string, text: string, memory: Memory): Spliced | null {
  if (memory.file !== file) return null;
  const oldLines = memory.text.split('\n');
  const newLines = text.split('\n');
  const found = editOf(oldLines, newLines, memory.outline);
  if (!found) return null;
  const { section, first, oldCount, start, oldEnd, delta } = found;
  const lines = newLines.slice(start, oldEnd + delta);
  if (!staysInside(lines, section)) return null;
  // With the line break that ends the piece's last line in the file (a kept block scalar's
  // trailing blank lines, a CRLF line's CR, read as they are in the whole file).
  const piece = parseFragment(file, lines.join('\n') + (oldEnd + delta < newLines.length ? '\n' : ''));
  // The piece must be entries of the section's kind at its indentation: re-parsed alone, the
  // same lines read as they do in the whole file.
  if (!piece || (piece.kind !== null && piece.kind !== section.kind) || piece.starts.some((s) => s.col !== section.indent)) return null;
  const old = memory.data[section.key];
  let value: unknown;
  let pieceKeys = new Set<string>();
  if (section.kind === 'map') {
    const entries = Object.entries(old as Record<string, unknown>);
    if (entries.length !== section.starts.length || piece.entries.some(([k]) => isIndexLike(k))) return null;
    const kept = [...entries.slice(0, first), ...entries.slice(first + oldCount)];
    pieceKeys = new Set(piece.entries.map(([k]) => k));
    // A key also kept outside the piece is a duplicate: the full check words it.
    if (pieceKeys.size !== piece.entries.length || kept.some(([k]) => pieceKeys.has(k))) return null;
    if (section.key === 'hosts' && [...pieceKeys, ...kept.map(([k]) => k)].some(isTemplate)) return null;
    value = Object.fromEntries([...entries.slice(0, first), ...piece.entries, ...entries.slice(first + oldCount)]);
  } else {
    const list = old as unknown[];
    if (list.length !== section.starts.length) return null;
    value = [...list.slice(0, first), ...piece.items, ...list.slice(first + oldCount)];
  }
  // Only values JSON gives back exactly (no .inf, no -0) can be kept for the next check.
  const fresh = section.kind === 'map' ? piece.entries : piece.items;
  if (!isDeepStrictEqual(JSON.parse(JSON.stringify(fresh)), fresh)) return null;
  const newCount = piece.starts.length;
  const edit: Edit = { section, first, oldCount, newCount, start, oldEnd, delta };
  const data = { ...memory.data, [section.key]: value };
  const moved = (s: Section): Section =>
    s.starts[0]! >= oldEnd ? { ...s, starts: s.starts.map((l) => l + delta), end: s.end + delta } : s;
  const edited: Section = {
    ...section,
    starts: [
      ...section.starts.slice(0, first),
      ...piece.starts.map((s) => s.line + start),
      ...section.starts.slice(first + oldCount).map((l) => l + delta),
    ],
    end: section.end + delta,
  };
  if (edited.starts.length === 0) return null;
  const outline = { sections: memory.outline.sections.map((s) => (s === section ? edited : moved(s))) };
  return { data, locator: new SplicedLocator(file, edit, piece.locator, pieceKeys, memory.positions), outline };
}
