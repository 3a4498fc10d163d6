// Durations on the command line: `--interval 30s`, `--debounce 300ms`, `--timeout 1s`.
import { UsageError } from '../errors.js';

/** `500ms`, `30s`, `5m`, `1h`; a bare number is seconds. Milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`"${text}" is not a duration (e.g. 500ms, 30s, 5m)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}
