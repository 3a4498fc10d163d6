// The labs `netlab ui` shows: their graphs (from the lab file each state record names) and their
// live state, observed only while a page is open, at most once a second, with the engine's own
// observation (RealDriver.observe of the record's scope) plus link counters. Only reads.
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { store, type LabRecord } from '../apply/store.js';
import { readLinkCounters, type CounterReading } from '../driver/counters.js';
import { RealDriver } from '../driver/real.js';
import { buildTopology, type Topology } from '../graph/topology.js';
import { loadLabs } from '../lab/load.js';
import type { State } from '../model/objects.js';
import { labPath } from '../state/files.js';
import { hostsFromRecord, notApplied, type HostNs } from '../cli/labinfo.js';
import { uiGraph, type UiGraph } from './graph.js';
import { EventStream, labLive, Pacer, type LabLive, type Snapshot } from './live.js';
import type { AcrossLab } from './across.js';

export const OBSERVE_INTERVAL_MS = 1000;

export interface LabEntry {
  name: string;
  record: LabRecord;
  hosts: HostNs[];
  topology: Topology | null;
  /** Why there is no topology (the lab file is gone or no longer valid). */
  error?: string;
  /** state.json's mtime when read: an apply since then means reading it again. */
  mtimeMs: number;
}

async function recordMtime(lab: string): Promise<number> {
  return (await stat(labPath(lab, 'state.json')).catch(() => null))?.mtimeMs ?? 0;
}

/** Topology from the lab file the record names; the hosts alone when the file is gone. */
async function loadEntry(name: string): Promise<LabEntry | null> {
  const mtimeMs = await recordMtime(name);
  const record = await store.readRecord(name);
  if (!record) return null;
  let topology: Topology | null = null;
  let error: string | undefined;
  let hosts = record.hosts ?? hostsFromRecord(record);
  if (record.file && existsSync(record.file)) {
    const { labs, issues } = await loadLabs([record.file]);
    const l = labs.find((x) => x.name === name);
    if (l && !issues.length) {
      topology = buildTopology(l);
      if (!record.hosts) hosts = l.hosts.map((h) => ({ name: h.name, ns: h.ns }));
    } else error = `${record.file} no longer holds a valid lab "${name}": only its hosts are drawn`;
  } else error = `the lab file${record.file ? ` ${record.file}` : ''} is gone: only the lab's hosts are drawn`;
  if (!topology)
    topology = {
      lab: name,
      file: record.file ?? '',
      nodes: hosts.map((h) => ({ id: `h_${h.name.replace(/[^a-z0-9]/g, '_')}`, kind: 'host' as const, host: h.name, lines: [h.name] })),
      edges: [],
    };
  return { name, record, hosts, topology, mtimeMs, ...(error ? { error } : {}) };
}

export class Monitor {
  private entries: LabEntry[] = [];
  /** Labs across machines this machine coordinates: each with its connections to its machines. */
  private across: AcrossLab[] = [];
  private graphCache: UiGraph | null = null;
  private readonly clients = new Set<EventStream>();
  private readonly driver = new RealDriver();
  private prev: { at: number; reading: CounterReading } | null = null;
  private seq = 0;
  last: Snapshot | null = null;
  /** Each lab's latest observed state (what a click on a host shows). */
  private readonly states = new Map<string, { at: number; state: State }>();
  /** Observations made (for tests and the CPU note). */
  observations = 0;
  private readonly pacer = new Pacer(() => this.observe(), OBSERVE_INTERVAL_MS);

  /** `names`: the labs asked for (each must be applied), or none for every applied lab. */
  constructor(private readonly names: string[]) {}

  async start(): Promise<void> {
    const across = new Set(await store.machineLabs());
    for (const n of this.names) if (!across.has(n) && !(await store.hasRecord(n))) throw await notApplied(n);
    await this.reload();
  }

  /** The labs of this machine alone; a lab across machines has a record here only for its local slice. */
  private async labNames(across: Set<string>): Promise<string[]> {
    if (this.names.length) return this.names.filter((n) => !across.has(n));
    const all = await store.labs();
    const out = [];
    for (const n of all) if (!across.has(n) && (await store.hasRecord(n))) out.push(n);
    return out;
  }

  /** Opens the labs across machines that appeared, closes those that are gone; true when any did. */
  private async reloadAcross(across: Set<string>): Promise<boolean> {
    const wanted = (this.names.length ? this.names : [...across]).filter((n) => across.has(n));
    // Labs on this machine alone never load the ssh side.
    if (!wanted.length && !this.across.length) return false;
    const { AcrossLab } = await import('./across.js');
    // Gone from the record, or applied again since it was read (its machines or file may differ).
    const current = await Promise.all(
      this.across.map(async (a) => wanted.includes(a.name) && a.recordMtimeMs === (await AcrossLab.recordMtime(a.name))),
    );
    const gone = this.across.filter((_, i) => !current[i]);
    await Promise.all(gone.map((a) => a.close()));
    const kept = this.across.filter((_, i) => current[i]);
    const fresh = wanted.filter((n) => !kept.some((a) => a.name === n));
    for (const n of fresh) kept.push(await AcrossLab.open(n));
    this.across = wanted.map((n) => kept.find((a) => a.name === n)!);
    return gone.length > 0 || fresh.length > 0;
  }

