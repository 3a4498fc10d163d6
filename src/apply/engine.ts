// The engine: observe, plan, checkpoint, execute, verify, and on any failure plan back to the
// checkpoint (design notes, section 1). Rollback and crash recovery are the same code path.
import {
  ApplyFailedError,
  ConflictError,
  InterruptedError,
  KernelError,
  LockBusyError,
  NetlabError,
  RollbackIncompleteError,
  VerifyError,
  asError,
} from '../errors.js';
import type { Driver, NsQuery, Observation } from '../driver/driver.js';
import { desiredState } from '../model/desired.js';
import { describe, diffStates, stateOf, type LinkObj, type Obj, type State } from '../model/objects.js';
import { isSetting, kindOf } from '../model/registry.js';
import { effectOf, type Effect, type Operation } from '../model/operations.js';
import { toolOf } from '../driver/render.js';
import { plan, unrestorable, type Plan, type Step } from '../plan/plan.js';
import type { Lab } from '../lab/types.js';
import { policyAdvice } from './advice.js';
import { preflight } from './preflight.js';
import { profile } from '../profile.js';
import { scheduleRounds, touchedNamespaces } from './schedule.js';
import { claimUnmarked } from '../observe/ownership.js';
import { discoveredScope, mergeScopes, pairNamespaces, scopeOfLab, scopeOfObjects, sharedNamespaces } from '../observe/scope.js';
import { children, journalOwnerAlive, lockLab, store, type Journal, type LabRecord } from './store.js';
import { counted } from '../words.js';

export interface EngineEvents {
  /** A phase of the run starts: observe, plan, apply, verify, rollback. */
  stage?(lab: string, stage: string, detail?: string): void;
  /** Commands of one execution group are about to run. */
  progress?(lab: string, done: number, total: number): void;
  warn?(lab: string, message: string): void;
}

export interface RunOptions {
  events?: EngineEvents;
  /** Leave the failed state for debugging instead of rolling back. */
  keepFailed?: boolean;
  /** A signal that stops the run at the next step boundary (then it rolls back). */
  stop?: { requested: string | null };
  /** Plan must have been computed from a live state with this fingerprint. */
  expectFingerprint?: string;
  verifyRetries?: number;
  /** An observation begun before the lab was checked (see observeEarly); used if it still fits. */
  early?: EarlyObservation | null;
  /** destroy only if the lab has no record once its lock is held (gc's leftovers: a run may have finished meanwhile). */
  unrecordedOnly?: boolean;
  /** Apply (or destroy) and verify, then keep the journal instead of recording: commitHeld or a rollback finishes it. */
  hold?: boolean;
}

/**
 * The lab's namespaces as its last apply recorded them, observed under the lab's lock while its
 * file is still being checked: most of a re-apply or a small change is that check and this
 * read, and they need not wait for each other.
 */
export interface EarlyObservation {
  lab: string;
  unlock: () => Promise<void>;
  record: LabRecord;
  scope: NsQuery[];
  live: Promise<Observation>;
}

/**
 * Takes the lock of the lab a file most likely holds and starts observing what its record
 * names. Null when there is nothing to gain or it cannot be done quietly: no record, a journal
 * to recover first (that needs the checked lab), or the lock held elsewhere (the run itself
 * then says so).
 */
export async function observeEarly(driver: Driver, labName: string): Promise<EarlyObservation | null> {
  // Without a record there is nothing to read early (and the lock would leave a state directory).
  if (!(await store.hasRecord(labName))) return null;
  const unlock = await lockLab(labName).catch(() => null);
  if (!unlock) return null;
  try {
    const [journal, record] = await Promise.all([store.readJournal(labName), store.readRecord(labName)]);
    if (!journal && record) {
      const scope = mergeScopes(record.scope, discoveredScope(labName, await driver.listNetns(), record.scope));
      const live = driver.observe({ lab: labName, namespaces: scope });
      live.catch(() => undefined);
      return { lab: labName, unlock, record, scope, live };
    }
  } catch {
    // An unreadable record or journal: the run itself reads them again and says so.
  }
  await unlock();
  return null;
}

