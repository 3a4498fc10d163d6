// An in-memory kernel for unit tests: applies each operation's effect (effectOf), observes what a
// real observation would return, and fails at any chosen command, optionally part-way through a
// batch (earlier commands of the batch stay applied, as with `ip -batch`).
import { KernelError } from '../errors.js';
import { effectOf, type Operation } from '../model/operations.js';
import { loopback, type ObservedLink } from '../model/link.js';
import { ids, type LinkObj, type Obj, type State } from '../model/objects.js';
import { assemble, type NsDump } from '../observe/observe.js';
import { kindOf } from '../model/registry.js';
import { operationText } from './render.js';
import type { Driver, NsQuery, Observation, ObserveRequest } from './driver.js';

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
    return assemble(
      req.lab,
      req.namespaces.flatMap((q) => this.dump(q) ?? []),
    );
  }

  /** What the kernel reader would return for one query: everything there, whoever's it is; null when the namespace does not exist. */
  private dump(q: NsQuery): NsDump | null {
    const here = (o: Obj) => o.ns === q.ns;
    const all = [...this.kernel.values(), ...this.foreign.values()].filter(here);
    const netns = this.kernel.get(ids.netns(q.ns)) ?? this.foreign.get(ids.netns(q.ns));
    if (q.ns !== '' && !netns) return null;
    // A user's namespace of that name has a lo of its own, which carries no mark.
    const userNs = netns !== undefined && this.foreign.has(netns.id) && !this.kernel.has(netns.id);
    const links: ObservedLink[] = [];
    const objects: Obj[] = [];
    for (const o of all) {
      if (o.kind === 'netns') continue;
      if (kindOf(o).device) links.push({ obj: structuredClone(o as LinkObj), ifindex: links.length + 1, peerRef: null });
      else if (kindOf(o).asked?.(o, q) ?? true) objects.push(structuredClone(o));
    }
    if (userNs && !links.some((l) => l.obj.ifname === 'lo')) links.push({ obj: loopback(q.ns, null), ifindex: 0, peerRef: null });
    const handle = !userNs && netns?.kind === 'netns' ? netns.target : null;
    return { q, links, names: links.map((l) => ({ ifindex: l.ifindex, ifname: l.obj.ifname })), nsids: [], objects, handle };
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