  acrossLab(lab: string): AcrossLab | undefined {
    return this.across.find((a) => a.name === lab);
  }

  /** Reads the records (and lab files) that changed since last time; true when the graph changed. */
  private async reload(): Promise<boolean> {
    const across = new Set(await store.machineLabs());
    const names = await this.labNames(across);
    const next: LabEntry[] = [];
    let changed = (await this.reloadAcross(across)) || names.length !== this.entries.length;
    for (const n of names) {
      const old = this.entries.find((e) => e.name === n);
      if (old && old.mtimeMs === (await recordMtime(n))) {
        next.push(old);
        continue;
      }
      const e = await loadEntry(n);
      changed = true;
      if (e) next.push(e);
    }
    this.entries = next;
    if (changed) this.graphCache = null;
    return changed;
  }

  graph(): UiGraph {
    this.graphCache ??= uiGraph([
      ...this.entries.map((e) => ({
        name: e.name,
        file: e.record.file,
        topology: e.topology,
        hosts: new Map(e.hosts.map((h) => [h.name, h.ns])),
        ...(e.error ? { error: e.error } : {}),
      })),
      ...this.across.map((a) => ({
        name: a.name,
        file: a.file,
        topology: a.topology,
        hosts: new Map(a.hosts.map((h) => [h.name, h.ns])),
        segments: a.segments,
        ...(a.error ? { error: a.error } : {}),
      })),
    ]);
    return this.graphCache;
  }

  /** The lab's state now: the latest observation's while it is fresh, else one made for the asking. */
  async stateOf(e: LabEntry): Promise<State> {
    const s = this.states.get(e.name);
    if (s && Date.now() - s.at <= OBSERVE_INTERVAL_MS * 1.5) return s.state;
    return (await this.driver.observe({ lab: e.name, namespaces: e.record.scope })).state;
  }

  entry(lab: string): LabEntry | undefined {
    return this.entries.find((e) => e.name === lab);
  }

  /** A page opened its event stream: it gets the latest state now and every observation after. */
  attach(s: EventStream): () => void {
    this.clients.add(s);
    if (this.last) s.send('state', this.last);
    this.pacer.resume();
    this.pacer.request();
    return () => {
      this.clients.delete(s);
      // No page, no observation.
      if (!this.clients.size) this.pacer.stop();
    };
  }

  /** Something changed (an action): observe again soon, within the once-a-second pace. */
  refresh(): void {
    if (this.clients.size) this.pacer.request();
  }

  get pages(): number {
    return this.clients.size;
  }

  private async observe(): Promise<void> {
    if (!this.clients.size) return;
    if (await this.reload().catch(() => false)) for (const c of this.clients) c.send('graph', { changed: true });
    const namespaces = [...new Set(this.entries.flatMap((e) => e.record.scope.map((q) => q.ns)))];
    const acrossLive = Promise.all(this.across.map((a) => a.observe()));
    const [reading, ...observed] = await Promise.all([
      readLinkCounters(namespaces).catch(() => new Map() as CounterReading),
      ...this.entries.map((e) =>
        this.driver.observe({ lab: e.name, namespaces: e.record.scope }).then(
          (o) => ({ e, state: o.state }),
          (err: unknown) => ({ e, error: err instanceof Error ? err.message : String(err) }),
        ),
      ),
    ]);
    const at = Date.now();
    const seconds = this.prev ? (at - this.prev.at) / 1000 : 0;
    for (const o of observed) if ('state' in o) this.states.set(o.e.name, { at, state: o.state });
    const labs: LabLive[] = observed.map((o) =>
      'state' in o
        ? labLive({ record: o.e.record, hosts: o.e.hosts, state: o.state }, reading, this.prev?.reading ?? null, seconds)
        : {
            lab: o.e.name,
            error: o.error,
            inSync: false,
            drift: [],
            counts: { ok: 0, drift: 0, missing: 0, extra: 0 },
            links: {},
            hosts: {},
            nft: [],
          },
    );
    const fromMachines = await acrossLive;
    labs.push(...fromMachines.map((x) => x.live));
    // A tunnel's MTU learnt from its machines: the graph's labels change.
    if (fromMachines.some((x) => x.changed)) {
      this.graphCache = null;
      for (const c of this.clients) c.send('graph', { changed: true });
    }
    this.prev = { at, reading };
    this.observations++;
    this.last = { seq: ++this.seq, at: new Date(at).toISOString(), labs };
    for (const c of this.clients) c.send('state', this.last);
    // The next round, a second after this one began: only while a page is open.
    if (this.clients.size) this.pacer.request();
  }

  /** No more observations; the connections to machines end. */
  async stop(): Promise<void> {
    this.pacer.stop();
    await Promise.all(this.across.map((a) => a.close()));
  }
}
