// The pipeline for one lab text: YAML -> schema -> semantic rules -> normalised Lab. Bad input
// of any kind comes back as issues, never as an exception. Loaded only when a file is not in the
// cache of checked labs (see load.ts): the YAML parser and the schema validator take ~40 ms to load.
import { isDeepStrictEqual } from 'node:util';
import type { SpecIssue } from '../errors.js';
import { buildContext } from './context.js';
import type { Locator } from './locate.js';
import { normalise } from './normalise.js';
import type { Outline } from './outline.js';
import { assignPools } from './pool.js';
import { splice, type Memory } from './recheck.js';
import { validateSchema } from './schema.js';
import { checkSemantics } from './semantic.js';
import { collapseTemplateIssues, expandTemplates } from './template.js';
import type { Lab } from './types.js';
import { parseLabYaml } from './yaml.js';

export type { Memory } from './recheck.js';

/** The memory of a check as JSON, built from the data's JSON taken before the rules ran. */
function memoryJson(file: string, text: string, dataJson: string, locator: Locator, outline: Outline): string {
  const positions = Object.fromEntries(locator.sources ?? []);
  return `{"file":${JSON.stringify(file)},"text":${JSON.stringify(text)},"data":${dataJson},"positions":${JSON.stringify(positions)},"outline":${JSON.stringify(outline)}}`;
}

interface Checked {
  lab: Lab | null;
  issues: SpecIssue[];
}

function byPosition(a: SpecIssue, b: SpecIssue): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col;
}

/** Schema, rules and normalisation of parsed data. Writes pool addresses into `data`. */
function checkData(data: unknown, locator: Locator): Checked {
  // Host templates (`h{i}` with count) become ordinary hosts first; see template.ts.
  const expanded = expandTemplates(data, locator);
  const collapse = (list: SpecIssue[]) => collapseTemplateIssues(list, locator).sort(byPosition);
  const schema = validateSchema(data, locator);
  if (!schema.lab || expanded.length) return { lab: null, issues: collapse([...expanded, ...schema.issues]) };
  const ctx = buildContext(schema.lab, locator);
  // Pool addresses are written into the lab before any rule looks at addresses; see pool.ts.
  assignPools(ctx);
  checkSemantics(ctx);
  // Causes first, then what may only follow from them; collapsing keeps that order.
  if (ctx.issues.length > 0) return { lab: null, issues: collapseTemplateIssues(ctx.orderedIssues(), locator) };
  return { lab: normalise(ctx), issues: [] };
}

function internalError(file: string, err: unknown): Checked {
  // A bug in netlab, not in the lab; still an issue, so callers never see a stack trace.
  const why = err instanceof Error ? err.message : String(err);
  return {
    lab: null,
    issues: [{ file, line: 1, col: 1, path: '', message: `internal error while checking this lab (please report): ${why}` }],
  };
}

/** Parses, validates and normalises one in-memory lab text (`file` is used in messages). */
export function loadLabText(file: string, text: string): Checked {
  return checkLabText(file, text).result;
}

/**
 * Checks one lab text; with the memory of the last check of the same file, an edit inside a few
 * entries of one collection re-parses only those (recheck.ts), else the whole text is parsed.
 * Also gives the memory for the next check when the lab passed and its pieces can be re-read alone.
 */
export function checkLabText(
  file: string,
  text: string,
  last?: Memory | null,
): { result: Checked; memory: (() => string) | null; via: 'splice' | 'parse' } {
  if (last) {
    try {
      const spliced = splice(file, text, last);
      if (spliced) {
        const before = JSON.stringify(spliced.data);
        spliced.locator.sources = new Map();
        const result = checkData(spliced.data, spliced.locator);
        if (result.lab) return { result, memory: () => memoryJson(file, text, before, spliced.locator, spliced.outline), via: 'splice' };
      }
    } catch {
      // A position the splice cannot give, or any surprise: the full check below decides.
    }
  }
  try {
    const { parsed, issues } = parseLabYaml(file, text);
    if (!parsed) return { result: { lab: null, issues }, memory: null, via: 'parse' };
    // Kept before the rules write pool addresses into it; only data that JSON gives back exactly
    // (no .inf, no -0) can be spliced next time.
    const before = JSON.stringify(parsed.data);
    const exact = isDeepStrictEqual(JSON.parse(before), parsed.data);
    parsed.locator.sources = new Map();
    const result = checkData(parsed.data, parsed.locator);
    const outline = result.lab && exact ? parsed.outline() : null;
    return { result, memory: outline ? () => memoryJson(file, text, before, parsed.locator, outline) : null, via: 'parse' };
  } catch (err) {
    return { result: internalError(file, err), memory: null, via: 'parse' };
  }
}
