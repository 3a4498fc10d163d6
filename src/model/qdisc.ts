// Link conditions as tc qdiscs on an interface's egress. The tree netlab builds at the root:
//
//   netem (delay, jitter, loss, duplicate, reorder, corrupt; limit)  [+ tbf child: rate, burst]
//   tbf (rate, burst)                                                 [+ pfifo child: limit]
//   pfifo (limit)
//
// Values are kept as canonical text in tc's syntax, quantised to what the kernel reports back
// (`tc -j` prints rates in bytes/s, delays in seconds truncated to 64 ns ticks and 6 significant
// digits, percentages as fractions, and a burst recomputed from time), so that desired == observed
// after an apply and a re-apply is 0 steps.
import type { Lab, LinkConditions } from '../lab/types.js';
import { formatDuration, formatPercent, formatRate, formatSize, parseDuration, parsePercent, parseRate, parseSize } from '../lab/units.js';
import { PHASE, type Operation } from './operations.js';
import { type Kind, onOneDevice } from './kind.js';
import { canonicalJson, ids, nsLabel, type QdiscObj } from './objects.js';

/** Conditions in plain units (see LinkConditions), without a position. */
export type Conditions = Omit<LinkConditions, 'pos'>;

export const NO_CONDITIONS: Conditions = {
  rate: null,
  burst: null,
  delay: null,
  jitter: null,
  loss: null,
  duplicate: null,
  reorder: null,
  corrupt: null,
  limit: null,
};

/** netem's own default queue length (packets). */
export const NETEM_DEFAULT_LIMIT = 1000;
const MIN_DEFAULT_BURST = 16 * 1024;
const ROOT_HANDLE = '1:';
const CHILD_HANDLE = '2:';

/** Keys that need netem (the rest is a token bucket and a queue). */
export const NETEM_KEYS = ['delay', 'jitter', 'loss', 'duplicate', 'reorder', 'corrupt'] as const;

export function needsNetem(c: Conditions): boolean {
  return NETEM_KEYS.some((k) => c[k] !== null && c[k] !== 0);
}

// ---- quantisation -----------------------------------------------------------------------------

/**
 * The grid a burst is kept on at this rate. The kernel stores the bucket as time and reports it
 * back as bytes up to `1us` worth of the rate lower (a byte at 10mbit, a KiB at 10gbit), so
 * desired bursts are rounded up to the grid and observed ones to the nearest grid point.
 */
export function burstGrid(rateBit: number): number {
  const bytesPerUs = rateBit / 8 / 1e6;
  let g = 256;
  while (g < bytesPerUs * 4) g *= 2;
  return g;
}

/** tc prints delays with 6 significant digits after truncating to 64 ns ticks: a grid of `10us` below `1s`, coarser above. */
function timeGrid(us: number): number {
  return us < 1e6 ? 10 : us < 1e7 ? 100 : 1000;
}

const onGrid = (v: number, g: number) => Math.max(g, Math.round(v / g) * g);
const percent4 = (p: number) => Math.round(p * 1e4) / 1e4;
const nonZero = (v: number | null) => (v === null || v === 0 ? null : v);

/** The rate as the kernel keeps it: whole bytes per second. */
export function rateBytes(rateBit: number): number {
  return Math.max(1, Math.round(rateBit / 8));
}

/** Default burst: what the rate sends in `10ms`, in whole KiB, at least 16 KiB. */
export function defaultBurst(rateBit: number): number {
  return Math.max(MIN_DEFAULT_BURST, Math.ceil((rateBytes(rateBit) * 10) / 1000 / 1024) * 1024);
}

/** Byte limit of the token bucket's own queue: the burst plus what the rate sends in tc's `latency 50ms`. */
function tbfQueueBytes(rateBit: number, burst: number): number {
  return burst + Math.ceil((rateBytes(rateBit) * 50) / 1000);
}

