// `netlab link LAB HOST:IF up|down` and `netlab link LAB HOST:IF --rate 5mbit --delay 100ms ...`:
// changes a link of an applied lab right now, for live demonstrations. It is a runtime override,
// made directly (ip link / tc), not through apply: the lab's desired state is unchanged, so
// `status` and `plan` show the override as drift and the next `apply` reverts it.
import pc from 'picocolors';
import { FEATURES } from '../apply/preflight.js';
import { lockLab, store } from '../apply/store.js';
import type { NsQuery } from '../driver/driver.js';
import { RealDriver } from '../driver/real.js';
import { PreflightError, UsageError } from '../errors.js';
import { PHASE, type Operation } from '../model/operations.js';
import { ids, sameObject, type LinkObj, type QdiscObj, type State } from '../model/objects.js';
import { kindOf } from '../model/registry.js';
import {
  conditionsOf,
  createQdisc,
  deleteQdisc,
  describeConditions,
  modifyQdisc,
  NETEM_KEYS,
  NO_CONDITIONS,
  qdiscObject,
  type Conditions,
} from '../model/qdisc.js';
import { parseDuration, parsePercent, parseRate, parseSize, UNIT_WORDS } from '../lab/units.js';
import { coordinates } from './across-detect.js';
import { endpointLabel, labNameOf, resolveEndpoint, type Endpoint } from './endpoint.js';
import { out } from './output.js';
import { appendAll } from '../append.js';

const OVERRIDE_NOTE =
  'this is a runtime override, not part of the lab: `netlab status` and `netlab plan` show it as drift, and the next `netlab apply` reverts it';

/**
 * What the kernel flushes from an interface set down: the routes through it, its IPv6 addresses
 * and its neighbour entries. Conditions (qdiscs) and sysctls survive, so `up` leaves them alone.
 */
const FLUSHED_BY_DOWN = new Set(['addr', 'route', 'neigh', 'proxyneigh']);

/**
 * After a link is set up again: puts back what the lab declares on it that the kernel flushed
 * when it went down (a default route through it above all), read from the kernel first so only
 * what is missing is added. Returns what was restored, in words.
 */
async function restoreFlushed(driver: RealDriver, ep: Endpoint, query: NsQuery): Promise<string[]> {
  const desired: State = new Map(ep.record.desired.map((o) => [o.id, o]));
  const link = desired.get(ids.link(ep.ns, ep.ifname)) as LinkObj | undefined;
  if (!link) return [];
  const lost = ep.record.desired.filter((o) => o.ns === ep.ns && FLUSHED_BY_DOWN.has(o.kind) && kindOf(o).diesWith?.(o, link));
  if (!lost.length) return [];
  const live = await driver.observe({ lab: ep.lab, namespaces: [ep.record.scope.find((q) => q.ns === ep.ns) ?? query] });
  const missing = lost.filter((o) => !live.state.has(o.id));
  const commands = missing.flatMap((o) => kindOf(o).create(o, { state: desired })).sort((a, b) => a.phase - b.phase);
  if (commands.length) await driver.execute(commands);
  return missing.map((o) => `restored ${kindOf(o).describe(o)}`);
}

/** A flag value: `off`, `none` or `0` removes the condition. */
function flag<T>(name: string, text: string | undefined, parse: (v: string) => T | null, words: string): T | null | undefined {
  if (text === undefined) return undefined;
  if (/^(off|none|0)$/i.test(text.trim())) return null;
  const v = parse(text);
  if (v === null) throw new UsageError(`--${name} "${text}" is not ${words}, or off`);
  return v;
}

export interface LinkOptions {
  rate?: string;
  burst?: string;
  delay?: string;
  jitter?: string;
  loss?: string;
  duplicate?: string;
  reorder?: string;
  corrupt?: string;
  limit?: string;
  clear?: boolean;
  json?: boolean;
}