export interface LabPlan {
  lab: string;
  plan: Plan;
  desired: State;
  live: Observation;
  scope: NsQuery[];
  /** What the lab itself reaches (the record of an apply keeps it). */
  labScope: NsQuery[];
  record: LabRecord | null;
  /** What else in the lab's namespaces acts on its policy (said when the policy changes). */
  advice: string[];
}

/** Observe everything the lab owns or will own, and plan the way to the desired state. */
export async function planLab(
  driver: Driver,
  lab: Lab,
  checked: Promise<void> = preflight(driver, lab),
  early: EarlyObservation | null = null,
): Promise<LabPlan> {
  // Preflight probes the kernel while the lab is observed (both only read); its verdict comes
  // first, so nothing is done on a kernel it refuses and its message wins over any later failure.
  checked.catch(() => undefined);
  try {
    const lp = await observeAndPlan(driver, lab, early);
    await checked;
    return lp;
  } catch (e) {
    await checked;
    throw e;
  }
}

async function observeAndPlan(driver: Driver, lab: Lab, early: EarlyObservation | null): Promise<LabPlan> {
  const desired = profile.timeSync('desired', () => desiredState(lab));
  const record = early ? early.record : await store.readRecord(lab.name);
  const labScope = scopeOfLab(lab, desired);
  const known = [labScope, record?.scope ?? []];
  const scope = mergeScopes(...known, discoveredScope(lab.name, await driver.listNetns(), ...known));
  // The early read serves if it read exactly this scope (the lab asks nothing its record did not).
  const fits = early !== null && JSON.stringify(early.scope) === JSON.stringify(scope);
  if (early) profile.count(fits ? 'early observation used' : 'early observation unused');
  const observed = fits
    ? await profile.time('observe (early, waited)', () => early.live)
    : await driver.observe({ lab: lab.name, namespaces: scope });
  const { owned, foreign } = claimUnmarked(observed.state, scope, record?.desired ?? null);
  const live = { ...observed, state: owned };
  const p = profile.timeSync('plan', () =>
    plan(desired, live.state, {
      sysctlOriginals: record?.sysctlOriginals ?? {},
      foreignLinks: live.foreignLinks,
      foreignNetns: live.foreignNetns,
      foreignObjects: foreign,
    }),
  );
  const advice = p.steps.some((st) => st.objects.some((id) => id.startsWith('nft:'))) ? await policyAdvice(driver, lab) : [];
  return { lab: lab.name, plan: p, desired, live, scope, labScope, record, advice };
}

/** Executes a plan: deletions (deepest phase first), then creations and changes, by phase, packed into rounds. */
export function executePlan(driver: Driver, p: Plan, lab: string, opts: RunOptions = {}): Promise<void> {
  return profile.time('execute', () => executeRounds(driver, p, lab, opts));
}

async function executeRounds(driver: Driver, p: Plan, lab: string, opts: RunOptions): Promise<void> {
  const owner = new Map<Operation, Step>();
  for (const s of p.steps) for (const c of s.commands) owner.set(c, s);
  // Levels packed into rounds: per namespace the same commands in the same order (see schedule.ts).
  const ordered = scheduleRounds(p.steps);
  const total = ordered.reduce((n, g) => n + g.length, 0);
  let done = 0;
  for (const commands of ordered) {
    if (opts.stop?.requested) throw new InterruptedError(opts.stop.requested);
    opts.events?.progress?.(lab, done, total);
    try {
      // Profile name: round number and tools, e.g. `round 3: nft`.
      const name = profile.enabled ? `round ${profile.count('rounds')}: ${[...new Set(commands.map(toolOf))].sort().join('+')}` : '';
      await profile.time(name, () => driver.execute(commands));
    } catch (e) {
      if (e instanceof KernelError && e.detail.line !== undefined) {
        const failed = commands[e.detail.line];
        const step = failed ? owner.get(failed) : undefined;
        if (step) throw e.withStep(`${step.op} ${step.title}`, step.objects[0] ?? '');
      }
      throw e;
    }
    done += commands.length;
  }
  opts.events?.progress?.(lab, done, total);
}

