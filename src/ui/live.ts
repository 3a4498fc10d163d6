// Live state for `netlab ui`: one observation of a lab (the engine's, plus link counters) turned
// into what the page draws, and the pacing that keeps observations to at most one a second however
// many asks come in. Pure apart from the timers it is given.
import type { LabRecord } from '../apply/store.js';
import type { CounterReading, LinkCounters } from '../driver/counters.js';
import { diffStates, stateOf, type NftObj, type ProcessObj, type QdiscObj, type State } from '../model/objects.js';
import { describeConditions } from '../model/qdisc.js';
import { inspectLab } from '../cli/inspect.js';
import type { HostNs } from '../cli/labinfo.js';

export interface LinkLive {
  /** Administratively up, and running (carrier: for a veth, its peer is up too). */
  up: boolean;
  running: boolean;
  rxBps: number;
  txBps: number;
  rxPps: number;
  txPps: number;
  dropped: number;
  /** Conditions in force (the lab's or a `netlab link` override), in words; null: none. */
  conditions: string | null;
}

export interface NftCounter {
  host: string;
  table: string;
  chain: string;
  rule: string;
  packets: number;
  bytes: number;
}

export interface LabLive {
  lab: string;
  error?: string;
  inSync: boolean;
  /** What drifted from the last apply, as `netlab status` words it (the first MAX_DRIFT_LINES). */
  drift: string[];
  counts: Record<'ok' | 'drift' | 'missing' | 'extra', number>;
  /** By `NS/IFNAME` (NS empty for the machine's own namespace). */
  links: Record<string, LinkLive>;
  hosts: Record<string, { drift: boolean; processes: { name: string; mode: string; state: string }[] }>;
  nft: NftCounter[];
  /** A lab across machines: whether each machine answered, and why not. */
  machines?: Record<string, { reachable: boolean; reason?: string }>;
}

export interface Snapshot {
  seq: number;
  at: string;
  labs: LabLive[];
}

export const MAX_DRIFT_LINES = 50;

export const linkKey = (ns: string, ifname: string) => `${ns}/${ifname}`;

/** Per-second rates between two readings of one interface (a counter that went back: a new device, rate 0). */
export function rates(
  prev: LinkCounters | undefined,
  now: LinkCounters,
  seconds: number,
): Pick<LinkLive, 'rxBps' | 'txBps' | 'rxPps' | 'txPps'> {
  const per = (a: number, b: number | undefined) => (b === undefined || a < b || seconds <= 0 ? 0 : (a - b) / seconds);
  return {
    rxBps: per(now.rxBytes, prev?.rxBytes),
    txBps: per(now.txBytes, prev?.txBytes),
    rxPps: per(now.rxPackets, prev?.rxPackets),
    txPps: per(now.txPackets, prev?.txPackets),
  };
}