function overridesOf(o: LinkOptions): Partial<Conditions> {
  const parsed: Partial<Record<keyof Conditions, number | null | undefined>> = {
    rate: flag('rate', o.rate, parseRate, UNIT_WORDS.rate),
    burst: flag('burst', o.burst, parseSize, UNIT_WORDS.size),
    delay: flag('delay', o.delay, parseDuration, UNIT_WORDS.duration.replace(' (a bare number is milliseconds)', '')),
    jitter: flag('jitter', o.jitter, parseDuration, 'a duration like 5ms'),
    loss: flag('loss', o.loss, parsePercent, UNIT_WORDS.percent),
    duplicate: flag('duplicate', o.duplicate, parsePercent, UNIT_WORDS.percent),
    reorder: flag('reorder', o.reorder, parsePercent, UNIT_WORDS.percent),
    corrupt: flag('corrupt', o.corrupt, parsePercent, UNIT_WORDS.percent),
    limit: flag('limit', o.limit, (v) => (/^\d+$/.test(v) && Number(v) >= 1 ? Number(v) : null), 'a number of packets'),
  };
  return Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== undefined)) as Partial<Conditions>;
}

function checkCombination(c: Conditions): void {
  if (c.jitter && !c.delay) throw new UsageError('--jitter needs a delay (--delay 50ms, say)');
  if (c.reorder && !c.delay) throw new UsageError('--reorder needs a delay (--delay 50ms, say)');
  if (c.burst !== null && c.rate === null) throw new UsageError('--burst needs a rate (--rate 10mbit, say)');
}

/** Refuses conditions this kernel cannot do before anything changes, like apply's preflight. */
async function probe(driver: RealDriver, c: Conditions): Promise<void> {
  const features = [...(NETEM_KEYS.some((k) => c[k]) ? ['netem'] : []), ...(c.rate !== null ? ['tbf'] : [])];
  if (!features.length) return;
  const results = await driver.probe({ features, sysctls: [], nft: [], targets: [] });
  const missing = results
    .filter((r) => !r.ok)
    .map((r) => ({
      feature: FEATURES[r.check]?.label ?? r.check,
      detail: `not supported by this kernel (${r.command}: ${r.message})`,
      fix: FEATURES[r.check]?.fix ?? 'see the message',
    }));
  if (missing.length) {
    const err = new PreflightError(missing);
    err.hints.push('nothing was changed');
    throw err;
  }
}

export interface LinkResult {
  lab: string;
  ep: Endpoint;
  /** Whether a state or a condition was asked for (else the link was only shown). */
  requested: boolean;
  changed: boolean;
  up: boolean;
  before: QdiscObj | undefined;
  after: QdiscObj | undefined;
  /** The lab's own conditions on this interface. */
  inLab: QdiscObj | undefined;
  /** What was done, in words. */
  said: string[];
}

/**
 * Sets a link of an applied lab up or down and changes its conditions, under the lab's lock;
 * prints nothing. `netlab link` and `netlab ui` both act through it.
 */
