// Link conditions (rate, delay, loss, ...): an interface's own `conditions` merged key by key over
// those of its link, the rules about keys that need each other, and the normalised values.
import type { IfaceEntry, LabContext } from './context.js';
import { formatPath, type Path } from './locate.js';
import type { RawConditions } from './raw.js';
import type { LinkConditions } from './types.js';
import { formatSize, parseDuration, parsePercent, parseRate, parseSize } from './units.js';

type Key = keyof RawConditions;
const KEYS: Key[] = ['rate', 'burst', 'delay', 'jitter', 'loss', 'duplicate', 'reorder', 'corrupt', 'limit'];

/** Ethernet header bytes a packet carries on top of the MTU. */
const L2_HEADER = 14;

interface Merged {
  values: RawConditions;
  /** Where each key was written. */
  paths: Partial<Record<Key, Path>>;
  /** Where the conditions were written: the interface's, else the link's. */
  path: Path;
}

function merged(ctx: LabContext, e: IfaceEntry): Merged | null {
  const link = e.link ? ctx.raw.links?.[e.link.index]?.conditions : undefined;
  const own = e.raw.conditions;
  if (!link && !own) return null;
  const linkPath: Path = e.link ? ['links', e.link.index, 'conditions'] : [];
  const ownPath: Path = [...e.path, 'conditions'];
  const values: RawConditions = {};
  const paths: Merged['paths'] = {};
  for (const k of KEYS) {
    const v = own?.[k] ?? link?.[k];
    if (v === undefined) continue;
    (values as Record<Key, unknown>)[k] = v;
    paths[k] = [...(own?.[k] !== undefined ? ownPath : linkPath), k];
  }
  return { values, paths, path: own ? ownPath : linkPath };
}

function mtuOf(ctx: LabContext, e: IfaceEntry): number {
  const peer = ctx.peer(e);
  return e.raw.mtu ?? e.link?.mtu ?? peer?.raw.mtu ?? 1500;
}

/** Semantic rules: keys that need another key, and a burst that fits a packet. Each problem once. */
export function checkConditions(ctx: LabContext): void {
  const seen = new Set<string>();
  const report = (path: Path, message: string) => {
    const key = `${formatPath(path)}\0${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    ctx.report(path, message, 'key');
  };
  for (const host of ctx.hosts.values()) {
    for (const e of host.ifaces.values()) {
      const m = merged(ctx, e);
      if (!m) continue;
      const v = m.values;
      const delay = v.delay === undefined ? 0 : (parseDuration(v.delay) ?? 0);
      if (v.jitter !== undefined && delay === 0)
        report(m.paths.jitter!, 'jitter needs a delay: netem varies the delay by up to the jitter (add delay: 10ms, say)');
      if (v.reorder !== undefined && delay === 0)
        report(m.paths.reorder!, 'reorder needs a delay: reordered packets are the ones sent at once while the others wait for it');
      if (v.burst !== undefined && v.rate === undefined) report(m.paths.burst!, 'burst only applies with a rate (the token bucket)');
      const burst = v.burst === undefined ? null : parseSize(v.burst);
      const packet = mtuOf(ctx, e) + L2_HEADER;
      if (burst !== null && v.rate !== undefined && burst < packet) {
        report(
          m.paths.burst!,
          `burst ${formatSize(burst)} is less than one full packet of ${host.name}:${e.name} (MTU ${packet - L2_HEADER} + ${L2_HEADER} bytes of Ethernet header): the token bucket would drop every full-size packet; use at least ${packet}`,
        );
      }
    }
  }
}

const zeroIsNull = (n: number | null) => (n === null || n === 0 ? null : n);

/** The conditions of one interface in plain units, or null when it has none. */
export function normaliseConditions(ctx: LabContext, e: IfaceEntry): LinkConditions | null {
  const m = merged(ctx, e);
  if (!m) return null;
  const v = m.values;
  const get = <T>(k: Key, parse: (x: string | number) => T | null): T | null => (v[k] === undefined ? null : parse(v[k]));
  const c = {
    rate: get('rate', parseRate),
    burst: get('burst', parseSize),
    delay: zeroIsNull(get('delay', parseDuration)),
    jitter: zeroIsNull(get('jitter', parseDuration)),
    loss: zeroIsNull(get('loss', parsePercent)),
    duplicate: zeroIsNull(get('duplicate', parsePercent)),
    reorder: zeroIsNull(get('reorder', parsePercent)),
    corrupt: zeroIsNull(get('corrupt', parsePercent)),
    limit: get('limit', (x) => (typeof x === 'number' ? x : null)),
  };
  if (Object.values(c).every((x) => x === null)) return null;
  return { ...c, pos: ctx.locator.source(m.path) };
}