/** `counter packets N bytes M` of each rule in an nft listing. */
export function nftCounters(host: string, o: NftObj): NftCounter[] {
  const out: NftCounter[] = [];
  let chain = '';
  for (const raw of o.body.split('\n')) {
    const line = raw.trim();
    const c = /^chain (\S+) \{$/.exec(line);
    if (c) chain = c[1]!;
    const m = /\bcounter packets (\d+) bytes (\d+)/.exec(line);
    if (m)
      out.push({
        host,
        table: `${o.family} ${o.table}`,
        chain,
        rule: line
          .replace(/\s*# handle \d+$/, '')
          .replace(/\s*comment "[^"]*"$/, '')
          .replace(/\s*\bcounter packets \d+ bytes \d+/, ''),
        packets: Number(m[1]),
        bytes: Number(m[2]),
      });
  }
  return out;
}

export interface LabObservation {
  record: LabRecord;
  hosts: HostNs[];
  state: State;
}

/** What the page shows of one lab, from its observation and two counter readings `seconds` apart. */
export function labLive(o: LabObservation, now: CounterReading, prev: CounterReading | null, seconds: number): LabLive {
  const { record, hosts, state } = o;
  const report = inspectLab(record, hosts, state);
  const desired = stateOf(record.desired);
  const mine = new Map([...state].filter(([, x]) => x.kind !== 'sysctl' || desired.has(x.id)));
  const hostOfNs = new Map(hosts.map((h) => [h.ns, h.name]));
  const links: Record<string, LinkLive> = {};
  for (const obj of [...desired.values()]) {
    if (obj.kind !== 'link' || obj.type === 'loopback') continue;
    const c = now.get(obj.ns)?.get(obj.ifname);
    const live = state.get(obj.id);
    const q = state.get(obj.id.replace(/^link:/, 'qdisc:')) as QdiscObj | undefined;
    links[linkKey(obj.ns, obj.ifname)] = {
      up: c ? c.up : live?.kind === 'link' ? live.up : false,
      running: c ? c.running : false,
      ...(c ? rates(prev?.get(obj.ns)?.get(obj.ifname), c, seconds) : { rxBps: 0, txBps: 0, rxPps: 0, txPps: 0 }),
      dropped: c ? c.rxDropped + c.txDropped : 0,
      conditions: q ? describeConditions(q) : null,
    };
  }
  const hostRows: LabLive['hosts'] = {};
  for (const h of report.hosts) {
    const rows = [...h.interfaces, ...h.addresses, ...h.routes, ...h.sysctls, ...h.nft];
    hostRows[h.name] = { drift: rows.some((r) => r.status !== 'ok'), processes: [] };
  }
  const nft: NftCounter[] = [];
  for (const x of state.values()) {
    const host = hostOfNs.get(x.ns) ?? (x.ns || '(root)');
    if (x.kind === 'process' && x.lab === record.lab) {
      const p = x as ProcessObj;
      (hostRows[p.host] ??= { drift: false, processes: [] }).processes.push({ name: p.name, mode: p.mode, state: p.state });
    } else if (x.kind === 'nft') nft.push(...nftCounters(host, x));
  }
  // A process the lab runs that was not found is dead: it drifted, and the host shows it.
  for (const d of desired.values()) {
    if (d.kind !== 'process' || d.mode !== 'run' || state.has(d.id)) continue;
    (hostRows[d.host] ??= { drift: false, processes: [] }).processes.push({ name: d.name, mode: d.mode, state: 'dead' });
  }
  const drift = diffStates(desired, mine);
  return {
    lab: record.lab,
    inSync: report.inSync,
    drift: drift.slice(0, MAX_DRIFT_LINES),
    counts: report.counts,
    links,
    hosts: hostRows,
    nft,
  };
}

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(t: unknown): void;
}

const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

/**
 * Runs `task` when asked, at most once per `intervalMs` and never twice at once: any number of
 * asks while one waits or runs become one more run.
 */
export class Pacer {
  private running = false;
  private again = false;
  private last = -Infinity;
  private timer: unknown = null;
  private stopped = false;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly timers: Timers = realTimers,
  ) {}

  request(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer !== null) return;
    const wait = Math.max(0, this.last + this.intervalMs - this.timers.now());
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      void this.run();
    }, wait);
  }

  private async run(): Promise<void> {
    this.running = true;
    this.last = this.timers.now();
    try {
      await this.task();
    } catch {
      // The task reports its own failures; a failed round must not stop the next.
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.request();
      }
    }
  }

  /** No more runs until `resume` (a pending one is dropped). */
  stop(): void {
    this.stopped = true;
    this.again = false;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  resume(): void {
    this.stopped = false;
  }

  get busy(): boolean {
    return this.running || this.timer !== null;
  }
}

/** What a page's event stream needs: a writable that says when it is full. */
export interface EventSink {
  write(chunk: string): boolean;
  once(event: 'drain', fn: () => void): unknown;
}

/**
 * One page's event stream. When the page reads slower than events come, only the latest event
 * of each name is kept and sent once the stream drains: a slow page never makes the server buffer.
 */
export class EventStream {
  private waiting = false;
  private readonly pending = new Map<string, string>();

  constructor(private readonly sink: EventSink) {}

  send(event: string, data: unknown): void {
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    if (this.waiting) {
      this.pending.set(event, text);
      return;
    }
    if (!this.sink.write(text)) this.wait();
  }

  private wait(): void {
    this.waiting = true;
    this.sink.once('drain', () => {
      this.waiting = false;
      const queued = [...this.pending.values()];
      this.pending.clear();
      let room = true;
      for (const t of queued) room = this.sink.write(t);
      if (!room) this.wait();
    });
  }

  /** Events held back for a page that has not drained yet. */
  get held(): number {
    return this.pending.size;
  }
}