function kindsOf(c: Conditions): string[] {
  const netem = needsNetem(c);
  if (netem) return c.rate !== null ? ['netem', 'tbf'] : ['netem'];
  if (c.rate !== null) return c.limit !== null ? ['tbf', 'pfifo'] : ['tbf'];
  return c.limit !== null ? ['pfifo'] : [];
}

/**
 * The object for conditions on `dev`, or null when there are none. `from` says which rounding a
 * burst gets: a desired one rounds up to its grid (never below what was asked), an observed one to
 * the nearest grid point.
 */
export function qdiscObject(
  ns: string,
  dev: string,
  c: Conditions,
  from: 'desired' | 'observed',
  tree?: { handle: string; kinds: string[] },
): QdiscObj | null {
  const kinds = kindsOf(c);
  if (!kinds.length) return null;
  const time = (us: number | null) => {
    const v = nonZero(us);
    return v === null ? null : formatDuration(onGrid(v, timeGrid(v)));
  };
  const pct = (p: number | null) => {
    const v = nonZero(p === null ? null : percent4(p));
    return v === null ? null : formatPercent(v);
  };
  let rate: string | null = null;
  let burst: string | null = null;
  if (c.rate !== null) {
    const bytes = rateBytes(c.rate);
    rate = formatRate(bytes * 8);
    const g = burstGrid(bytes * 8);
    const b = c.burst ?? defaultBurst(c.rate);
    burst = formatSize(from === 'desired' ? Math.ceil(b / g) * g : onGrid(b, g));
  }
  const netem = kinds[0] === 'netem';
  return {
    kind: 'qdisc',
    id: ids.qdisc(ns, dev),
    ns,
    dev,
    handle: tree?.handle ?? ROOT_HANDLE,
    kinds: tree?.kinds ?? kinds,
    rate,
    burst,
    delay: time(c.delay),
    jitter: netem && c.delay ? time(c.jitter) : null,
    loss: pct(c.loss),
    duplicate: pct(c.duplicate),
    reorder: netem && c.delay ? pct(c.reorder) : null,
    corrupt: pct(c.corrupt),
    limit: netem ? (c.limit ?? NETEM_DEFAULT_LIMIT) : c.limit,
  };
}

/** The conditions an object stands for, in plain units (to change some of them, as `netlab link` does). */
export function conditionsOf(o: QdiscObj | null | undefined): Conditions {
  if (!o) return { ...NO_CONDITIONS };
  return {
    rate: o.rate === null ? null : parseRate(o.rate),
    burst: o.burst === null ? null : parseSize(o.burst),
    delay: o.delay === null ? null : parseDuration(o.delay),
    jitter: o.jitter === null ? null : parseDuration(o.jitter),
    loss: o.loss === null ? null : parsePercent(o.loss),
    duplicate: o.duplicate === null ? null : parsePercent(o.duplicate),
    reorder: o.reorder === null ? null : parsePercent(o.reorder),
    corrupt: o.corrupt === null ? null : parsePercent(o.corrupt),
    limit: o.limit,
  };
}

/** One line of human text: `rate 10mbit burst 32kb, delay 50ms ±5ms, loss 20%`. */
export function describeConditions(o: QdiscObj | null | undefined): string {
  if (!o) return 'none';
  const parts: string[] = [];
  if (o.rate) parts.push(`rate ${o.rate} burst ${o.burst}`);
  if (o.delay) parts.push(`delay ${o.delay}${o.jitter ? ` ±${o.jitter}` : ''}`);
  for (const k of ['loss', 'duplicate', 'reorder', 'corrupt'] as const) if (o[k]) parts.push(`${k} ${o[k]}`);
  if (o.limit !== null) parts.push(`limit ${o.limit}`);
  return parts.join(', ');
}

