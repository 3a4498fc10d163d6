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
    for (const n of this.names) if (!(await store.hasRecord(n))) throw await notApplied(n);
    await this.reload();
  }

  private async labNames(): Promise<string[]> {
    if (this.names.length) return this.names;
    const all = await store.labs();
    const out = [];
    for (const n of all) if (await store.hasRecord(n)) out.push(n);
    return out;
  }

  /** Reads the records (and lab files) that changed since last time; true when the graph changed. */
  private async reload(): Promise<boolean> {
    const names = await this.labNames();
    const next: LabEntry[] = [];
    let changed = names.length !== this.entries.length;
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
    this.graphCache ??= uiGraph(
      this.entries.map((e) => ({
        name: e.name,
        file: e.record.file,
        topology: e.topology,
        hosts: new Map(e.hosts.map((h) => [h.name, h.ns])),
        ...(e.error ? { error: e.error } : {}),
      })),
    );
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
    this.prev = { at, reading };
    this.observations++;
    this.last = { seq: ++this.seq, at: new Date(at).toISOString(), labs };
    for (const c of this.clients) c.send('state', this.last);
    // The next round, a second after this one began: only while a page is open.
    if (this.clients.size) this.pacer.request();
  }

  stop(): void {
    this.pacer.stop();
  }
}
