// Rules about names the kernel will see: interface names must fit IFNAMSIZ in namespaces the
// lab creates, and the ownership altname must fit in shared ones.
import type { IfaceEntry, LabContext } from './context.js';
import { ALTNAME_MAX, IFNAME_MAX, IFNAME_PATTERN } from './names.js';

function definedAt(e: IfaceEntry) {
  // A declared interface is reported at its key, a link-created one at the link end text.
  return { path: e.path, part: e.declared ? ('key' as const) : ('value' as const) };
}

export function checkNames(ctx: LabContext): void {
  for (const host of ctx.hosts.values()) {
    for (const e of host.ifaces.values()) {
      const { path, part } = definedAt(e);
      if (e.name === 'lo') {
        ctx.report(path, `"lo" is the loopback interface every namespace already has; netlab cannot create it`, part);
        continue;
      }
      if (host.shared) {
        const alt = ctx.altname(e)!;
        const bytes = Buffer.byteLength(alt);
        if (bytes > ALTNAME_MAX) {
          ctx.report(path, `altname "${alt}" is ${bytes} bytes; Linux allows at most ${ALTNAME_MAX}: shorten the interface name`, part);
        }
        continue;
      }
      const bytes = Buffer.byteLength(e.name);
      if (bytes > IFNAME_MAX) {
        ctx.report(path, `interface name "${e.name}" is ${bytes} bytes; Linux allows at most ${IFNAME_MAX}`, part);
      } else if (!IFNAME_PATTERN.test(e.name)) {
        ctx.report(path, `interface name "${e.name}" has characters Linux does not allow (use letters, digits, "_", "." or "-")`, part);
      }
    }
  }
}
