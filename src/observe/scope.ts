// Where to look for a lab's objects: its hosts' namespaces, those of its last apply, and any
// namespace named like one of its own (left by a crash). Observation never reads beyond this.
import type { NsQuery } from './query.js';
import { labTable } from '../model/nft.js';
import type { Obj, State } from '../model/objects.js';
import { kindOf } from '../model/registry.js';
import type { Lab } from '../lab/types.js';

function emptyQuery(ns: string, mode: NsQuery['mode']): NsQuery {
  return { ns, mode, sysctls: [], nftTables: [], ipv6Routes: false, bridgeVlans: false, qdiscs: false };
}

/** Both lists' items, once each, sorted. */
function sortedUnion(a: readonly string[], b: readonly string[]): string[] {
  const all = new Set(a);
  for (const x of b) all.add(x);
  return [...all].sort();
}

/** Both lists' tables, once each (by family and name). */
function tablesUnion(a: NsQuery['nftTables'], b: NsQuery['nftTables']): NsQuery['nftTables'] {
  if (!a.length && !b.length) return [];
  return [...new Map([...a, ...b].map((t) => [`${t.family} ${t.table}`, t])).values()];
}

// Scopes are merged per namespace several times a run (observe, journal, verify, record), mostly
// in a cold process, so merging builds the one object it returns and little else.
function mergeQuery(a: NsQuery, b: NsQuery): NsQuery {
  const target = a.target ?? b.target;
  const merged: NsQuery = {
    ns: a.ns,
    // A created namespace stays created even if another source only saw it as shared. A handle
    // (`<lab>-<host>` mounted for an attached namespace) is named like a created one, so the
    // discovered scope sees it as created: the lab's or record's word that it is a handle wins.
    mode: a.mode === 'handle' || b.mode === 'handle' ? 'handle' : a.mode === 'created' || b.mode === 'created' ? 'created' : 'shared',
    sysctls: sortedUnion(a.sysctls, b.sysctls),
    ...(target ? { target } : {}),
    nftTables: tablesUnion(a.nftTables, b.nftTables),
    ipv6Routes: a.ipv6Routes || b.ipv6Routes,
    bridgeVlans: a.bridgeVlans || b.bridgeVlans,
    qdiscs: Boolean(a.qdiscs || b.qdiscs),
  };
  // Absent unless asked for, so queries (and records) of labs without them keep their shape.
  if (a.neighbours || b.neighbours) merged.neighbours = true;
  if (a.proxyNeighbours || b.proxyNeighbours) merged.proxyNeighbours = true;
  if (a.rules || b.rules) merged.rules = sortedUnion(a.rules ?? [], b.rules ?? []);
  if (a.fdb || b.fdb) merged.fdb = true;
  if (a.peers?.length || b.peers?.length) merged.peers = sortedUnion(a.peers ?? [], b.peers ?? []);
  return merged;
}

export function mergeScopes(...scopes: NsQuery[][]): NsQuery[] {
  const out = new Map<string, NsQuery>();
  for (const s of scopes)
    for (const q of s) {
      const seen = out.get(q.ns);
      out.set(q.ns, seen ? mergeQuery(seen, q) : q);
    }
  // By namespace, sorted natively (no comparator call per pair).
  return [...out.keys()].sort().map((ns) => out.get(ns)!);
}

/** The namespaces of a scope the lab shares (the machine's own, named and attached ones): not its own. */
export function sharedNamespaces(scope: NsQuery[]): Set<string> {
  return new Set(scope.filter((q) => q.mode !== 'created').map((q) => q.ns));
}

/** Records that namespaces a and b have links into each other (both ways; nothing for one namespace). */
export function pairNamespaces(neighbours: Map<string, Set<string>>, a: string, b: string): void {
  if (a === b) return;
  let x = neighbours.get(a);
  if (!x) neighbours.set(a, (x = new Set()));
  x.add(b);
  let y = neighbours.get(b);
  if (!y) neighbours.set(b, (y = new Set()));
  y.add(a);
}

/** The scope that covers a set of objects (a desired state or a checkpoint). */
export function scopeOfObjects(objs: Iterable<Obj>, modes: Map<string, NsQuery['mode']>): NsQuery[] {
  const out = new Map<string, NsQuery>();
  const peers = new Map<string, Set<string>>();
  for (const o of objs) {
    let x = out.get(o.ns);
    if (!x) out.set(o.ns, (x = emptyQuery(o.ns, modes.get(o.ns) ?? 'shared')));
    kindOf(o).query?.(o, x);
    // Both ways: a veth's other end points back, and one end may be all these objects hold.
    const away = kindOf(o).anchor?.(o);
    if (away) pairNamespaces(peers, o.ns, away.ns);
  }
  // Only for namespaces in scope anyway: a hint never widens what is read.
  for (const [ns, set] of peers) {
    const x = out.get(ns);
    if (x) x.peers = [...set].sort();
  }
  return mergeScopes([...out.values()]);
}

export function scopeOfLab(lab: Lab, desired: State): NsQuery[] {
  const modes = new Map<string, NsQuery['mode']>();
  const base: NsQuery[] = [];
  for (const h of lab.hosts) {
    const mode = h.netns.kind === 'lab' ? 'created' : h.netns.kind === 'pid' || h.netns.kind === 'path' ? 'handle' : 'shared';
    modes.set(h.ns, mode);
    base.push({ ...emptyQuery(h.ns, mode), ipv6Routes: h.ipv6, nftTables: h.policy || h.podPolicy ? [labTable(lab.name)] : [] });
  }
  return mergeScopes(base, scopeOfObjects(desired.values(), modes));
}

/**
 * Namespaces in /run/netns named like the lab's own (`<lab>-...`): observed as created so
 * leftovers are found. Not those the lab or its record already name (`known`): a namespace the
 * lab shares may be named like that too, and read as created (needing the lab's mark on its lo)
 * the lab's own interfaces in it would be invisible, never removed.
 */
export function discoveredScope(lab: string, netnsNames: string[], ...known: NsQuery[][]): NsQuery[] {
  const named = new Set(known.flatMap((scope) => scope.map((q) => q.ns)));
  // Preflight's throwaway namespace (netlab-probe-PID) may exist meanwhile: never a lab's.
  return netnsNames
    .filter((n) => n.startsWith(`${lab}-`) && !named.has(n) && !/^netlab-probe-\d+$/.test(n))
    .map((n) => emptyQuery(n, 'created'));
}
