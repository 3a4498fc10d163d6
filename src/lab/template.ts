// Host templates: a host key with a placeholder and a `count` stands for many hosts.
//
//   hosts:
//     h{i}:                       # h1 .. h500
//       count: 500
//       start: 1                  # first index (default 1)
//       interfaces:
//         eth0: { link: hub:br0, addresses: ["10.10.{i/250}.{i%250+2}/16"] }
//
// `{i}` is the index; `{i+1}`, `{i*2}`, `{i/256}` (integer division), `{i%256}` and chains of
// them (`{i/250%250+2}`, left to right) compute from it; a format after a colon pads (`{i:03}` is
// 007) or writes hex (`{i%256:02x}`, for MACs). Every string of the template (values and keys) is
// expanded; a string that is one unformatted placeholder alone (`"{i}"`) becomes a number.
//
// Expansion runs on the parsed data before the schema, so every later rule sees ordinary hosts.
// The Locator maps each instance's paths back to the template's text, so an issue in `h17` points
// at the line of `h{i}`; issues repeated by many instances of one template are reported once.
import type { LabIssue } from '../errors.js';
import type { Locator } from './locate.js';

/** Most hosts one template makes. */
export const MAX_TEMPLATE_COUNT = 65536;

const PLACEHOLDER = /\{([^{}]*)\}/g;
const EXPRESSION = /^\s*i((?:\s*[-+*/%]\s*\d+)*)\s*(?::(0?)(\d{0,2})(x?))?$/;
const OPERATION = /([-+*/%])\s*(\d+)/g;

/** A placeholder's text for index `i` (formatted as it asks), or null when it is not one. */
export function render(expr: string, i: number): string | null {
  const m = EXPRESSION.exec(expr);
  const v = evaluate(expr, i);
  if (!m || v === null) return null;
  const [, , zero, width, hex] = m;
  const text = hex === 'x' ? v.toString(16) : String(v);
  return width ? text.padStart(Number(width), zero === '0' ? '0' : ' ') : text;
}

/** Evaluates a placeholder's expression for index `i`, or null when it is not one. */
export function evaluate(expr: string, i: number): number | null {
  const m = EXPRESSION.exec(expr);
  if (!m) return null;
  let v = i;
  for (const [, op, n] of m[1]!.matchAll(OPERATION)) {
    const k = Number(n);
    if (op === '+') v += k;
    else if (op === '-') v -= k;
    else if (op === '*') v *= k;
    else if (op === '/') v = k === 0 ? NaN : Math.floor(v / k);
    else v = k === 0 ? NaN : v % k;
  }
  return Number.isFinite(v) ? v : null;
}

function hasPlaceholder(text: string): boolean {
  return /\{[^{}]*\}/.test(text);
}

/** Placeholders of a text that are not valid expressions. */
function badPlaceholders(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].filter((m) => evaluate(m[1]!, 0) === null).map((m) => m[0]);
}

function expandString(text: string, i: number): string | number {
  const whole = /^\{([^{}:]*)\}$/.exec(text);
  if (whole) {
    const v = evaluate(whole[1]!, i);
    if (v !== null) return v;
  }
  return text.replace(PLACEHOLDER, (all, expr: string) => render(expr, i) ?? all);
}

/**
 * A template's body as a function of the index, built once: each instance then only renders the
 * strings that hold a placeholder, and gets its own objects (later steps may replace parts).
 */
function compileValue(v: unknown): (i: number) => unknown {
  if (typeof v === 'string') return hasPlaceholder(v) ? (i) => expandString(v, i) : () => v;
  if (Array.isArray(v)) {
    const items = v.map(compileValue);
    return (i) => items.map((item) => item(i));
  }
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).map(([k, x]) => {
      const key = hasPlaceholder(k) ? (i: number) => String(expandString(k, i)) : () => k;
      return [key, compileValue(x)] as const;
    });
    return (i) => {
      const out: Record<string, unknown> = {};
      for (const [key, value] of entries) out[key(i)] = value(i);
      return out;
    };
  }
  return () => v;
}

