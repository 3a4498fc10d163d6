// `ip -d -j link` prints a tap's owner as a name when the id resolves (user "root") and as a
// number otherwise; the netlink reader always gives numbers. Names are turned into ids here, on
// the reading side, so the model only ever sees numbers.
import { readFileSync } from 'node:fs';
import type { RawLink } from '../model/link.js';

const ownerDbs = new Map<string, Map<string, number>>();

/** A uid/gid as iproute2 printed it (a number, or a name from /etc/passwd or /etc/group) as a number. */
export function ownerId(v: unknown, db: 'passwd' | 'group'): number | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v === 'number' || /^\d+$/.test(String(v))) return Number(v);
  let names = ownerDbs.get(db);
  if (!names) {
    names = new Map();
    try {
      for (const line of readFileSync(`/etc/${db}`, 'utf8').split('\n')) {
        const [name, , id] = line.split(':');
        if (name && id !== undefined && /^\d+$/.test(id) && !names.has(name)) names.set(name, Number(id));
      }
    } catch {
      // no database: names stay unresolved
    }
    ownerDbs.set(db, names);
  }
  return names.get(String(v)) ?? null;
}

/** The link with its tap owner as numbers (unchanged when it has none, or they are numbers already). */
export function withNumericOwners(raw: RawLink): RawLink {
  // Only a tun/tap's `group` is an owner: a VXLAN's is its multicast group.
  if (raw.linkinfo?.info_kind !== 'tun') return raw;
  const d = raw.linkinfo.info_data as Record<string, unknown> | undefined;
  if (!d || (typeof d.user !== 'string' && typeof d.group !== 'string')) return raw;
  const info_data = { ...d, user: ownerId(d.user, 'passwd') ?? undefined, group: ownerId(d.group, 'group') ?? undefined };
  return { ...raw, linkinfo: { ...raw.linkinfo, info_data } };
}