export function desiredQdiscs(lab: Lab): QdiscObj[] {
  const out: QdiscObj[] = [];
  for (const h of lab.hosts)
    for (const i of h.interfaces) {
      const o = i.conditions ? qdiscObject(h.ns, i.ifname, i.conditions, 'desired') : null;
      if (o) out.push(o);
    }
  return out;
}

// ---- observation ------------------------------------------------------------------------------

/** One entry of `tc -raw -j qdisc show`. */
export interface RawQdisc {
  kind: string;
  handle: string;
  dev?: string;
  root?: boolean;
  parent?: string;
  options?: Record<string, unknown>;
}

const MANAGED_ROOTS = new Set(['netem', 'tbf', 'pfifo']);

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** A netem option like `"delay": { "delay": 0.05, "jitter": 0.005 }` (fractions and seconds). */
function sub(opts: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = opts[key];
  return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
}

/**
 * The conditions netlab manages, from a namespace's `tc -raw -j qdisc show`: a netem, tbf or pfifo
 * root (not the default one, handle 0:) and its child. Other roots (noqueue, pfifo_fast, ...) are
 * no conditions.
 */
export function parseQdiscs(ns: string, raws: RawQdisc[]): QdiscObj[] {
  const out: QdiscObj[] = [];
  for (const r of raws) {
    if (!r.root || !r.dev || !MANAGED_ROOTS.has(r.kind) || r.handle === '0:') continue;
    const parent = `${r.handle.replace(/:$/, '')}:1`;
    const child = raws.find((x) => x.dev === r.dev && x.parent === parent);
    const opts = r.options ?? {};
    const c: Conditions = { ...NO_CONDITIONS };
    const kinds = [r.kind];
    const tbf = (o: Record<string, unknown>) => {
      const bytes = num(o.rate);
      c.rate = bytes === null ? null : bytes * 8;
      c.burst = num(o.burst);
    };
    if (r.kind === 'netem') {
      const delay = sub(opts, 'delay');
      const secs = (v: unknown) => (num(v) === null ? null : Math.round(num(v)! * 1e6));
      const frac = (v: unknown) => (num(v) === null ? null : num(v)! * 100);
      c.delay = secs(delay.delay);
      c.jitter = secs(delay.jitter);
      c.loss = frac(sub(opts, 'loss-random').loss);
      // A loss model netlab does not write (Gilbert-Elliott, 4-state): never equal to a desired loss.
      if (c.loss === null && Object.keys(opts).some((k) => k.startsWith('loss-'))) c.loss = 100;
      c.duplicate = frac(sub(opts, 'duplicate').duplicate);
      c.reorder = frac(sub(opts, 'reorder').reorder);
      c.corrupt = frac(sub(opts, 'corrupt').corrupt);
      c.limit = num(opts.limit);
      if (child?.kind === 'tbf') tbf(child.options ?? {});
    } else if (r.kind === 'tbf') {
      tbf(opts);
      if (child?.kind === 'pfifo') c.limit = num(child.options?.limit);
    } else {
      c.limit = num(opts.limit);
    }
    if (child) kinds.push(child.kind);
    // A root with nothing set (netem without impairments) still has its queue limit, so it is an object.
    const o = qdiscObject(ns, r.dev, c, 'observed', { handle: r.handle, kinds });
    if (o) out.push(o);
  }
  return out;
}

// ---- operations -------------------------------------------------------------------------------

/** What one qdisc of the tree is given, every option written (netem keeps reorder and corrupt unless told). */
export type QdiscParams =
  | { kind: 'netem'; limit: number; delay: string; jitter: string; loss: string; duplicate: string; reorder: string; corrupt: string }
  /** `rate: null`: a token bucket without a rate, which tc refuses. */
  | { kind: 'tbf'; rate: string; burst: string; limit: number }
  | { kind: 'tbf'; rate: null }
  | { kind: 'pfifo'; limit: number | null };

