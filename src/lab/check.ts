// The pipeline for one lab text: YAML -> schema -> semantic rules -> normalised Lab. Bad input
// of any kind comes back as issues, never as an exception. Loaded only when a file is not in the
// cache of checked labs (see load.ts): loading the YAML parser and the schema validator is
// a good part of a run's start-up.
import type { LabIssue } from '../errors.js';
import { buildContext } from './context.js';
import type { Locator } from './locate.js';
import { normalise } from './normalise.js';
import { assignPools } from './pool.js';
import { validateSchema } from './schema.js';
import { checkSemantics } from './semantic.js';
import { collapseTemplateIssues, expandTemplates } from './template.js';
import type { RawLab } from './raw.js';
import type { Lab } from './types.js';
import { parseLabYaml } from './yaml.js';

/** A lab that passed every rule, as `netlab validate` reports it. */
export interface LabSummary {
  name: string;
  file: string;
  hosts: number;
}

interface Checked {
  lab: Lab | null;
  issues: LabIssue[];
  /** Set when the lab is valid, whether or not its model was built. */
  summary?: LabSummary;
  /** The lab as written once templates are expanded (what a lab across machines is sliced from). */
  raw?: RawLab;
}

function byPosition(a: LabIssue, b: LabIssue): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col;
}

/**
 * Schema, rules and normalisation of parsed data. Writes pool addresses into `data`. Without
 * `model`, stops after the rules: normalising only builds the engine's model and finds no issue.
 */
function checkData(data: unknown, locator: Locator, model: boolean): Checked {
  // Host templates (`h{i}` with count) become ordinary hosts first; see template.ts.
  const expanded = expandTemplates(data, locator);
  const collapse = (list: LabIssue[]) => collapseTemplateIssues(list, locator).sort(byPosition);
  const schema = validateSchema(data, locator);
  if (!schema.lab || expanded.length) return { lab: null, issues: collapse([...expanded, ...schema.issues]) };
  const ctx = buildContext(schema.lab, locator);
  // Pool addresses are written into the lab before any rule looks at addresses; see pool.ts.
  assignPools(ctx);
  checkSemantics(ctx);
  // Causes first, then what may only follow from them; collapsing keeps that order.
  if (ctx.issues.length > 0) return { lab: null, issues: collapseTemplateIssues(ctx.orderedIssues(), locator) };
  const summary = { name: ctx.name, file: locator.file, hosts: ctx.hosts.size };
  return model ? { lab: normalise(ctx), issues: [], raw: schema.lab, summary } : { lab: null, issues: [], summary };
}

function internalError(file: string, err: unknown): Checked {
  // A bug in netlab, not in the lab; still an issue, so callers never see a stack trace.
  const why = err instanceof Error ? err.message : String(err);
  return {
    lab: null,
    issues: [{ file, line: 1, col: 1, path: '', message: `internal error while checking this lab (please report): ${why}` }],
  };
}

/**
 * Parses, validates and normalises one in-memory lab text (`file` is used in messages); with
 * `model: false`, only checks it (`lab` stays null, `summary` says it is valid).
 */
export function loadLabText(file: string, text: string, o: { model?: boolean } = {}): Checked {
  try {
    const { parsed, issues } = parseLabYaml(file, text);
    if (!parsed) return { lab: null, issues };
    return checkData(parsed.data, parsed.locator, o.model ?? true);
  } catch (err) {
    return internalError(file, err);
  }
}
