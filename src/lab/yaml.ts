// Turns bytes or text into plain data plus a Locator, refusing anything that is not one
// reasonable YAML document: too big, binary, not UTF-8, syntax errors, duplicate keys,
// several documents, alias bombs. Never throws.
import type { Document, YAMLError } from 'yaml';
import type { LabIssue } from '../errors.js';
import { duplicateKeyOffsets } from './duplicates.js';
import { readPlainYaml } from './fast-yaml.js';
import { Locator } from './locate.js';
import { issueAt as at, MAX_LAB_BYTES, tooBig } from './read.js';
import { yamlLibrary } from './yaml-library.js';
import { YamlOffsets } from './yaml-offsets.js';

export { decodeLabBytes, MAX_LAB_BYTES, tooBig } from './read.js';

/** Limit on alias expansion when converting to data (the "billion laughs" guard). */
export const MAX_ALIAS_COUNT = 100;

export interface ParsedYaml {
  data: unknown;
  locator: Locator;
}

/** Binary files are refused before the YAML parser sees them: its errors would be noise. */
function nulIssue(file: string, text: string): LabIssue | null {
  const nul = text.indexOf('\0');
  if (nul < 0) return null;
  const line = text.slice(0, nul).split('\n').length;
  const col = nul - text.lastIndexOf('\n', nul - 1);
  return at(file, 'file contains NUL bytes: it is binary, not a YAML lab', line, col);
}

/** The key written at `pos` (yaml marks only its first character): plain, or quoted. */
function keyAt(text: string, pos: number): string {
  const end = text.indexOf('\n', pos);
  const line = text.slice(pos, end < 0 ? text.length : end);
  const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^:#,{}[\]]*?)\s*:(?:\s|$)/.exec(line);
  const key = (m ? m[1]! : line).trim();
  if (key.startsWith('"')) {
    try {
      return JSON.parse(key) as string;
    } catch {
      return key;
    }
  }
  return key.startsWith("'") ? key.slice(1, -1).replace(/''/g, "'") : key;
}

function duplicateKeyMessage(text: string, offset: number): string {
  return `duplicate key ${JSON.stringify(keyAt(text, offset))}: each key may appear once in a mapping`;
}

function yamlMessage(err: YAMLError, text: string): string {
  switch (err.code) {
    case 'DUPLICATE_KEY':
      return duplicateKeyMessage(text, err.pos[0]);
    case 'MULTIPLE_DOCS':
      return 'file holds more than one YAML document (---): one file is one lab';
    default:
      // yaml's messages are good; drop the trailing "at line X, column Y" since we give the position.
      return `YAML: ${err.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '')}`;
  }
}

/** A parsed YAML text, or the issues that make it unusable (errors, warnings, collection keys). */
function parseYaml(file: string, text: string): { doc: Document.Parsed; locator: Locator; issues: LabIssue[] } | LabIssue {
  const { isScalar, LineCounter, parseDocument, visit } = yamlLibrary();
  const lines = new LineCounter();
  let doc;
  try {
    // Duplicate keys are found below, in one pass (see duplicates.ts).
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false, merge: true });
  } catch (err) {
    // The parser reports bad YAML as errors; a throw means input it cannot cope with (e.g. stack depth).
    return at(file, `YAML: cannot parse: ${err instanceof Error ? err.message : String(err)}`);
  }
  const locator = new Locator(file, new YamlOffsets(doc, lines));
  const issues: LabIssue[] = [...doc.errors, ...doc.warnings].map((err) => {
    const { line, col } = locator.offsetPos(err.pos[0]);
    return at(file, yamlMessage(err, text), line, col);
  });
  for (const offset of duplicateKeyOffsets(doc)) {
    const { line, col } = locator.offsetPos(offset);
    issues.push(at(file, duplicateKeyMessage(text, offset), line, col));
  }
  issues.sort((a, b) => a.line - b.line || a.col - b.col);
  // `? [a, b]: x` would be stringified by toJS (with a process warning); no lab key is a collection.
  // A collection key needs `?`, an alias or a flow collection before `:`; without any, no walk.
  if (/[?*]|[\]}]\s*:/.test(text))
    visit(doc, {
      Pair(_, pair) {
        const key = pair.key as { range?: [number, number, number] } | null;
        if (key && !isScalar(key)) {
          const { line, col } = locator.offsetPos(key.range?.[0] ?? 0);
          issues.push(at(file, 'keys must be plain names, not lists or mappings', line, col));
        }
      },
    });
  return { doc, locator, issues };
}

export function parseLabYaml(file: string, text: string): { parsed: ParsedYaml | null; issues: LabIssue[] } {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_LAB_BYTES) return { parsed: null, issues: [tooBig(file, bytes)] };
  const binary = nulIssue(file, text);
  if (binary) return { parsed: null, issues: [binary] };
  // Most lab files are plain YAML, read much faster without the full parser; see fast-yaml.ts.
  const plain = readPlainYaml(text);
  if (plain) return { parsed: { data: plain.data, locator: new Locator(file, plain.offsets) }, issues: [] };
  const yaml = parseYaml(file, text);
  if (!('doc' in yaml)) return { parsed: null, issues: [yaml] };
  const { doc, locator, issues } = yaml;
  if (issues.length > 0) return { parsed: null, issues };

  const contents = doc.contents;
  if (contents === null || (contents.range[0] === contents.range[1] && contents.toJSON() === null)) {
    return { parsed: null, issues: [at(file, 'file is empty: a lab needs at least `name` and `hosts`')] };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const { line, col } = locator.pos([]);
    const why =
      err instanceof ReferenceError && /alias count/i.test(err.message)
        ? `aliases expand to too much data (more than ${MAX_ALIAS_COUNT} alias uses): refusing a possible alias bomb`
        : `YAML: ${err instanceof Error ? err.message : String(err)}`;
    return { parsed: null, issues: [at(file, why, line, col)] };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const { line, col } = locator.pos([]);
    const what = Array.isArray(data) ? 'a list' : data === null ? 'null' : `a ${typeof data}`;
    return { parsed: null, issues: [at(file, `top level must be a mapping (name:, hosts:, links:), not ${what}`, line, col)] };
  }
  return { parsed: { data, locator }, issues: [] };
}
