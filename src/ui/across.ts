// `netlab ui` on the coordinator of a lab across machines: the lab drawn from its file (recorded by
// the last apply) with its machines as clusters, and its live state asked of every machine over
// one ssh connection each, kept for the server's life: a `netlab machine watch` responder there
// answers one request per tick with its slice's observation. A machine that cannot be reached is
// shown as out of reach with the reason; the others stay live. Only reads, but for the actions.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MachineError, UsageError } from '../errors.js';
import { buildTopology, type Topology } from '../graph/topology.js';
import type { Lab } from '../lab/types.js';
import { call } from '../machines/coordinator.js';
import { asMachines, readMachinesRecord } from '../machines/record.js';
import { crossSegments } from '../machines/slice.js';
import { openTransports, type Transport } from '../machines/transport.js';
import { netlabVersion } from '../machines/version.js';
import { checkLabName, stateSubdir } from '../state/files.js';
import type { HostNs } from '../cli/labinfo.js';
import { encodeRequest } from '../cli/machine-view.js';
import type { HostDetails } from './details.js';
import type { UiSegment } from './machines-graph.js';
import type { LabLive } from './live.js';

/** How long a machine may take to answer one tick before it counts as out of reach. */
export const ANSWER_TIMEOUT_MS = 8000;
/** A machine out of reach is tried again at most this often, not every tick. */
export const RETRY_MS = 3000;

export interface MachineState {
  reachable: boolean;
  reason?: string;
}

interface LiveAnswer {
  live: LabLive | null;
  hosts: HostNs[];
  tunnels: { vni: number; mtu: number }[];
}

type Reply = { ok: boolean; message?: string; [key: string]: unknown };

/** The last line of what ssh or netlab said on stderr: the reason a machine is out of reach. */
const lastLine = (text: string) => text.trim().split('\n').pop() ?? '';

/** One machine's responder: started on first use, started again (not more often than RETRY_MS) once it ended. */
class MachineWatch {
  private child: ChildProcess | null = null;
  private starting: Promise<void> | null = null;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  private nextId = 1;
  private downSince = 0;
  reason: string | null = null;

  constructor(
    readonly t: Transport,
    private readonly lab: string,
  ) {}

  get name(): string {
    return this.t.machine.name;
  }

  private down(reason: string): void {
    this.reason = reason;
    this.downSince = Date.now();
    this.child = null;
    for (const [, resolve] of this.waiting) resolve({ ok: false, message: reason });
    this.waiting.clear();
  }

  private async start(): Promise<void> {
    // A master still up (only the responder ended) is used as it is: a second `connect` would
    // find its socket taken and stay in the background as a connection of its own.
    if (this.t.socket === null || !existsSync(this.t.socket)) {
      const c = await this.t.connect();
      if (c.code !== 0) return this.down(lastLine(c.stderr) || `ssh exit code ${c.code}`);
    }
    const v = await call(this.t, 'version check', ['probe']);
    if (!v.ok) return this.down(v.message ?? 'netlab gave no answer there');
    if (v.version !== netlabVersion()) return this.down(`it runs netlab ${String(v.version)}, this machine ${netlabVersion()}`);
    const [cmd, args] = this.t.command(['machine', 'watch', '--lab', this.lab]);
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.reason = null;
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    child.stdin!.on('error', () => undefined);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let r: Reply & { id?: number };
      try {
        r = JSON.parse(line) as Reply & { id?: number };
      } catch {
        return;
      }
      const resolve = this.waiting.get(Number(r.id));
      this.waiting.delete(Number(r.id));
      resolve?.(r);
    });
    child.once('error', (e) => this.child === child && this.down(`cannot run ssh: ${e.message}`));
    child.once('close', (code) => {
      if (this.child === child) this.down(lastLine(stderr) || `the connection ended (exit code ${code ?? 'none'})`);
    });
  }

  /** One request; an answer that does not come in time, or a machine out of reach, is an answer saying so. */
  async ask(op: string, body: object = {}, timeoutMs = ANSWER_TIMEOUT_MS): Promise<Reply> {
    if (!this.child) {
      if (this.reason !== null && Date.now() - this.downSince < RETRY_MS) return { ok: false, message: this.reason };
      this.starting ??= this.start().finally(() => (this.starting = null));
      await this.starting;
      if (!this.child) return { ok: false, message: this.reason ?? 'not connected' };
    }
    const id = this.nextId++;
    const child = this.child;
    return new Promise<Reply>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ ok: false, message: `no answer within ${timeoutMs / 1000} s` });
      }, timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      child.stdin!.write(`${JSON.stringify({ id, op, ...body })}\n`);
    });
  }

  close(): void {
    const child = this.child;
    this.child = null;
    child?.stdin?.end();
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
}

export class AcrossLab {
  topology: Topology | null = null;
  error: string | undefined;
  segments: UiSegment[] = [];
  file: string | null = null;
  /** From the lab file: the machine of each host, and each host's namespace. */
  private placement = new Map<string, string>();
  hosts: HostNs[] = [];
  private watches: MachineWatch[] = [];
  private closeTransports: () => Promise<void> = async () => undefined;
  readonly machines: Record<string, MachineState> = {};

  private constructor(
    readonly name: string,
    /** The record's mtime when read: an apply since then means reading it, and the file, again. */
    readonly recordMtimeMs: number,
  ) {}

  /** The mtime of the coordinator's record of the lab's machines (0 when it is gone). */
  static async recordMtime(name: string): Promise<number> {
    const dir = await stateSubdir('.machines');
    return dir ? ((await stat(join(dir, `${checkLabName(name)}.json`)).catch(() => null))?.mtimeMs ?? 0) : 0;
  }

