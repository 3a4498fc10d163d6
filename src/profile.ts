// Opt-in profile of one netlab process (NETLAB_PROFILE=1): time spent in each stage (load, lab,
// preflight, observe, plan, execute) and how many processes were started, printed to stderr as
// one line `NETLAB_PROFILE {json}` when the process exits. `npm run bench` reads it.
// NETLAB_PROFILE=timeline also lists when each stage ran (ms from process start): stages overlap,
// and which of them waits for which is what a profile of a run is read for.
const enabled = Boolean(process.env.NETLAB_PROFILE);
const withTimeline = process.env.NETLAB_PROFILE === 'timeline';
const spans: Record<string, number> = {};
const counts: Record<string, number> = {};
/**
 * Milliseconds from process start until the first stage began: starting node, loading and
 * evaluating every module (the JSON-schema compile included) and parsing the command line.
 */
let loadedAt: number | null = null;

function started(): number {
  const now = performance.now();
  loadedAt ??= now;
  return now;
}

const timeline: string[] = [];

function add(name: string, ms: number): void {
  spans[name] = (spans[name] ?? 0) + ms;
  if (withTimeline) {
    const end = performance.now();
    timeline.push(`${(end - ms).toFixed(1)}-${end.toFixed(1)} ${name}`);
  }
}

export const profile = {
  enabled,
  /** Times an async stage; nested or repeated stages add up under their name. */
  async time<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (!enabled) return fn();
    const t = started();
    try {
      return await fn();
    } finally {
      add(name, performance.now() - t);
    }
  },
  /** Times a synchronous stage. */
  timeSync<T>(name: string, fn: () => T): T {
    if (!enabled) return fn();
    const t = started();
    try {
      return fn();
    } finally {
      add(name, performance.now() - t);
    }
  },
  /** Adds to a counter; returns its new value. */
  count(name: string, n = 1): number {
    if (enabled) counts[name] = (counts[name] ?? 0) + n;
    return counts[name] ?? 0;
  },
};

if (enabled)
  process.on('exit', () => {
    const round = (v: number) => Math.round(v * 10) / 10;
    const report = {
      totalMs: round(performance.now()),
      loadMs: round(loadedAt ?? performance.now()),
      spans: Object.fromEntries(Object.entries(spans).map(([k, v]) => [k, round(v)])),
      counts,
      maxRssKb: process.resourceUsage().maxRSS,
      ...(timeline.length ? { timeline } : {}),
    };
    process.stderr.write(`NETLAB_PROFILE ${JSON.stringify(report)}\n`);
  });
