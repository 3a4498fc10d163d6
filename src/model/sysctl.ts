// Namespace sysctls. IPv6 is switched off on lab namespaces unless the lab asks for it:
// autoconfiguration on bridge ports makes building cost grow with N^2.
import { KernelError } from '../errors.js';
import { isSysctlKey, SYSCTL_KEY_WORDS } from '../lab/names.js';
import type { Lab } from '../lab/types.js';
import { PHASE, type Operation } from './operations.js';
import type { Kind } from './kind.js';
import { ids, nsLabel, type SysctlObj } from './objects.js';
import { localnetInterfaces } from './policy.js';

/**
 * `net.ipv4.conf.eth0/10.rp_filter` -> /proc/sys/net/ipv4/conf/eth0.10/rp_filter (sysctl(8)'s
 * convention). Refuses a key that is not the grammar of isSysctlKey, whatever let it through: the path is opened as root.
 */
export function sysctlPath(key: string): string {
  if (!isSysctlKey(key))
    throw new KernelError({
      ns: '',
      command: `sysctl ${JSON.stringify(key)}`,
      stderr: `refusing a sysctl key that is not ${SYSCTL_KEY_WORDS}`,
    });
  return `/proc/sys/${key
    .split('.')
    .map((p) => p.replace(/\//g, '.'))
    .join('/')}`;
}

/** Values as the kernel prints them, whitespace collapsed (`0\t2147483647` -> `0 2147483647`). */
export function normaliseSysctlValue(v: string): string {
  return v.trim().split(/\s+/).join(' ');
}

export function desiredSysctls(lab: Lab): SysctlObj[] {
  const out: SysctlObj[] = [];
  for (const h of lab.hosts) {
    const values: Record<string, string> = {};
    if (h.netns.kind === 'lab') {
      const off = h.ipv6 ? '0' : '1';
      values['net.ipv6.conf.all.disable_ipv6'] = off;
      values['net.ipv6.conf.default.disable_ipv6'] = off;
    }
    // Loopback connections to a published port leave through these (see localnetInterfaces); the lab's own values win.
    for (const ifname of localnetInterfaces(h)) values[`net.ipv4.conf.${ifname.replace(/\./g, '/')}.route_localnet`] = '1';
    Object.assign(values, h.sysctls);
    // Per-interface ones (`sysctls:` on an interface); written after the links exist (see setSysctl).
    for (const i of h.interfaces) Object.assign(values, i.sysctls ?? {});
    for (const [key, value] of Object.entries(values))
      out.push({ kind: 'sysctl', id: ids.sysctl(h.ns, key), ns: h.ns, key, value: normaliseSysctlValue(value) });
  }
  return out;
}

/** The interface a per-interface key names (`net.ipv4.conf.eth0.rp_filter` -> eth0), or null. */
export function sysctlInterface(key: string): string | null {
  const m = /^net\.ipv[46]\.(?:conf|neigh)\.([^.]+)\./.exec(key);
  return m && m[1] !== 'all' && m[1] !== 'default' ? m[1]!.replace(/\//g, '.') : null;
}

export function setSysctl(o: SysctlObj): Operation[] {
  // A per-interface key exists only once its interface does: write it after the links are made.
  const phase = sysctlInterface(o.key) === null ? PHASE.sysctl : PHASE.linkSet;
  return [{ op: 'sysctl.set', ns: o.ns, key: o.key, value: o.value, restores: false, phase }];
}

/**
 * Dropping a sysctl from a lab writes back the value it had before the lab set it, when known
 * (it always is for shared namespaces: apply records it). Otherwise the value stays.
 */
export function releaseSysctl(o: SysctlObj, original: string | undefined): Operation[] {
  if (original === undefined) return [];
  return [{ op: 'sysctl.set', ns: o.ns, key: o.key, value: original, restores: true, phase: PHASE.sysctl }];
}

export const sysctlKind: Kind<SysctlObj> = {
  kind: 'sysctl',
  describe: (o) => `sysctl ${o.key} in ${nsLabel(o.ns)}`,
  desired: desiredSysctls,
  query: (o, q) => void q.sysctls.push(o.key),
  create: setSysctl,
  modify: (_live, desired) => setSysctl(desired),
  setting: true,
  asked: (o, q) => q.sysctls.includes(o.key),
  remove: (o, ctx) => releaseSysctl(o, ctx.sysctlOriginals?.[o.id]),
  // net.ipv4.conf.IF.* goes with IF (a recreated link starts from the defaults).
  diesWith: (o, link) => o.ns === link.ns && sysctlInterface(o.key) === link.ifname,
};