/**
 * Puts the kernel back to a checkpoint: observe again, plan from live state to the checkpoint,
 * apply. Never trusts the journal about what was done, only about what existed before.
 */
export async function rollbackTo(driver: Driver, j: Journal, opts: RunOptions = {}): Promise<void> {
  opts.events?.stage?.(j.lab, 'rollback');
  await children.settle(j.lab);
  // A process whose start was interrupted is in no observation: ended here, by its token.
  await driver.reapProcesses?.(j.lab, j.creates);
  const skip = unrestorable(stateOf(j.checkpoint));
  const without = (state: State) => new Map([...state].filter(([id]) => !skip.has(id)));
  const checkpoint = without(stateOf(j.checkpoint));
  const creates = new Set(j.creates);
  const scope = mergeScopes(j.scope, discoveredScope(j.lab, await driver.listNetns(), j.scope)).map((q) =>
    creates.has(q.ns) ? { ...q, adopt: true, ...(j.createsLinks ? { adoptLinks: j.createsLinks[q.ns] ?? [] } : {}) } : q,
  );
  const live = await driver.observe({ lab: j.lab, namespaces: scope });
  // restore: an exec of the checkpoint is recorded as done, never run again by a rollback.
  const back = plan(checkpoint, without(live.state), { sysctlOriginals: j.sysctlOriginals, restore: true });
  await executePlan(driver, back, j.lab, { events: opts.events });
  await settle(opts.verifyRetries ?? 4, async () =>
    diffStates(checkpoint, without((await driver.observe({ lab: j.lab, namespaces: scope })).state)),
  );
}

/**
 * Compares until the kernel agrees or the retries run out: some changes land asynchronously
 * (link state, namespace teardown). Throws the last differences.
 */
async function settle(retries: number, differences: () => Promise<string[]>): Promise<void> {
  let diff: string[] = [];
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt) await new Promise((r) => setTimeout(r, 50 * attempt));
    diff = await differences();
    if (!diff.length) return;
  }
  throw new VerifyError(diff);
}

/**
 * Finishes (undoes) an interrupted run of this lab, if its journal says there was one. The caller
 * holds the lab's lock; a journal whose writer still runs is never touched.
 */
export async function recoverIfNeeded(driver: Driver, lab: string, opts: RunOptions = {}): Promise<boolean> {
  const j = await store.readJournal(lab);
  if (!j) return false;
  if (journalOwnerAlive(j)) {
    const err = new LockBusyError(`lab "${lab}" has a ${j.operation} in progress (pid ${j.pid}, started ${j.startedAt})`);
    err.hints.push('wait for it to finish; nothing was changed by this run');
    throw err;
  }
  opts.events?.warn?.(lab, `an interrupted ${j.operation} (pid ${j.pid}, ${j.startedAt}) is being rolled back first`);
  try {
    await rollbackTo(driver, j, opts);
  } catch (e) {
    throw new RollbackIncompleteError(`recovering the interrupted ${j.operation}`, asError(e), lab);
  }
  await store.removeJournal(lab);
  return true;
}

/**
 * What verify reads after a run. `compare`: the namespaces the run's commands act in or reach,
 * and, where a command deletes a link or a namespace, the namespaces linked to it (the kernel takes
 * veth peers and stacked devices along). The others were observed equal to the lab just before the
 * run and nothing of it went there. `observe`: those, and the peer namespaces of every link the
 * run made, changed or removed, so those links' peers can be named. Any other compared link was
 * paired as the lab says just before the run and not touched since: its peer is compared by
 * namespace alone (the nsid tells it without reading the neighbour's links).
 */
