// An in-memory kernel for unit tests: applies each operation's effect (effectOf), observes what a
// real observation would return, and fails at any chosen command, optionally part-way through a
// batch (earlier commands of the batch stay applied, as with `ip -batch`).
import { KernelError } from '../errors.js';
import { effectOf, type Operation } from '../model/operations.js';
import type { LinkObj, Obj, State } from '../model/objects.js';
import { kindOf } from '../model/registry.js';
import { operationText } from './render.js';
import { routeDevs } from '../model/route.js';
import { sysctlInterface } from '../model/sysctl.js';
import type { Driver, Observation, ObserveRequest } from './driver.js';

export interface FaultPlan {
  /** Fail the n-th command executed from the moment the fault is set (0-based). */
  failAtCommand?: number;
  /** Or fail the first command matching this predicate. */
  failWhen?: (c: Operation) => boolean;
  /** Message the fake kernel answers with. */
  message?: string;
}

export class FakeDriver implements Driver {
  readonly kernel: State;
  /** Objects in the kernel that belong to nobody (e.g. the user's own interfaces). */
  readonly foreign: Map<string, Obj> = new Map();
  executed: Operation[] = [];
  private fault: FaultPlan = {};
  private count = 0;

  /** Arms a fault; `failAtCommand` counts from now. */
  injectFault(f: FaultPlan): void {
    this.fault = { ...f, failAtCommand: f.failAtCommand === undefined ? undefined : this.count + f.failAtCommand };
  }

  constructor(initial: Iterable<Obj> = []) {
    this.kernel = new Map([...initial].map((o) => [o.id, structuredClone(o)]));
  }

  async listNetns(): Promise<string[]> {
    // As /run/netns: every named namespace, the user's too.
    return [...this.kernel.values(), ...this.foreign.values()]
      .filter((o) => o.kind === 'netns')
      .map((o) => o.ns)
      .sort();
  }

  async labMarks(ns: string): Promise<{ created: string | null; altnameLabs: string[] }> {
    const lo = this.kernel.get(`link:${ns}/lo`);
    const labs = new Set<string>();
    for (const o of this.kernel.values()) if (o.kind === 'link' && o.ns === ns && o.altname) labs.add(o.altname.split('.')[1]!);
    return { created: lo?.kind === 'link' && lo.alias?.startsWith('netlab:') ? lo.alias.slice(7) : null, altnameLabs: [...labs].sort() };
  }

  async netnsPids(): Promise<number[]> {
    return [];
  }

