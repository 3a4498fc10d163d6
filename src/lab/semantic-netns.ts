// Rules about namespaces: `netns: root` is opt-in per lab, and two hosts of one lab can never
// be the same namespace (their interfaces, routes and policies would fight).
import type { LabContext } from './context.js';
import type { Path } from './locate.js';
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

/** The kernel's highest possible pid (PID_MAX_LIMIT on 64-bit): a larger one names no process. */
export const PID_MAX_LIMIT = 4194304;

/** Files that can be a network namespace: a process's (or thread's) namespace, or a mounted handle. */
const NETNS_PATH = /^\/proc\/(\d+)(?:\/task\/(\d+))?\/ns\/net$|^(?:\/var)?\/run\/(?:docker\/)?netns\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

const NETNS_PATHS = '/proc/PID/ns/net, /proc/PID/task/TID/ns/net, /run/netns/NAME or /run/docker/netns/NAME (or the same under /var/run)';

const validPid = (pid: number) => Number.isSafeInteger(pid) && pid >= 1 && pid <= PID_MAX_LIMIT;

/** Namespace paths and pids apply could only refuse (preflight, without a position). */
function checkNetnsTarget(ctx: LabContext, netns: RawNetns | undefined, path: Path): void {
  if (typeof netns !== 'object') return;
  if ('pid' in netns && !validPid(netns.pid)) {
    ctx.report([...path, 'pid'], `pid ${netns.pid} names no process: a pid is 1..${PID_MAX_LIMIT} (the kernel's PID_MAX_LIMIT)`);
  }
  if ('path' in netns) {
    const m = NETNS_PATH.exec(netns.path);
    if (!m) ctx.report([...path, 'path'], `${netns.path} is not a network namespace file: use ${NETNS_PATHS}`);
    else if ([m[1], m[2]].some((pid) => pid !== undefined && !validPid(Number(pid))))
      ctx.report([...path, 'path'], `${netns.path} names no process: a pid is 1..${PID_MAX_LIMIT} (the kernel's PID_MAX_LIMIT)`);
  }
}

export function checkNetns(ctx: LabContext): void {
  // The namespaces the lab makes are told apart by their hosts' names: only a host that names or
  // attaches one can meet another, so without one no big lab keeps a name per host to learn that.
  let attaching = false;
  for (const host of ctx.hosts.values()) attaching ||= host.raw.netns !== undefined;
  if (!attaching) return;
  const owners = new Map<string, string>();
  for (const host of ctx.hosts.values()) {
    const netns = host.raw.netns;
    const path = [...host.path, 'netns'];
    checkNetnsTarget(ctx, netns, path);
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
