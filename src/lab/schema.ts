// The JSON Schema (schemas/lab.schema.json) and its validator. The schema file is the reference
// for editors and for `netlab schema`; the formats it names are in formats.ts. The validator is
// the one precompiled at build time (schema-compile.ts) when it was made from this schema text,
// else compiled now.
import { readFileSync } from 'node:fs';
import type { LabIssue } from '../errors.js';
import type { Locator } from './locate.js';
import type { RawLab } from './raw.js';
import { PRECOMPILED_URL, SCHEMA_URL, schemaHash } from './schema-source.js';
import { schemaIssues } from './schema-messages.js';
import type { ErrorObject } from 'ajv/dist/2020.js';

export { FORMATS } from './formats.js';

const schemaText = readFileSync(SCHEMA_URL, 'utf8');

/** The schema object (for `netlab schema`). */
export const labSchema: object = JSON.parse(schemaText) as object;

interface Validator {
  (data: unknown): data is RawLab;
  errors?: ErrorObject[] | null;
}

async function loadValidator(): Promise<Validator> {
  const pre = (await import(PRECOMPILED_URL.href).catch(() => null)) as { default: Validator; schemaHash: string } | null;
  if (pre && pre.schemaHash === schemaHash(schemaText)) return pre.default;
  const { compileValidator } = await import('./schema-compile.js');
  return compileValidator(labSchema) as Validator;
}

const validator = await loadValidator();

/** The schema's raw errors for some data (for data checked as part of a lab, e.g. a manifest's policy). */
export function schemaErrors(data: unknown): ErrorObject[] {
  return validator(data) ? [] : [...(validator.errors ?? [])];
}

/** Validates parsed YAML data against the schema; issues carry positions from the locator. */
export function validateSchema(data: unknown, locator: Locator): { lab: RawLab | null; issues: LabIssue[] } {
  if (validator(data)) return { lab: data, issues: [] };
  return { lab: null, issues: schemaIssues(validator.errors ?? [], data, locator) };
}
