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
    const id = netnsIdentity(ctx.name, host.name, netns);
    const first = owners.get(id);
    if (first !== undefined) {
      ctx.report(
        netns === undefined ? host.path : path,
        `hosts "${first}" and "${host.name}" are both ${id}: each host needs its own namespace`,
        netns === undefined ? 'key' : 'value',
      );
    } else owners.set(id, host.name);
  }
}
