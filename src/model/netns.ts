// Namespaces: created ones (owned, marked on their `lo`) and handles for attached ones.
import type { Lab } from '../lab/types.js';
import { PHASE, type Operation } from './operations.js';
import type { Kind } from './kind.js';
import { loopback } from './link.js';
import { ids, type NetnsObj } from './objects.js';

export function desiredNetns(lab: Lab): NetnsObj[] {
  const out: NetnsObj[] = [];
  for (const h of lab.hosts) {
    const n = h.netns;
    if (n.kind === 'lab') out.push({ kind: 'netns', id: ids.netns(n.name), ns: n.name, origin: 'created', target: null });
    if (n.kind === 'pid' || n.kind === 'path') {
      const target = n.kind === 'pid' ? { pid: n.pid } : { path: n.path };
      out.push({ kind: 'netns', id: ids.netns(n.handle), ns: n.handle, origin: 'handle', target });
    }
  }
  return out;
}

/** The file that is an attached namespace: `/proc/PID/ns/net`, or the path given. */
export function targetPath(t: NonNullable<NetnsObj['target']>): string {
  return 'pid' in t ? `/proc/${t.pid}/ns/net` : t.path;
}

export function createNetns(o: NetnsObj): Operation[] {
  if (o.origin === 'created') return [{ op: 'netns.add', ns: '', netns: o, phase: PHASE.netns }];
  const source = o.target ? targetPath(o.target) : '';
  return [{ op: 'handle.mount', ns: o.ns, netns: o, source, phase: PHASE.netns }];
}

export function deleteNetns(o: NetnsObj): Operation[] {
  if (o.origin === 'created') return [{ op: 'netns.del', ns: '', netns: o, phase: PHASE.netns }];
  return [{ op: 'handle.unmount', ns: o.ns, netns: o, phase: PHASE.netns }];
}

export const netnsKind: Kind<NetnsObj> = {
  kind: 'netns',
  describe: (o) => `netns ${o.ns}`,
  desired: desiredNetns,
  query: (o, q) => {
    q.mode = o.origin === 'created' ? 'created' : 'handle';
    if (o.target) q.target = o.target;
  },
  create: createNetns,
  remove: deleteNetns,
  // A created namespace takes what is inside along and brings its lo.
  namespace: { owns: (o) => o.origin === 'created', comesWith: (o) => (o.origin === 'created' ? [loopback(o.ns, null)] : []) },
  conflict: (o, f) => (f.foreignNetns?.has(o.ns) ? 'a namespace of that name exists and was not created by this lab' : null),
  unmarked: (o) => o.origin === 'handle',
};