  async observe(req: ObserveRequest): Promise<Observation> {
    const state: State = new Map();
    const foreignLinks = new Set<string>();
    const foreignNetns = new Set<string>();
    const altPrefix = `netlab.${req.lab}.`;
    for (const q of req.namespaces) {
      if (q.ns !== '' && !this.kernel.has(`netns:${q.ns}`) && ![...this.foreign.values()].some((o) => o.kind === 'netns' && o.ns === q.ns))
        continue;
      const foreignNs = [...this.foreign.values()].find((o) => o.kind === 'netns' && o.ns === q.ns);
      const lo = this.kernel.get(`link:${q.ns}/lo`);
      const unmarked = q.mode === 'created' && lo?.kind === 'link' && lo.alias !== `netlab:${req.lab}`;
      const others = [...this.kernel.values()].some(
        (o) => o.kind === 'link' && o.ns === q.ns && o.ifname !== 'lo' && q.adoptLinks && !q.adoptLinks.includes(o.ifname),
      );
      if (unmarked && !(q.adopt && lo.alias === null && !others)) {
        foreignNetns.add(q.ns);
        continue;
      }
      if (q.mode === 'created' && foreignNs) {
        foreignNetns.add(q.ns);
        continue;
      }
      // As the real driver: a namespace mounted at a handle's name is a handle pointing nowhere
      // the lab asked (the user's own namespace of that name).
      if (q.mode === 'handle' && foreignNs)
        state.set(foreignNs.id, { kind: 'netns', id: foreignNs.id, ns: q.ns, origin: 'handle', target: null });
      const ownedDevs = new Set<string>();
      for (const o of this.kernel.values()) {
        if (o.ns !== q.ns) continue;
        if (o.kind === 'link' && q.mode !== 'created' && !o.altname?.startsWith(altPrefix)) continue;
        if (o.kind === 'link') ownedDevs.add(o.ifname);
      }
      for (const o of this.foreign.values()) if (o.kind === 'link' && o.ns === q.ns) foreignLinks.add(o.id);
      const hasVxlan = [...this.kernel.values()].some((o) => o.kind === 'link' && o.ns === q.ns && o.type === 'vxlan');
      for (const o of this.kernel.values()) {
        if (o.ns !== q.ns) continue;
        if (o.kind === 'sysctl' && !q.sysctls.includes(o.key)) continue;
        if (o.kind === 'nft' && !q.nftTables.some((t) => t.table === o.table && t.family === o.family)) continue;
        if (o.kind === 'qdisc' && !q.qdiscs) continue;
        // As the real driver: these are read only when the query asks for them.
        if (o.kind === 'neigh' && !q.neighbours) continue;
        if (o.kind === 'rule' && !(q.rules && (q.mode === 'created' || q.rules.includes(o.id)))) continue;
        if (o.kind === 'fdb' && !q.fdb && !hasVxlan) continue;
        if (q.mode !== 'created' && o.kind === 'link' && !ownedDevs.has(o.ifname)) continue;
        if (
          q.mode !== 'created' &&
          (o.kind === 'addr' || o.kind === 'fdb' || o.kind === 'portvlan' || o.kind === 'qdisc') &&
          !ownedDevs.has(o.dev)
        )
          continue;
        if (q.mode !== 'created' && o.kind === 'neigh' && !ownedDevs.has(o.dev)) continue;
        if (q.mode !== 'created' && o.kind === 'route' && !routeDevs(o).some((d) => ownedDevs.has(d))) continue;
        state.set(o.id, structuredClone(o));
      }
    }
    return { state, foreignLinks, foreignNetns };
  }

  async execute(commands: Operation[]): Promise<void> {
    for (const [i, c] of commands.entries()) {
      const n = this.count++;
      if (this.fault.failAtCommand === n || this.fault.failWhen?.(c)) {
        const stderr = this.fault.message ?? 'Error: injected fault';
        // A command-count fault fires once; a predicate fault stays armed until it says no.
        if (this.fault.failAtCommand === n) this.fault = {};
        throw new KernelError({ ns: c.ns, command: operationText(c), stderr, line: i });
      }
      this.executed.push(c);
      const e = effectOf(c);
      if (e.removeNamespace !== undefined) {
        // Links die with their namespace and take veth peers and stacked children elsewhere along.
        for (const [id, o] of [...this.kernel]) if (o.ns === e.removeNamespace) this.removeWithDependents(id);
      }
      for (const id of e.remove ?? []) this.removeWithDependents(id);
      for (const o of e.set ?? []) this.kernel.set(o.id, structuredClone(o));
      if (e.patch) {
        const link = this.kernel.get(e.patch.id);
        if (!link || link.kind !== 'link')
          throw new KernelError({ ns: c.ns, command: operationText(c), stderr: `Cannot find device "${e.patch.ifname}"`, line: i });
        const { attrs, ...fields } = e.patch.fields;
        this.kernel.set(link.id, { ...link, ...fields, attrs: { ...link.attrs, ...attrs } });
      }
    }
  }

  /** As the kernel does: a link takes what lives on it, its stacked children and its veth peer along (see Kind.diesWith). */
  private removeWithDependents(id: string): void {
    const gone = this.kernel.get(id);
    this.kernel.delete(id);
    if (!gone || !kindOf(gone).carriesDependents) return;
    const link = gone as LinkObj;
    for (const o of [...this.kernel.values()]) {
      const kind = kindOf(o);
      if (kind.diesWith?.(o, link)) {
        if (kind.carriesDependents) this.removeWithDependents(o.id);
        else this.kernel.delete(o.id);
        continue;
      }
      const detached = kind.detach?.(o, link);
      if (detached) this.kernel.set(o.id, detached);
    }
  }

  /** The whole kernel, for before/after comparisons. */
  snapshot(): State {
    return new Map([...this.kernel].map(([id, o]) => [id, structuredClone(o)]));
  }
}