/** Every string in a template with an invalid placeholder, with its path. */
function* badStrings(v: unknown, path: (string | number)[]): Generator<{ path: (string | number)[]; bad: string[] }> {
  if (typeof v === 'string') {
    const bad = badPlaceholders(v);
    if (bad.length) yield { path, bad };
  } else if (Array.isArray(v)) {
    for (const [k, x] of v.entries()) yield* badStrings(x, [...path, k]);
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const bad = badPlaceholders(k);
      if (bad.length) yield { path: [...path, k], bad };
      yield* badStrings(x, [...path, k]);
    }
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Replaces every template host of `data.hosts` by its instances, in place and in order. Returns
 * the problems found (a template that cannot be expanded is left out, so later rules stay quiet).
 */
export function expandTemplates(data: unknown, locator: Locator): LabIssue[] {
  const issues: LabIssue[] = [];
  if (!isObject(data) || !isObject(data.hosts)) return issues;
  const hosts = data.hosts;
  const keys = Object.keys(hosts);
  if (!keys.some((k) => hasPlaceholder(k) || (isObject(hosts[k]) && ('count' in hosts[k] || 'start' in hosts[k])))) return issues;
  const plain = new Set(keys.filter((k) => !hasPlaceholder(k)));
  const made = new Map<string, string>();
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const value = hosts[key];
    const at = (path: (string | number)[], message: string, part: 'key' | 'value' = 'value') =>
      issues.push(locator.issue(['hosts', key, ...path], message, part));
    if (!hasPlaceholder(key)) {
      if (isObject(value) && ('count' in value || 'start' in value)) {
        at([], `host "${key}" has count/start but no {i} in its name: a template is named like h{i} (hosts h1, h2, ...)`, 'key');
        const { count: _c, start: _s, ...rest } = value;
        out[key] = rest;
      } else out[key] = value;
      continue;
    }
    const bad = badPlaceholders(key);
    if (bad.length) {
      at(
        [],
        `${bad.join(', ')} is not a placeholder: write {i}, or {i+N}, {i-N}, {i*N}, {i/N}, {i%N}, chains of them, and :03 or :02x to pad or write hex`,
        'key',
      );
      continue;
    }
    if (!isObject(value)) {
      at([], `template host "${key}" must be a mapping with count and the host's keys`);
      continue;
    }
    const { count, start = 1, ...template } = value;
    if (count === undefined) {
      at([], `template host "${key}" needs count: how many hosts it makes`, 'key');
      continue;
    }
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_TEMPLATE_COUNT) {
      at(['count'], `count must be an integer 1..${MAX_TEMPLATE_COUNT}`);
      continue;
    }
    if (typeof start !== 'number' || !Number.isInteger(start) || start < 0) {
      at(['start'], 'start must be an integer >= 0 (the first index)');
      continue;
    }
    let broken = false;
    for (const b of badStrings(template, [])) {
      at(
        b.path,
        `${b.bad.join(', ')} is not a placeholder: write {i}, or {i+N}, {i-N}, {i*N}, {i/N}, {i%N}, chains of them, and :03 or :02x to pad or write hex`,
      );
      broken = true;
    }
    if (broken) continue;
    const instance = compileValue(template);
    for (let i = start; i < start + count; i++) {
      const name = String(expandString(key, i));
      const clash = plain.has(name) ? `host "${name}"` : made.has(name) ? `"${made.get(name)}"` : null;
      if (clash) {
        at([], `template "${key}" makes host "${name}" (index ${i}), which ${clash} also defines: host names must be unique`, 'key');
        break;
      }
      made.set(name, key);
      locator.aliasHost(name, key, i, start);
      out[name] = instance(i);
    }
  }
  data.hosts = out;
  return issues;
}

/**
 * Issues reported for many instances of one template at the same text become one issue that
 * says how many hosts share it (the first instance's message stands for them).
 */
export function collapseTemplateIssues(issues: LabIssue[], locator: Locator): LabIssue[] {
  const out: LabIssue[] = [];
  const groups = new Map<string, { issue: LabIssue; template: string; more: number }>();
  for (const issue of issues) {
    const m = /^hosts\.([a-z][a-z0-9-]*)(.*)$/.exec(issue.path);
    const template = m ? locator.templateOf(m[1]!)?.template : undefined;
    if (!m || template === undefined) {
      out.push(issue);
      continue;
    }
    const key = `${issue.file}:${issue.line}:${issue.col}:${template}:${m[2]}`;
    const g = groups.get(key);
    if (g) g.more++;
    else {
      const entry = { issue: { ...issue }, template, more: 0 };
      groups.set(key, entry);
      out.push(entry.issue);
    }
  }
  for (const g of groups.values())
    if (g.more > 0) g.issue.message += ` (and in ${g.more} more host${g.more === 1 ? '' : 's'} of template ${g.template})`;
  return out;
}