export function qdiscParams(kind: string, o: QdiscObj): QdiscParams {
  if (kind === 'netem')
    return {
      kind,
      limit: o.limit ?? NETEM_DEFAULT_LIMIT,
      delay: o.delay ?? '0us',
      jitter: o.jitter ?? '0us',
      loss: o.loss ?? '0%',
      duplicate: o.duplicate ?? '0%',
      reorder: o.reorder ?? '0%',
      corrupt: o.corrupt ?? '0%',
    };
  if (kind === 'tbf') {
    const rate = o.rate === null ? null : parseRate(o.rate);
    const burst = o.burst === null ? null : parseSize(o.burst);
    if (rate === null || burst === null || o.rate === null || o.burst === null) return { kind, rate: null };
    return { kind, rate: o.rate, burst: o.burst, limit: tbfQueueBytes(rate, burst) };
  }
  return { kind: 'pfifo', limit: o.limit };
}

/** The child qdisc's parent class under a root of this handle (`1:` -> `1:1`). */
const childParent = (handle: string) => `${handle.replace(/:$/, '')}:1`;

/** Builds the tree at the root of `o.dev` (replacing a default root qdisc). */
export function createQdisc(o: QdiscObj): Operation[] {
  const desired: QdiscObj = { ...o, handle: ROOT_HANDLE };
  const [root, child] = o.kinds;
  const at = { op: 'qdisc.replace' as const, ns: o.ns, qdisc: desired, phase: PHASE.qdisc };
  const ops: Operation[] = [{ ...at, parent: null, handle: ROOT_HANDLE, params: qdiscParams(root!, o), completes: !child }];
  if (child) ops.push({ ...at, parent: childParent(ROOT_HANDLE), handle: CHILD_HANDLE, params: qdiscParams(child, o), completes: true });
  return ops;
}

/**
 * Changes conditions in place (`tc qdisc change`, so the link and its queue stay) when the tree
 * keeps its shape; otherwise replaces the tree (delete the root, build the new one).
 */
export function modifyQdisc(live: QdiscObj, desired: QdiscObj): Operation[] {
  if (live.kinds.join('/') !== desired.kinds.join('/')) return [...deleteQdisc(live), ...createQdisc(desired)];
  const [root, child] = desired.kinds;
  const changed = (kind: string) => canonicalJson(qdiscParams(kind, live)) !== canonicalJson(qdiscParams(kind, desired));
  const parts: { parent: string | null; kind: string }[] = [];
  const rootChanged = changed(root!);
  if (rootChanged) parts.push({ parent: null, kind: root! });
  // Changing a tbf sets the limit of a fifo under it to the tbf's byte limit: set the child again.
  if (child && (changed(child) || (rootChanged && root === 'tbf'))) parts.push({ parent: childParent(live.handle), kind: child });
  const result: QdiscObj = { ...desired, handle: live.handle };
  return parts.map(({ parent, kind }, i) => ({
    op: 'qdisc.change' as const,
    ns: desired.ns,
    qdisc: result,
    parent,
    handle: null,
    params: qdiscParams(kind, desired),
    completes: i === parts.length - 1,
    phase: PHASE.qdisc,
  }));
}

/** Removes the tree: the device gets its default root qdisc back. */
export function deleteQdisc(o: QdiscObj): Operation[] {
  return [{ op: 'qdisc.del', ns: o.ns, qdisc: o, phase: PHASE.qdisc }];
}

export const qdiscKind: Kind<QdiscObj> = {
  kind: 'qdisc',
  describe: (o) => `conditions on ${nsLabel(o.ns)}/${o.dev}`,
  desired: desiredQdiscs,
  // The handle only says who numbered the tree.
  comparable: ({ handle: _handle, ...rest }) => rest,
  query: (_o, q) => void (q.qdiscs = true),
  create: createQdisc,
  modify: modifyQdisc,
  remove: deleteQdisc,
  ...onOneDevice<QdiscObj>(),
  asked: (_o, q) => Boolean(q.qdiscs),
};
