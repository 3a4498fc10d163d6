// Units of link conditions, as written in lab files and on the command line (`netlab link`):
// rates in bits per second, sizes in bytes, durations, percentages. One parser per unit, used by
// the schema's formats, normalisation and the CLI, so they can never disagree.

const NUMBER = String.raw`(\d+(?:\.\d+)?|\.\d+)`;

/** Bits per second per unit (tc's units: k = 1000, ki = 1024). `bps` is refused: in tc it means bytes. */
const RATE_UNITS: Record<string, number> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  tbit: 1e12,
  kibit: 1024,
  mibit: 1024 ** 2,
  gibit: 1024 ** 3,
  tibit: 1024 ** 4,
};

/** Bytes per unit (tc's units: kb = 1024 bytes). */
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Microseconds per unit. */
const TIME_UNITS: Record<string, number> = {
  us: 1,
  µs: 1,
  usec: 1,
  ms: 1000,
  msec: 1000,
  s: 1e6,
  sec: 1e6,
};

/** Largest rate accepted: 1 Tbit/s. */
export const MAX_RATE_BIT = 1e12;
/** Largest delay or jitter accepted (netem keeps them in 32-bit ticks of 64 ns, so they must stay under 2^32 ticks). */
export const MAX_DURATION_US = 60e6;

function withUnit(v: string | number, units: Record<string, number>, bare: number): number | null {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v * bare : null;
  const m = new RegExp(`^\\s*${NUMBER}\\s*([a-zµ]*)\\s*$`, 'i').exec(v);
  if (!m) return null;
  const unit = m[2]!.toLowerCase();
  const factor = unit === '' ? bare : units[unit];
  return factor === undefined ? null : Number(m[1]) * factor;
}

/** `10mbit`, `512kbit`, `1gbit`, `1500000` (bit/s) -> bit/s, or null. Must be > 0. */
export function parseRate(v: string | number): number | null {
  const bits = withUnit(v, RATE_UNITS, 1);
  if (bits === null || bits < 1 || bits > MAX_RATE_BIT) return null;
  return Math.round(bits);
}

/** `32kb`, `1500`, `1mb` -> bytes, or null. Must be >= 1 byte. */
export function parseSize(v: string | number): number | null {
  const bytes = withUnit(v, SIZE_UNITS, 1);
  if (bytes === null || bytes < 1 || bytes > 2 ** 32 - 1) return null;
  return Math.round(bytes);
}

/** `50ms`, `1.5ms`, `200us`, `1s`; a bare number is milliseconds -> microseconds, or null. */
export function parseDuration(v: string | number): number | null {
  const us = withUnit(v, TIME_UNITS, 1000);
  if (us === null || us > MAX_DURATION_US) return null;
  // A string must carry its unit: `50` could be read as µs (tc) or ms (netlab).
  if (typeof v === 'string' && /^\s*[\d.]+\s*$/.test(v)) return null;
  return Math.round(us);
}

/** `20%`, `0.1%`, or a number 0..100 -> percent, or null. */
export function parsePercent(v: string | number): number | null {
  let p: number;
  if (typeof v === 'number') p = v;
  else {
    const m = new RegExp(`^\\s*${NUMBER}\\s*%\\s*$`).exec(v);
    if (!m) return null;
    p = Number(m[1]);
  }
  return Number.isFinite(p) && p >= 0 && p <= 100 ? p : null;
}

// ---- canonical text (also tc's syntax, so commands can embed it) ----------------------------

function trimNumber(n: number): string {
  return String(Number(n.toFixed(4)));
}

/** bit/s -> `10mbit`, `1500kbit`, `64bit` (the largest unit that divides it exactly). */
export function formatRate(bits: number): string {
  for (const [unit, f] of [
    ['tbit', 1e12],
    ['gbit', 1e9],
    ['mbit', 1e6],
    ['kbit', 1e3],
  ] as const)
    if (bits % f === 0) return `${bits / f}${unit}`;
  return `${bits}bit`;
}

/** bytes -> `32kb`, `1mb`, `1536b` (tc reads kb and mb as 1024 and 1024 * 1024 bytes). */
export function formatSize(bytes: number): string {
  if (bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2}mb`;
  if (bytes % 1024 === 0) return `${bytes / 1024}kb`;
  return `${bytes}b`;
}

/** µs -> `50ms`, `1500us`, `2s`. */
export function formatDuration(us: number): string {
  if (us !== 0 && us % 1e6 === 0) return `${us / 1e6}s`;
  if (us !== 0 && us % 1000 === 0) return `${us / 1000}ms`;
  return `${us}us`;
}

/** percent -> `20%`, `0.1%` (at most 4 decimals). */
export function formatPercent(p: number): string {
  return `${trimNumber(p)}%`;
}

/** What each unit looks like, for messages (schema formats and the CLI). */
export const UNIT_WORDS = {
  rate: 'a rate in bits per second like 10mbit, 512kbit or 1gbit (a bare number is bit/s; tc\'s "bps" means bytes, so write bit)',
  size: 'a size in bytes like 32kb, 1500 or 1mb (kb = 1024 bytes)',
  duration: 'a duration like 50ms, 1.5ms, 200us or 1s, at most 60s (a bare number is milliseconds)',
  percent: 'a percentage like 20%, 0.1% or a number 0..100',
} as const;
