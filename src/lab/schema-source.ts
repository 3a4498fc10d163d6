// Where the schema and its precompiled validator live, and the hash that ties the two together.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

// src/lab/*.ts and dist/lab/*.js both sit two levels below the package root.
export const SCHEMA_URL = new URL('../../schemas/lab.schema.json', import.meta.url);
export const PRECOMPILED_URL = new URL('./lab-validator.js', import.meta.url);

export function schemaHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The schema as an object (for `netlab schema`), read without loading its validator. */
export function readLabSchema(): object {
  return JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as object;
}
