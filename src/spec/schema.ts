// The JSON Schema (schemas/lab.schema.json) and its compiled validator. The schema file is the
// reference for editors and for `netlab schema`; the formats it names are implemented here
// with the same parsers the semantic layer uses, so the two can never disagree.
import { readFileSync } from 'node:fs';
import Ajv2020Module from 'ajv/dist/2020.js';
import type { SpecIssue } from '../errors.js';
import { isUnicastMac, parseCidr, parseEndpoint, parseIp, parseMatch, parsePortRange } from './addr.js';
import type { Locator } from './locate.js';
import { parseDuration, parsePercent, parseRate, parseSize } from './units.js';
import type { RawLab } from './raw.js';
import { schemaIssues } from './schema-messages.js';

// src/spec/schema.ts and dist/spec/schema.js both sit two levels below the package root.
const SCHEMA_URL = new URL('../../schemas/lab.schema.json', import.meta.url);

/** The schema object (for `netlab schema`). */
export const labSchema: object = JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as object;

/** Custom formats: annotations for editors, enforced here. */
export const FORMATS: Record<string, (value: string) => boolean> = {
  'ip-address': (v) => parseIp(v) !== null,
  cidr: (v) => parseCidr(v) !== null,
  'route-to': (v) => v === 'default' || parseCidr(v) !== null,
  mac: isUnicastMac,
  'port-range': (v) => parsePortRange(v) !== null,
  endpoint: (v) => parseEndpoint(v) !== null,
  'host-or-cidr': (v) => parseMatch(v) !== null,
  'address-or-cidr': (v) => parseCidr(v) !== null || parseIp(v) !== null,
  'mac-ref': (v) => /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(v) || /^[a-z][a-z0-9-]{0,31}:[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(v),
  rate: (v) => parseRate(v) !== null,
  size: (v) => parseSize(v) !== null,
  duration: (v) => parseDuration(v) !== null,
  percent: (v) => parsePercent(v) !== null,
};

// ajv is CommonJS; under NodeNext its default export arrives as the module object.
const Ajv2020 = Ajv2020Module.default;
const ajv = new Ajv2020({
  allErrors: true,
  // parentSchema/data on each error: needed to suggest key names and describe bad values.
  verbose: true,
  allowUnionTypes: true,
  // dependentSchemas/if sub-schemas constrain an object without repeating `type: object`.
  strictTypes: false,
});
for (const [name, validate] of Object.entries(FORMATS)) ajv.addFormat(name, { type: 'string', validate });
const validator = ajv.compile<RawLab>(labSchema);

/** Validates parsed YAML data against the schema; issues carry positions from the locator. */
export function validateSchema(data: unknown, locator: Locator): { lab: RawLab | null; issues: SpecIssue[] } {
  if (validator(data)) return { lab: data, issues: [] };
  return { lab: null, issues: schemaIssues(validator.errors ?? [], data, locator) };
}