  /** The lab as this machine's record of its machines and its file say; connects to nothing yet. */
  static async open(name: string): Promise<AcrossLab> {
    const a = new AcrossLab(name, await AcrossLab.recordMtime(name));
    const record = await readMachinesRecord(name);
    if (!record) throw new UsageError(`lab "${name}" is not a lab across machines this machine coordinates`);
    a.file = record.file ?? null;
    let lab: Lab | null = null;
    if (a.file && existsSync(a.file)) {
      const { loadAcross } = await import('../cli/across.js');
      const loaded = await loadAcross(a.file).catch((e: unknown) => {
        a.error = `${a.file} is no longer a valid lab (${(e as Error).message}): only the machines are drawn`;
        return null;
      });
      if (loaded && loaded.lab.name === name) {
        lab = loaded.lab;
        a.segments = crossSegments(loaded.raw, lab).map((s) => ({ vni: s.vni, members: s.members, machines: s.machines, mtu: null }));
      } else if (loaded) a.error = `${a.file} no longer holds lab "${name}"`;
    } else a.error = `the lab file${a.file ? ` ${a.file}` : ''} is gone: only the machines are drawn`;
    const machines = asMachines(record.machines);
    if (lab) {
      a.topology = buildTopology(lab);
      a.placement = new Map(lab.hosts.map((h) => [h.name, h.machine!]));
      a.hosts = lab.hosts.map((h) => ({ name: h.name, ns: h.ns }));
    } else
      a.topology = {
        lab: name,
        file: a.file ?? '',
        nodes: [],
        edges: [],
        machines: machines.map((m) => ({ id: `m_${m.name}`, label: `${m.name} (${m.ssh ? m.ssh.host : 'local'})`, nodes: [] })),
      };
    const { transports, close } = await openTransports(machines);
    a.watches = transports.map((t) => new MachineWatch(t, name));
    a.closeTransports = close;
    return a;
  }

  /** Every machine's part, asked at once; true in `changed` when the graph's labels changed (a tunnel's MTU learnt). */
  async observe(): Promise<{ live: LabLive; changed: boolean }> {
    const answers = await Promise.all(this.watches.map((w) => w.ask('live')));
    const live: LabLive = {
      lab: this.name,
      inSync: true,
      drift: [],
      counts: { ok: 0, drift: 0, missing: 0, extra: 0 },
      links: {},
      hosts: {},
      nft: [],
      machines: {},
    };
    let changed = false;
    for (const [i, w] of this.watches.entries()) {
      const a = answers[i]!;
      this.machines[w.name] = a.ok ? { reachable: true } : { reachable: false, reason: a.message ?? 'no answer' };
      live.machines![w.name] = this.machines[w.name]!;
      if (!a.ok) continue;
      const { live: l, tunnels } = a as unknown as LiveAnswer;
      for (const t of tunnels ?? [])
        for (const s of this.segments)
          if (s.vni === t.vni && s.mtu !== t.mtu) {
            s.mtu = t.mtu;
            changed = true;
          }
      if (!l) continue;
      live.inSync &&= l.inSync;
      live.drift.push(...l.drift.map((d) => `${w.name}: ${d}`));
      for (const k of Object.keys(live.counts) as (keyof LabLive['counts'])[]) live.counts[k] += l.counts[k];
      Object.assign(live.links, l.links);
      Object.assign(live.hosts, l.hosts);
      live.nft.push(...l.nft);
    }
    return { live, changed };
  }

  /** The responder of the machine that holds `host`. */
  private watchOf(host: string): MachineWatch {
    const machine = this.placement.get(host);
    const w = this.watches.find((x) => x.name === machine);
    if (!w) throw new UsageError(`lab "${this.name}" has no host "${host}" on any of its machines`);
    return w;
  }

  private async must(w: MachineWatch, op: string, body: object): Promise<Reply> {
    const r = await w.ask(op, body);
    if (!r.ok) throw new MachineError(`${w.t.label}: ${op}: ${r.message ?? 'failed'}`);
    return r;
  }

  async hostDetails(host: string): Promise<HostDetails> {
    return (await this.must(this.watchOf(host), 'host', { host })).details as HostDetails;
  }

  /** Sets a link down/up or changes its conditions on the machine of its host, as `netlab link` there does. */
  async link(a: { endpoint: string; state?: string; conditions: Record<string, string>; clear: boolean }) {
    const [host, name] = [a.endpoint.slice(0, a.endpoint.indexOf(':')), a.endpoint.slice(a.endpoint.indexOf(':') + 1)];
    const body = { host, interface: name, ...(a.state ? { state: a.state } : {}), conditions: a.conditions, clear: a.clear };
    const r = await this.must(this.watchOf(host), 'link', body);
    return { changed: Boolean(r.changed), up: Boolean(r.up), said: (r.said as string[]) ?? [] };
  }

  /** The command that captures on the machine of the endpoint's host: `netlab capture` there, its summary lines. */
  captureCommand(endpoint: string, count: number): [string, string[]] {
    const w = this.watchOf(endpoint.slice(0, endpoint.indexOf(':')));
    if (this.machines[w.name]?.reachable === false)
      throw new MachineError(`${w.t.label} is out of reach: ${this.machines[w.name]!.reason}`);
    const word = encodeRequest({ cmd: 'capture', lab: this.name, endpoint, filter: [], count: String(count), summary: true });
    return w.t.command(['machine', 'here', word]);
  }

  async close(): Promise<void> {
    for (const w of this.watches) w.close();
    await this.closeTransports();
  }
}