export async function changeLink(labArg: string, endpointArg: string, state: string | undefined, o: LinkOptions): Promise<LinkResult> {
  if (state !== undefined && state !== 'up' && state !== 'down') throw new UsageError(`state must be up or down (got "${state}")`);
  const overrides = overridesOf(o);
  const lab = await labNameOf(labArg);
  const ep = await resolveEndpoint(lab, endpointArg);
  const changesConditions = Boolean(o.clear) || Object.keys(overrides).length > 0;
  const driver = new RealDriver();
  const mode = ep.record.scope.find((q) => q.ns === ep.ns)?.mode ?? (ep.ns.startsWith(`${lab}-`) ? 'created' : 'shared');
  const query: NsQuery = { ns: ep.ns, mode, sysctls: [], nftTables: [], ipv6Routes: false, bridgeVlans: false, qdiscs: true };
  const inLab = ep.record.desired.find((x) => x.id === ids.qdisc(ep.ns, ep.ifname)) as QdiscObj | undefined;

  const unlock = await lockLab(lab);
  try {
    const live = await driver.observe({ lab, namespaces: [query] });
    const link = live.state.get(ids.link(ep.ns, ep.ifname));
    if (!link || link.kind !== 'link') {
      const err = new UsageError(`${endpointLabel(ep)} does not exist in the kernel`);
      err.hints.push(`netlab apply puts the lab back; netlab status shows what drifted`);
      throw err;
    }
    const before = live.state.get(ids.qdisc(ep.ns, ep.ifname)) as QdiscObj | undefined;
    const result = { lab, ep, up: link.up, before, after: before, inLab, said: [] as string[] };
    if (state === undefined && !changesConditions) return { ...result, requested: false, changed: false };

    const commands: Operation[] = [];
    const said = result.said;
    if (state !== undefined && link.up !== (state === 'up')) {
      commands.push({ op: 'link.set', ns: ep.ns, dev: ep.ifname, changes: { up: state === 'up' }, phase: PHASE.linkSet });
      said.push(`set ${state}`);
    } else if (state !== undefined) said.push(`already ${state}`);

    let after = before;
    if (changesConditions) {
      const c: Conditions = { ...(o.clear ? NO_CONDITIONS : conditionsOf(before)), ...overrides };
      if (c.rate === null) c.burst = null;
      // Jitter and reorder only mean something with a delay: `--delay off` drops them too.
      if (overrides.delay === null) c.jitter = c.reorder = null;
      checkCombination(c);
      const desired = qdiscObject(ep.ns, ep.ifname, c, 'desired');
      await probe(driver, c);
      if (desired && !before) appendAll(commands, createQdisc(desired));
      else if (!desired && before) appendAll(commands, deleteQdisc(before));
      else if (desired && before && !sameObject(before, desired)) appendAll(commands, modifyQdisc(before, desired));
      after = desired ?? undefined;
      said.push(`conditions: ${describeConditions(before)} -> ${describeConditions(desired)}`);
    }

    if (commands.length) await driver.execute(commands);
    if (state === 'up' && !link.up) appendAll(said, await restoreFlushed(driver, ep, query));
    // Drift is only seen where qdiscs are observed: make sure status and plan look there.
    if (changesConditions) {
      const q = ep.record.scope.find((x) => x.ns === ep.ns);
      if (!q?.qdiscs) {
        if (q) q.qdiscs = true;
        else ep.record.scope.push(query);
        await store.writeRecord(ep.record);
      }
    }
    return { ...result, requested: true, changed: commands.length > 0, up: state === undefined ? link.up : state === 'up', after };
  } finally {
    await unlock();
  }
}

export async function link(labArg: string, endpointArg: string, state: string | undefined, o: LinkOptions): Promise<void> {
  const labName = await labNameOf(labArg);
  if (await coordinates(labName)) {
    // A lab across machines: the change is made on the machine of the host.
    const a = await (await import('./link-across.js')).linkAcross(labName, endpointArg, state, o);
    if (o.json) out.json({ lab: labName, endpoint: endpointArg, machine: a.machine, changed: a.changed, up: a.up, override: true });
    else out.line(`${pc.bold(labName)}: ${endpointArg} on ${a.machine}: ${a.said.join('; ')}${a.changed ? '' : ' (nothing to change)'}`);
    if (a.changed && !o.json) out.info(`note: ${OVERRIDE_NOTE}`);
    return;
  }
  const r = await changeLink(labArg, endpointArg, state, o);
  const { lab, ep } = r;
  const label = `${pc.bold(lab)}: ${endpointLabel(ep)}`;
  if (!r.requested) {
    if (o.json) {
      out.json({ lab, endpoint: `${ep.host}:${ep.name}`, ns: ep.ns, ifname: ep.ifname, up: r.up, conditions: r.before ?? null });
      return;
    }
    out.line(`${label}: ${r.up ? 'up' : 'down'}; conditions: ${describeConditions(r.before)}`);
    out.line(`  in the lab: ${describeConditions(r.inLab)}`);
    return;
  }
  if (o.json) {
    out.json({
      lab,
      endpoint: `${ep.host}:${ep.name}`,
      ns: ep.ns,
      ifname: ep.ifname,
      changed: r.changed,
      up: r.up,
      conditions: { before: r.before ?? null, after: r.after ?? null },
      override: true,
    });
    return;
  }
  out.line(`${label}: ${r.said.join('; ')}${r.changed ? '' : ' (nothing to change)'}`);
  if (r.changed) out.info(`note: ${OVERRIDE_NOTE}`);
}
