// One function turns what a driver read (a dump per namespace, from the kernel or the fake
// kernel alike) into the lab's observed state: the ownership rules decide what is the lab's, and
// veth peers and parents are named across namespaces.
import type { ObservedLink } from '../model/link.js';
import { ids, type NetnsObj, type Obj, type State } from '../model/objects.js';
import { kindOf } from '../model/registry.js';
import { isLabLink, namespaceClaim } from './ownership.js';
import type { NsQuery, Observation } from './query.js';

/** One namespace as read: every link and object there, whoever's they are. */
export interface NsDump {
  q: NsQuery;
  /** Its links netlab manages, with the reference to their peer or parent still to name. */
  links: ObservedLink[];
  /** Every device there by index (peers and parents may be devices netlab does not manage). */
  names: { ifindex: number; ifname: string }[];
  /** The namespaces its links point into, by nsid (no name: the machine's own). */
  nsids: { nsid: number; name?: string }[];
  /** Everything else read there. */
  objects: Obj[];
  /** For a handle: the target it points at, when it is the one asked for. */
  handle: NetnsObj['target'];
}

/**
 * The lab's objects in the dumps. `loose`: objects read for a namespace without a dump (the
 * sysctls of an attached namespace read through its target before its handle exists).
 */
export function assemble(lab: string, dumps: NsDump[], loose: Obj[] = []): Observation {
  const state: State = new Map();
  const foreignLinks = new Set<string>();
  const foreignNetns = new Set<string>();
  const add = (o: Obj) => state.set(o.id, o);
  const mine = new Map<string, { dump: NsDump; links: ObservedLink[]; owned: Set<string> | null }>();

  for (const dump of dumps) {
    const { q } = dump;
    const claim = namespaceClaim(lab, q, dump.links);
    if (claim === 'foreign') {
      foreignNetns.add(q.ns);
      continue;
    }
    if (q.mode === 'created') add({ kind: 'netns', id: ids.netns(q.ns), ns: q.ns, origin: 'created', target: null });
    else if (q.mode === 'handle') add({ kind: 'netns', id: ids.netns(q.ns), ns: q.ns, origin: 'handle', target: dump.handle });
    const links = dump.links.filter((l) => {
      const its = isLabLink(lab, q, l.obj);
      if (!its) foreignLinks.add(l.obj.id);
      return its;
    });
    // In a created namespace every device is the lab's; in a shared one, those it marked.
    const owned = q.mode === 'created' ? null : new Set(links.map((l) => l.obj.ifname));
    mine.set(q.ns, { dump, links, owned });
  }

  // Resolve peers: nsid -> name; an unnamed nsid is the root namespace.
  const linkByIndex = new Map<string, string>();
  for (const [ns, { dump }] of mine) for (const l of dump.names) linkByIndex.set(`${ns}#${l.ifindex}`, l.ifname);
  for (const [ns, { dump, links }] of mine) {
    const nsidName = new Map(dump.nsids.map((n) => [n.nsid, n.name ?? '']));
    for (const l of links) {
      if (l.peerRef) {
        const peerNs = l.peerRef.nsid === undefined ? ns : (nsidName.get(l.peerRef.nsid) ?? '');
        const ifname = linkByIndex.get(`${peerNs}#${l.peerRef.ifindex}`) ?? `#${l.peerRef.ifindex}`;
        l.obj.peer = { ns: peerNs, ifname };
      }
      add(l.obj);
    }
  }

  for (const { dump, owned } of mine.values()) {
    const shared = owned !== null;
    for (const o of dump.objects) {
      const kind = kindOf(o);
      const devs = kind.devices?.(o);
      if (devs && !devs.some((d) => owned === null || owned.has(d))) continue;
      if (shared && kind.named && !kind.named(o, dump.q)) continue;
      add(o);
    }
  }
  for (const o of loose) if (!foreignNetns.has(o.ns)) add(o);
  return { state, foreignLinks, foreignNetns };
}
