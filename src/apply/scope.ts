// Where to look for a lab's objects: its hosts' namespaces, those of its last apply, and any
// namespace named like one of its own (left by a crash). Observation never reads beyond this.
import type { NsQuery } from '../driver/driver.js';
import { labTable } from '../model/nft.js';
import type { Obj, State } from '../model/objects.js';
import type { Lab } from '../spec/types.js';

function emptyQuery(ns: string, mode: NsQuery['mode']): NsQuery {
  return { ns, mode, sysctls: [], nftTables: [], ipv6Routes: false, bridgeVlans: false, qdiscs: false };
}

function mergeQuery(a: NsQuery, b: NsQuery): NsQuery {
  const tables = new Map([...a.nftTables, ...b.nftTables].map((t) => [`${t.family} ${t.table}`, t]));
  return {
    ns: a.ns,
    // A created namespace stays created even if another source only saw it as shared. A handle
    // (`<lab>-<host>` mounted for an attached namespace) is named like a created one, so the
    // discovered scope sees it as created: the lab's or record's word that it is a handle wins.
    mode: a.mode === 'handle' || b.mode === 'handle' ? 'handle' : a.mode === 'created' || b.mode === 'created' ? 'created' : 'shared',
    sysctls: [...new Set([...a.sysctls, ...b.sysctls])].sort(),
    ...((a.target ?? b.target) ? { target: a.target ?? b.target } : {}),
    nftTables: [...tables.values()],
    ipv6Routes: a.ipv6Routes || b.ipv6Routes,
    bridgeVlans: a.bridgeVlans || b.bridgeVlans,
    qdiscs: Boolean(a.qdiscs || b.qdiscs),
    // Absent unless asked for, so queries (and records) of labs without them keep their shape.
    ...(a.neighbours || b.neighbours ? { neighbours: true } : {}),
    ...(a.rules || b.rules ? { rules: [...new Set([...(a.rules ?? []), ...(b.rules ?? [])])].sort() } : {}),
    ...(a.fdb || b.fdb ? { fdb: true } : {}),
    ...(a.peers?.length || b.peers?.length ? { peers: [...new Set([...(a.peers ?? []), ...(b.peers ?? [])])].sort() } : {}),
  };
}

export function mergeScopes(...scopes: NsQuery[][]): NsQuery[] {
  const out = new Map<string, NsQuery>();
  for (const s of scopes) for (const q of s) out.set(q.ns, out.has(q.ns) ? mergeQuery(out.get(q.ns)!, q) : q);
  return [...out.values()].sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
}

/** The scope that covers a set of objects (a desired state or a checkpoint). */
export function scopeOfObjects(objs: Iterable<Obj>, modes: Map<string, NsQuery['mode']>): NsQuery[] {
  const out = new Map<string, NsQuery>();
  const peers = new Map<string, Set<string>>();
  const q = (ns: string) => {
    let v = out.get(ns);
    if (!v) out.set(ns, (v = emptyQuery(ns, modes.get(ns) ?? 'shared')));
    return v;
  };
  for (const o of objs) {
    const x = q(o.ns);
    if (o.kind === 'netns') x.mode = o.origin === 'created' ? 'created' : 'handle';
    if (o.kind === 'netns' && o.target) x.target = o.target;
    if (o.kind === 'sysctl') x.sysctls.push(o.key);
    if (o.kind === 'nft' && !x.nftTables.some((t) => t.table === o.table)) x.nftTables.push({ family: o.family, table: o.table });
    if ((o.kind === 'route' && o.family === 6) || (o.kind === 'addr' && o.cidr.includes(':'))) x.ipv6Routes = true;
    if (o.kind === 'portvlan' || (o.kind === 'link' && o.type === 'bridge' && o.attrs.vlanFiltering)) x.bridgeVlans = true;
    if (o.kind === 'qdisc') x.qdiscs = true;
    if (o.kind === 'neigh') x.neighbours = true;
    if (o.kind === 'neigh' && o.address.includes(':')) x.ipv6Routes = true;
    if (o.kind === 'rule') x.rules = [...(x.rules ?? []), o.id];
    if (o.kind === 'rule' && o.family === 6) x.ipv6Routes = true;
    if (o.kind === 'fdb' && !o.dst) x.fdb = true;
    if (o.kind === 'link' && o.peer && o.peer.ns !== o.ns) {
      // Both ways: a veth's other end points back, and one end may be all these objects hold.
      peers.set(o.ns, (peers.get(o.ns) ?? new Set()).add(o.peer.ns));
      peers.set(o.peer.ns, (peers.get(o.peer.ns) ?? new Set()).add(o.ns));
    }
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
    base.push({ ...emptyQuery(h.ns, mode), ipv6Routes: h.ipv6, nftTables: h.policy ? [labTable(lab.name)] : [] });
  }
  return mergeScopes(base, scopeOfObjects(desired.values(), modes));
}

/** Namespaces in /run/netns named like the lab's own (`<lab>-...`): observed as created so leftovers are found. */
export function discoveredScope(lab: string, netnsNames: string[]): NsQuery[] {
  // Preflight's throwaway namespace (netlab-probe-PID) may exist meanwhile: never a lab's.
  return netnsNames.filter((n) => n.startsWith(`${lab}-`) && !/^netlab-probe-\d+$/.test(n)).map((n) => emptyQuery(n, 'created'));
}
