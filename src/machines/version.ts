// This netlab's version, which every machine of a lab across machines must run too.
import { readFileSync } from 'node:fs';

/** From package.json, two levels above both src/machines and dist/machines. */
export function netlabVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
