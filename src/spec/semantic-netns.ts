// Rules about namespaces: `netns: root` is opt-in per lab, and two hosts of one lab can never
// be the same namespace (their interfaces, routes and policies would fight).
import type { LabContext } from './context.js';
import { labNetnsName } from './names.js';
import type { RawNetns } from './raw.js';

/** One string per distinct namespace, so `{ pid: 7 }` and `{ path: /proc/7/ns/net }` compare equal. */
export function netnsIdentity(lab: string, host: string, netns: RawNetns | undefined): string {
  if (netns === undefined) return `/run/netns/${labNetnsName(lab, host)}`;
  if (netns === 'root') return 'the root namespace';
  if ('name' in netns) return `/run/netns/${netns.name}`;
  if ('pid' in netns) return `/proc/${netns.pid}/ns/net`;
  const named = /^(?:\/var)?\/run\/netns\/([^/]+)$/.exec(netns.path);
  return named ? `/run/netns/${named[1]}` : netns.path.replace(/\/+/g, '/');
}

export function checkNetns(ctx: LabContext): void {
  const owners = new Map<string, string>();
  for (const host of ctx.hosts.values()) {
    const netns = host.raw.netns;
    const path = [...host.path, 'netns'];
    if (netns === 'root' && ctx.raw.root !== true) {
      ctx.report(path, 'netns: root uses the machine\'s own namespace; allow it with "root: true" at the top level of the lab');
    }
    // An attached-by-path/pid namespace is also reachable as its handle /run/netns/<lab>-<host>.
    const handle = typeof netns === 'object' && !('name' in netns) ? [`/run/netns/${labNetnsName(ctx.name, host.name)}`] : [];
    const ids = [netnsIdentity(ctx.name, host.name, netns), ...handle];
    const clash = ids.find((id) => owners.has(id));
    if (clash !== undefined) {
      ctx.report(
        netns === undefined ? host.path : path,
        `hosts "${owners.get(clash)}" and "${host.name}" are both ${clash}: each host needs its own namespace`,
        netns === undefined ? 'key' : 'value',
      );
    }
    for (const id of ids) if (!owners.has(id)) owners.set(id, host.name);
  }
}