function verifyScope(lp: LabPlan): { compare: Set<string>; observe: Set<string> } {
  const direct = new Set<string>();
  const deleting = new Set<string>();
  const relinked = new Set<string>();
  const peerOf = (o: Obj | undefined) => {
    const away = o && kindOf(o).anchor?.(o);
    if (away) relinked.add(away.ns);
  };
  for (const s of lp.plan.steps)
    for (const c of s.commands) {
      const touched = touchedNamespaces(c);
      for (const ns of touched) direct.add(ns);
      const effect = effectOf(c);
      if (effect.removeNamespace !== undefined || effect.remove?.some((id) => id.startsWith('link:') || id.startsWith('netns:')))
        for (const ns of touched) deleting.add(ns);
      for (const o of effect.set ?? []) peerOf(o);
      for (const id of effect.remove ?? []) peerOf(lp.live.state.get(id));
      // A link changed in place keeps its peer.
      if (effect.patch) peerOf(lp.desired.get(effect.patch.id) ?? lp.live.state.get(effect.patch.id));
    }
  const neighbours = new Map<string, Set<string>>();
  for (const state of [lp.desired, lp.live.state])
    for (const o of state.values()) {
      const away = kindOf(o).anchor?.(o);
      if (away) pairNamespaces(neighbours, o.ns, away.ns);
    }
  const compare = new Set(direct);
  for (const ns of deleting) for (const n of neighbours.get(ns) ?? []) compare.add(n);
  return { compare, observe: new Set([...compare, ...relinked]) };
}

async function verify(driver: Driver, lp: LabPlan, retries: number): Promise<void> {
  const { compare, observe } = verifyScope(lp);
  const scope = mergeScopes(
    scopeOfObjects(
      [...lp.desired.values()].filter((o) => observe.has(o.ns)),
      new Map(lp.scope.map((q) => [q.ns, q.mode])),
    ),
    lp.scope.filter((q) => observe.has(q.ns)).map((q) => ({ ...q, sysctls: [], nftTables: [] })),
  );
  // A peer in a namespace not read is compared by its namespace alone (see verifyScope).
  const seen = (o: Obj): Obj => {
    const k = kindOf(o);
    const away = k.anchor?.(o);
    return away && k.anchorUnread && !observe.has(away.ns) ? k.anchorUnread(o) : o;
  };
  const desired = new Map([...lp.desired].filter(([, o]) => compare.has(o.ns)).map(([id, o]) => [id, seen(o)]));
  await settle(retries, async () => {
    const live = await driver.observe({ lab: lp.lab, namespaces: scope });
    const compared = [...live.state].filter(([, o]) => compare.has(o.ns) && (!kindOf(o).setting || desired.has(o.id)));
    return diffStates(desired, new Map(compared.map(([id, o]) => [id, seen(o)])));
  });
}

export interface ApplyResult {
  lab: string;
  steps: Step[];
  changed: boolean;
  /** Destroyed by `apply --prune` rather than applied. */
  pruned?: boolean;
}

/**
 * Applies a lab: lock, recover any interrupted run, observe, plan, checkpoint, execute, verify,
 * record. On failure the kernel is put back as it was before the run.
 */
