// Lab file bytes to text, with the limits every lab file is held to; no YAML library here, so
// loading a cached lab (see cache.ts) never loads the parser.
import type { LabIssue } from '../errors.js';
import { LAB_NAME_PATTERN } from './names.js';

/**
 * Anything bigger is a mistake or an attack on the parser. Room for `netlab gen`'s biggest star
 * (65533 hosts) with room to spare: validation is linear in the size of the file.
 */
export const MAX_LAB_BYTES = 32 * 1024 * 1024;

/** An issue about the file as a whole (or at a position computed without the parser). */
export function issueAt(file: string, message: string, line = 1, col = 1): LabIssue {
  return { file, line, col, path: '', message };
}

export function tooBig(file: string, bytes: number): LabIssue {
  return issueAt(file, `file is ${bytes} bytes; lab files are limited to ${MAX_LAB_BYTES / (1024 * 1024)} MiB (${MAX_LAB_BYTES} bytes)`);
}

/** Decodes file bytes as UTF-8 text, or reports why they are not a lab file. */
export function decodeLabBytes(file: string, bytes: Uint8Array): { text: string | null; issues: LabIssue[] } {
  if (bytes.length > MAX_LAB_BYTES) return { text: null, issues: [tooBig(file, bytes.length)] };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), issues: [] };
  } catch {
    return { text: null, issues: [issueAt(file, 'file is not valid UTF-8 text')] };
  }
}

/**
 * The lab name a file declares on a plain top-level `name:` line, read without the YAML parser
 * so work for that lab can start while the file is checked; null when not written plainly. Only
 * a hint: the checked lab's own name decides.
 */
export function declaredName(text: string): string | null {
  const m = /^name:[ \t]*(["']?)([^\s"'#]+)\1[ \t\r]*(?:#.*)?$/m.exec(text);
  return m && LAB_NAME_PATTERN.test(m[2]!) ? m[2]! : null;
}
