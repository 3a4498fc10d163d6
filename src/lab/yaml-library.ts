// The full YAML parser, loaded on first use: most lab files are plain enough for fast-yaml.ts,
// and loading the library is a good part of checking a small file. Its CommonJS build is what
// lets synchronous code load it late.
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

let library: typeof Yaml | null = null;

export function yamlLibrary(): typeof Yaml {
  library ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return library;
}
