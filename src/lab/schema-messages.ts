// Turns ajv's errors into the messages a person can act on: positions from the YAML,
// `did you mean` for misspelt keys and enum values, and patterns/formats in words.
import type { ErrorObject } from 'ajv/dist/2020.js';
import type { LabIssue } from '../errors.js';
import type { Locator, Part, Path } from './locate.js';
import { SYSCTL_KEY_PATTERN, SYSCTL_KEY_WORDS } from './names.js';
import { didYouMean } from './suggest.js';
import { UNIT_WORDS } from './units.js';

/** What each pattern in the schema means, in words (the schema test checks none is missing). */
export const PATTERN_WORDS: Record<string, string> = {
  '^[a-z][a-z0-9-]{0,23}$': 'a lowercase letter, then up to 23 lowercase letters, digits or "-"',
  '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$': 'up to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
  '^[a-z][a-z0-9-]{0,31}$': 'a lowercase letter, then up to 31 lowercase letters, digits or "-"',
  '^[A-Za-z0-9_][A-Za-z0-9_.-]*$': 'letters, digits, "_", "." or "-", not starting with "." or "-"',
  '^([a-z][a-z0-9-]{0,31}:)?[A-Za-z0-9_][A-Za-z0-9_.-]*$': 'IFNAME in this host or HOST:IFNAME, e.g. eth0 or node1:eth0',
  '^[a-z][a-z0-9-]{0,31}:[A-Za-z0-9_][A-Za-z0-9_.-]*$': 'HOST:IFNAME, e.g. web:eth0',
  '^root$': '"root" or a mapping with one of name, path or pid',
  '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$': 'a namespace name in /run/netns (letters, digits, "_", "." or "-")',
  '^/[^\\u0000]*$': 'an absolute path, e.g. /proc/1234/ns/net',
  [SYSCTL_KEY_PATTERN]: SYSCTL_KEY_WORDS,
  '^[^\\n\\r]*$': 'a single line',
  '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$':
    'a Kubernetes name: up to 63 lowercase letters, digits or "-", starting and ending with a letter or digit',
  '^([a-z][a-z0-9-]{0,31}|[a-z0-9-]*(\\{[^{}]*\\}[a-z0-9-]*)+)$':
    'a host name (a lowercase letter, then up to 31 lowercase letters, digits or "-"), or a template name with {i}, e.g. h{i}',
  '^(0x[0-9a-fA-F]{1,8}|[0-9]{1,10})(/(0x[0-9a-fA-F]{1,8}|[0-9]{1,10}))?$': 'a mark, e.g. 16 or 0x10, optionally with a mask: 0x10/0xff',
  '^ipv[46]\\.(neigh\\.)?[a-z0-9_]+$': 'ipv4.NAME or ipv6.NAME (net.ipv4.conf.<if>.NAME), or ipv4.neigh.NAME (net.ipv4.neigh.<if>.NAME)',
};

/** What each custom format means, in words. */
export const FORMAT_WORDS: Record<string, string> = {
  'ip-address': 'an IPv4 or IPv6 address, e.g. 10.0.0.1 or fd00::1',
  cidr: 'an address with prefix length, e.g. 10.0.0.1/24 or fd00::1/64',
  'route-to': '"default" or a CIDR, e.g. 10.1.0.0/16',
  mac: 'a unicast MAC address, e.g. 02:00:00:00:00:01',
  'port-range': 'a port 1..65535 or a range like 5000-5010',
  endpoint: 'HOST:PORT, ADDRESS:PORT or [IPV6]:PORT, e.g. web:80',
  'host-or-cidr': 'a host name, an address or a CIDR',
  'address-or-cidr': 'an address or a CIDR, e.g. 10.0.0.0/24 or fd00::1',
  'mac-ref': 'a MAC address (02:00:00:00:00:01) or HOST:IF for the MAC of an interface of the lab',
  ...UNIT_WORDS,
};