export async function applyLab(driver: Driver, lab: Lab, opts: RunOptions = {}): Promise<ApplyResult> {
  const early = opts.early?.lab === lab.name ? opts.early : null;
  const unlock = early ? early.unlock : await lockLab(lab.name);
  try {
    // Before anything changes, even the undo of an interrupted run.
    const checked = preflight(driver, lab);
    checked.catch(() => undefined);
    // (An early observation was only begun without a journal, under this lock.)
    if (!early && (await store.hasJournal(lab.name))) {
      await checked;
      await recoverIfNeeded(driver, lab.name, opts);
    }
    opts.events?.stage?.(lab.name, 'observe');
    const lp = await planLab(driver, lab, checked, early);
    for (const a of lp.advice) opts.events?.warn?.(lab.name, a);
    if (lp.plan.conflicts.length) {
      const err = new ConflictError(`lab "${lab.name}" conflicts with objects netlab does not own:\n  ${lp.plan.conflicts.join('\n  ')}`);
      err.hints.push('rename the lab or the interface, or remove the other object; nothing was changed');
      throw err;
    }
    if (opts.expectFingerprint && opts.expectFingerprint !== lp.plan.fingerprint) {
      const err = new ConflictError(
        `the live state of lab "${lab.name}" changed since the plan was made (fingerprint ${opts.expectFingerprint}, now ${lp.plan.fingerprint})`,
      );
      err.hints.push('run "netlab plan" again and review the new plan');
      throw err;
    }
    const record = await newRecord(lab, lp);
    if (!lp.plan.steps.length) {
      await profile.time('state files', () => store.writeRecord(record));
      return { lab: lab.name, steps: [], changed: false };
    }
    const journal = await runWithCheckpoint(driver, lp, 'apply', opts, async () => {
      opts.events?.stage?.(lab.name, 'verify');
      await profile.time('verify', () => verify(driver, lp, opts.verifyRetries ?? 3));
    });
    if (opts.hold) {
      await store.writeJournal({ ...journal, held: record });
      return { lab: lab.name, steps: lp.plan.steps, changed: true };
    }
    await profile.time('state files', () => store.writeRecord(record));
    await store.removeJournal(lab.name);
    return { lab: lab.name, steps: lp.plan.steps, changed: true };
  } finally {
    await unlock();
  }
}

async function newRecord(lab: Lab, lp: LabPlan): Promise<LabRecord> {
  const originals = { ...(lp.record?.sysctlOriginals ?? {}) };
  const shared = sharedNamespaces(lp.scope);
  let others: Map<string, LabRecord[]> | null = null;
  for (const o of lp.desired.values()) {
    const before = lp.live.state.get(o.id);
    if (!isSetting(o) || !shared.has(o.ns) || o.id in originals || !before || !isSetting(before)) continue;
    // Set already by another lab: the value from before that lab is the one to put back.
    others ??= await sysctlsOfOtherLabs(lab.name);
    const setter = others.get(o.id)?.find((r) => r.desired.some((d) => d.id === o.id && isSetting(d) && d.value === before.value));
    originals[o.id] = setter?.sysctlOriginals[o.id] ?? before.value;
  }
  return {
    lab: lab.name,
    file: lab.file,
    owner: lab.owner,
    appliedAt: new Date().toISOString(),
    scope: lp.labScope,
    desired: [...lp.desired.values()],
    sysctlOriginals: originals,
    hosts: lab.hosts.map((h) => ({ name: h.name, ns: h.ns })),
  };
}

/** The links an effect makes or changes, by namespace and name. */
function linksOf(e: Effect): { ns: string; ifname: string }[] {
  const out: { ns: string; ifname: string }[] = [];
  for (const o of e.set ?? []) if (kindOf(o).device) out.push(o as LinkObj);
  if (e.patch) out.push(e.patch);
  return out;
}

/** The names of the links a plan's commands put in each of these namespaces. */
function linksMadeIn(p: Plan, namespaces: Set<string>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const ns of namespaces) out[ns] = [];
  for (const s of p.steps)
    for (const c of s.commands)
      for (const o of linksOf(effectOf(c))) if (namespaces.has(o.ns) && !out[o.ns]!.includes(o.ifname)) out[o.ns]!.push(o.ifname);
  return out;
}

