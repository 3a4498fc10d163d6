// Namespaces: created ones (owned, marked on their `lo`) and handles for attached ones.
import type { Lab } from '../spec/types.js';
import { PHASE, type Command } from './command.js';
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

export function createNetns(o: NetnsObj): Command[] {
  if (o.origin === 'created') {
    // A new namespace comes with `lo` down and unmarked; the lo link step marks it.
    return [{ tool: 'ip', ns: '', line: `netns add ${o.ns}`, phase: PHASE.netns, effect: { set: [o, loopback(o.ns, null)] } }];
  }
  const source = o.target ? targetPath(o.target) : '';
  return [{ tool: 'handle', ns: o.ns, action: 'mount', source, phase: PHASE.netns, effect: { set: [o] } }];
}

export function deleteNetns(o: NetnsObj): Command[] {
  if (o.origin === 'created') {
    return [{ tool: 'ip', ns: '', line: `netns del ${o.ns}`, phase: PHASE.netns, effect: { remove: [o.id], removeNamespace: o.ns } }];
  }
  // Unmounting a handle leaves the attached namespace and its contents alone.
  return [{ tool: 'handle', ns: o.ns, action: 'unmount', source: '', phase: PHASE.netns, effect: { remove: [o.id] } }];
}