/** Which kind of name a `propertyNames` rule checks, by the map it sits on. */
const NAME_OF: Record<string, string> = { hosts: 'host name', interfaces: 'interface name', sysctls: 'sysctl name' };

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  null: 'null',
};

function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return 'a list';
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

function orList(values: unknown[]): string {
  const words = values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

function quotedList(values: unknown[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

/** JSON pointer -> path, with array indexes as numbers (so they print as `[2]`). */
function toPath(pointer: string, data: unknown): Path {
  const path: Path = [];
  let cur: unknown = data;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      path.push(Number(seg));
      cur = cur[Number(seg)];
    } else {
      path.push(seg);
      cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
    }
  }
  return path;
}

interface Mapped {
  path: Path;
  part: Part;
  message: string;
}

function propsOf(schema: unknown): string[] {
  const props = (schema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? Object.keys(props) : [];
}

/** Errors from `dependentSchemas`: a key that only makes sense with another key's value (`stp` needs kind bridge). */
function dependentMessage(err: ErrorObject, path: Path, trigger: string): Mapped {
  const objectPath = err.keyword === 'required' ? path : path.slice(0, -1);
  let on: string;
  let allowed: unknown[];
  if (err.keyword === 'required') {
    on = String(err.params.missingProperty);
    const prop = (err.parentSchema as { properties?: Record<string, { const?: unknown; enum?: unknown[] }> }).properties?.[on];
    allowed = prop?.enum ?? (prop && 'const' in prop ? [prop.const] : []);
  } else {
    on = String(path[path.length - 1]);
    allowed = err.keyword === 'const' ? [err.params.allowedValue] : ((err.params.allowedValues as unknown[]) ?? []);
  }
  return { path: [...objectPath, trigger], part: 'key', message: `"${trigger}" only applies to ${on} ${orList(allowed)}` };
}

function mapError(err: ErrorObject, data: unknown): Mapped {
  const path = toPath(err.instancePath, data);
  const dependent = /\/dependentSchemas\/([^/]+)\//.exec(err.schemaPath);
  if (dependent) return dependentMessage(err, path, dependent[1]!.replace(/~1/g, '/').replace(/~0/g, '~'));

  if (err.propertyName !== undefined) {
    const map = String(path[path.length - 1] ?? '');
    const what = NAME_OF[map] ?? 'key';
    const words = err.keyword === 'pattern' ? PATTERN_WORDS[String(err.params.pattern)] : undefined;
    const why = words ? `must be ${words}` : (err.message ?? 'is not allowed');
    return { path: [...path, err.propertyName], part: 'key', message: `invalid ${what} ${JSON.stringify(err.propertyName)}: ${why}` };
  }

  switch (err.keyword) {
    case 'additionalProperties': {
      const key = String(err.params.additionalProperty);
      const allowed = propsOf(err.parentSchema);
      const hint = didYouMean(key, allowed) || (allowed.length > 0 ? `; allowed keys: ${allowed.join(', ')}` : '');
      return { path: [...path, key], part: 'key', message: `unknown key "${key}"${hint}` };
    }
    case 'required': {
      const key = String(err.params.missingProperty);
      const kind = (err.data as { kind?: unknown } | null)?.kind;
      // Required by an if/then on `kind`: say which kind needs it.
      const why = err.schemaPath.includes('/then/') && typeof kind === 'string' ? ` (kind ${kind} needs it)` : '';
      return { path, part: 'key', message: `missing required key "${key}"${why}` };
    }
    case 'type': {
      const types = ([] as string[]).concat(err.params.type as string | string[]).map((t) => TYPE_WORDS[t] ?? t);
      // `web:` with nothing after it is null in YAML; say how to write an empty one.
      const empty = err.data == null && types.includes('a mapping') ? '; write {} for an empty mapping' : '';
      return { path, part: 'value', message: `must be ${orList(types)} (got ${describeValue(err.data)})${empty}` };
    }
    case 'enum': {
      const allowed = err.params.allowedValues as unknown[];
      const hint = typeof err.data === 'string' ? didYouMean(err.data, allowed.map(String)) : '';
      return { path, part: 'value', message: `must be one of ${quotedList(allowed)} (got ${describeValue(err.data)})${hint}` };
    }
    case 'const':
      return { path, part: 'value', message: `must be ${JSON.stringify(err.params.allowedValue)}` };
    case 'pattern': {
      const words = PATTERN_WORDS[String(err.params.pattern)];
      return { path, part: 'value', message: words ? `must be ${words} (got ${describeValue(err.data)})` : (err.message ?? 'is invalid') };
    }
    case 'format': {
      const words = FORMAT_WORDS[String(err.params.format)];
      return {
        path,
        part: 'value',
        message: `must be ${words ?? `in format ${String(err.params.format)}`} (got ${describeValue(err.data)})`,
      };
    }
    case 'minProperties':
    case 'maxProperties': {
      const names = propsOf(err.parentSchema);
      const exact = (err.parentSchema as { minProperties?: number; maxProperties?: number }) ?? {};
      if (names.length > 0 && exact.minProperties === 1 && exact.maxProperties === 1) {
        return { path, part: 'key', message: `must have exactly one of ${quotedList(names)}` };
      }
      if (err.keyword === 'minProperties' && err.params.limit === 1) return { path, part: 'key', message: 'must not be empty' };
      return { path, part: 'key', message: err.message ?? 'has the wrong number of keys' };
    }
    case 'uniqueItems':
      return {
        path,
        part: 'value',
        message: `must not repeat an item (items ${String(err.params.j)} and ${String(err.params.i)} are equal)`,
      };
    case 'minItems':
      return { path, part: 'value', message: `must have at least ${String(err.params.limit)} item(s)` };
    default:
      // minimum/maximum and friends: ajv's own words are already human (`must be <= 65535`).
      return { path, part: 'value', message: err.message ?? `fails ${err.keyword}` };
  }
}

/** `anyOf` whose branches each only require a key: "needs at least one of via or dev". */
function anyOfMessage(err: ErrorObject, branches: ErrorObject[], data: unknown): Mapped {
  const path = toPath(err.instancePath, data);
  if (branches.length > 0 && branches.every((b) => b.keyword === 'required')) {
    const keys = branches.map((b) => String(b.params.missingProperty));
    return { path, part: 'key', message: `needs at least one of ${quotedList(keys)}` };
  }
  return { path, part: 'value', message: 'does not match any allowed form' };
}

export function schemaIssues(errors: ErrorObject[], data: unknown, locator: Locator): LabIssue[] {
  // `if` and `propertyNames` only restate the errors of their sub-schemas.
  let pending = errors.filter((e) => e.keyword !== 'if' && e.keyword !== 'propertyNames');
  const mapped: Mapped[] = [];
  for (const err of pending.filter((e) => e.keyword === 'anyOf')) {
    // ajv reports a failed anyOf's branch errors just before it; through a $ref their schema
    // path is the referenced one, so they are found by place: at or below the value, adjacent.
    const under = (e: ErrorObject) => e.instancePath === err.instancePath || e.instancePath.startsWith(`${err.instancePath}/`);
    const end = pending.indexOf(err);
    let start = end;
    while (start > 0 && pending[start - 1]!.keyword !== 'anyOf' && under(pending[start - 1]!)) start--;
    const branches = pending.slice(start, end);
    mapped.push(anyOfMessage(err, branches, data));
    pending = pending.filter((e) => !branches.includes(e));
  }
  for (const err of pending) if (err.keyword !== 'anyOf') mapped.push(mapError(err, data));

  const seen = new Set<string>();
  const issues: LabIssue[] = [];
  for (const m of mapped) {
    const issue = locator.issue(m.path, m.message, m.part);
    const key = `${issue.path}\0${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return issues;
}