/** Checkpoint, execute, run `after` (verify); on any failure roll back to the checkpoint. */
async function runWithCheckpoint(
  driver: Driver,
  lp: LabPlan,
  operation: Journal['operation'],
  opts: RunOptions,
  after: () => Promise<void>,
): Promise<Journal> {
  const creates = lp.plan.steps.flatMap((s) =>
    s.op === 'create' ? s.objects.filter((id) => id.startsWith('netns:')).map((id) => id.slice('netns:'.length)) : [],
  );
  const journal: Journal = {
    lab: lp.lab,
    operation,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    // lp.scope covers the desired state already (observeAndPlan and planDestroy built it so).
    scope: lp.scope,
    checkpoint: [...lp.live.state.values()],
    sysctlOriginals: lp.record?.sysctlOriginals ?? {},
    creates,
    createsLinks: linksMadeIn(lp.plan, new Set(creates)),
    steps: lp.plan.steps.map((s) => `${s.op} ${s.title}`),
  };
  await profile.time('state files', () => store.writeJournal(journal));
  opts.events?.stage?.(lp.lab, operation, counted(lp.plan.steps.length, 'step'));
  driver.setSpawnListener?.((pid) => children.record(lp.lab, pid));
  try {
    await executePlan(driver, lp.plan, lp.lab, opts);
    driver.setSpawnListener?.(null);
    await profile.time('settle', () => children.settle(lp.lab));
    await after();
    // A stop that came after the last step is still before the record: the run is undone, as
    // the message on the terminal said.
    if (opts.stop?.requested) throw new InterruptedError(opts.stop.requested);
    return journal;
  } catch (e) {
    driver.setSpawnListener?.(null);
    const original = asError(e);
    if (opts.keepFailed) {
      opts.events?.warn?.(
        lp.lab,
        '--keep-failed: the failed state is left in place; the journal keeps the checkpoint (netlab gc undoes it)',
      );
      throw new RollbackIncompleteError(original, 'not attempted (--keep-failed)', lp.lab);
    }
    try {
      await rollbackTo(driver, journal, opts);
    } catch (re) {
      throw new RollbackIncompleteError(original, re as Error, lp.lab);
    }
    await store.removeJournal(lp.lab);
    if (
      original instanceof NetlabError &&
      !(original instanceof KernelError) &&
      !(original instanceof VerifyError) &&
      !(original instanceof InterruptedError)
    )
      throw original;
    throw new ApplyFailedError(original, lp.lab);
  }
}

/** Records an apply held by `hold`; false when there was none to commit (nothing changed, or already undone). */
export async function commitHeld(lab: string): Promise<boolean> {
  const unlock = await lockLab(lab);
  try {
    const j = await store.readJournal(lab);
    if (j?.heldDestroy) {
      await store.removeLab(lab);
      return true;
    }
    if (!j?.held) return false;
    await store.writeRecord(j.held);
    await store.removeJournal(lab);
    return true;
  } finally {
    await unlock();
  }
}

/** Undoes an apply held by `hold` (or any unfinished run of the lab); false when there was none. */
export async function rollbackHeld(driver: Driver, lab: string, opts: RunOptions = {}): Promise<boolean> {
  const unlock = await lockLab(lab);
  try {
    return await recoverIfNeeded(driver, lab, opts);
  } finally {
    await unlock();
  }
}

export interface DestroyResult {
  lab: string;
  steps: Step[];
  /** Processes found in the lab's namespaces that netlab did not start (reported, not signalled). */
  strangers: { ns: string; pids: number[] }[];
  /** Not destroyed: asked for a lab without a record, it had one by the time its lock was held. */
  leftAlone?: boolean;
}

/**
 * The sysctls other labs' records set in namespaces they share, by object id: one kernel value
 * can have several labs as owners (two labs attached to one namespace, both forwarding).
 */
async function sysctlsOfOtherLabs(labName: string): Promise<Map<string, LabRecord[]>> {
  const out = new Map<string, LabRecord[]>();
  for (const name of await store.labs()) {
    if (name === labName) continue;
    const r = await store.readRecord(name).catch(() => null);
    if (!r) continue;
    const shared = sharedNamespaces(r.scope);
    for (const o of r.desired) if (kindOf(o).setting && shared.has(o.ns)) out.set(o.id, [...(out.get(o.id) ?? []), r]);
  }
  return out;
}

/** Everything the lab owns, from its record, its marks and namespace names; the YAML is not needed. */
export async function planDestroy(driver: Driver, labName: string, lab: Lab | null, extraScope: NsQuery[] = []): Promise<LabPlan> {
  const record = await store.readRecord(labName);
  const labScope = lab ? scopeOfLab(lab, desiredState(lab)) : [];
  const known = [
    labScope,
    record?.scope ?? [],
    record ? scopeOfObjects(record.desired, new Map(record.scope.map((q) => [q.ns, q.mode]))) : [],
    extraScope,
  ];
  const scope = mergeScopes(...known, discoveredScope(labName, await driver.listNetns(), ...known));
  const observed = await driver.observe({ lab: labName, namespaces: scope });
  // Never someone else's rule or table, even one the lab file names (see ownership.ts).
  const owned = claimUnmarked(observed.state, scope, record?.desired ?? null).owned;
  // A sysctl another lab also sets stays as it is: that lab puts the value back when it goes.
  const shared = sharedNamespaces(scope);
  if ([...owned.values()].some((o) => kindOf(o).setting && shared.has(o.ns))) {
    const others = await sysctlsOfOtherLabs(labName);
    for (const [id, o] of owned) if (kindOf(o).setting && others.has(id)) owned.delete(id);
  }
  const live = { ...observed, state: owned };
  const p = plan(new Map(), live.state, { sysctlOriginals: record?.sysctlOriginals ?? {} });
  return { lab: labName, plan: p, desired: new Map(), live, scope, labScope, record, advice: [] };
}

export async function destroyLab(
  driver: Driver,
  labName: string,
  lab: Lab | null,
  opts: RunOptions = {},
  extraScope: NsQuery[] = [],
): Promise<DestroyResult> {
  const unlock = await lockLab(labName);
  try {
    await recoverIfNeeded(driver, labName, opts);
    if (opts.unrecordedOnly && (await store.hasRecord(labName))) return { lab: labName, steps: [], strangers: [], leftAlone: true };
    opts.events?.stage?.(labName, 'observe');
    const lp = await planDestroy(driver, labName, lab, extraScope);
    const strangers: DestroyResult['strangers'] = [];
    // Asked all at once: the real driver answers every namespace from one scan of /proc.
    const createdNs = [...lp.live.state.values()].filter((o) => kindOf(o).namespace?.owns(o));
    // The lab's processes no record confirms go first (the plan stops those it does): one left in
    // a namespace keeps it alive after its name is gone.
    await driver.reapProcesses?.(
      labName,
      createdNs.map((o) => o.ns),
    );
    // The lab's own `run` processes are not strangers: the plan stops them before the namespaces go.
    const pidsOf = await Promise.all(createdNs.map((o) => driver.netnsPids(o.ns, labName)));
    for (const [k, o] of createdNs.entries()) {
      const pids = pidsOf[k]!;
      if (pids.length) {
        strangers.push({ ns: o.ns, pids });
        opts.events?.warn?.(
          labName,
          `namespace ${o.ns} still has processes netlab did not start (pids ${pids.join(', ')}); they are not signalled and keep the namespace alive until they exit`,
        );
      }
    }
    const verifyGone = async () => {
      opts.events?.stage?.(labName, 'verify');
      await settle(opts.verifyRetries ?? 4, async () => {
        const after = claimUnmarked(
          (await driver.observe({ lab: labName, namespaces: lp.scope })).state,
          lp.scope,
          lp.record?.desired ?? null,
        );
        return [...after.owned.values()].filter((o) => !kindOf(o).setting).map((o) => `still present: ${describe(o)}`);
      });
    };
    if (opts.hold) {
      // Held like an apply: the commit forgets the lab here, a rollback puts its objects back.
      if (!lp.plan.steps.length && !lp.record) return { lab: labName, steps: [], strangers };
      const journal = await runWithCheckpoint(driver, lp, 'destroy', opts, verifyGone);
      await store.writeJournal({ ...journal, heldDestroy: true });
      return { lab: labName, steps: lp.plan.steps, strangers };
    }
    if (lp.plan.steps.length) await runWithCheckpoint(driver, lp, 'destroy', opts, verifyGone);
    await store.removeLab(labName);
    return { lab: labName, steps: lp.plan.steps, strangers };
  } finally {
    await unlock().catch(() => undefined);
  }
}
