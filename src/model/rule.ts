// Policy routing rules (`ip rule`). In namespaces the lab creates every rule but the kernel's
// own (priorities 0, 32766, 32767 to local, main, default) is the lab's; in shared ones only the
// rules the lab asks for (by id, see NsQuery.rules) are read, so foreign rules are never touched.
// IPv6 rules need `ip -6`: their lines start with `-6 `, which the real driver runs as `ip -6 -batch`.
import type { Lab } from '../spec/types.js';
import { PHASE, type Command } from './command.js';
import { ids, type RuleObj } from './objects.js';

const TABLE_NAMES: Record<string, number> = { main: 254, default: 253, local: 255 };

export function desiredRules(lab: Lab): RuleObj[] {
  const out: RuleObj[] = [];
  for (const h of lab.hosts)
    for (const r of h.rules ?? []) {
      const body = {
        family: r.family,
        priority: r.priority,
        from: r.from,
        to: r.to,
        iif: r.iif,
        oif: r.oif,
        fwmark: r.fwmark,
        table: r.table,
      };
      out.push({ kind: 'rule', id: ids.rule(h.ns, body), ns: h.ns, ...body });
    }
  return out;
}

/** One entry of `ip -j rule show`. */
export interface RawRule {
  priority: number;
  src?: string;
  srclen?: number;
  dst?: string;
  dstlen?: number;
  iif?: string;
  oif?: string;
  fwmark?: string;
  fwmask?: string;
  table?: string;
  action?: string;
}

function prefix(addr: string | undefined, len: number | undefined, family: 4 | 6): string | null {
  if (addr === undefined || addr === 'all') return null;
  return `${addr}/${len ?? (family === 4 ? 32 : 128)}`;
}

/** The kernel's own rules in every namespace. */
function isDefault(r: RawRule): boolean {
  const plain = r.src === 'all' && r.dst === undefined && r.iif === undefined && r.oif === undefined && r.fwmark === undefined;
  return (
    plain &&
    ((r.priority === 0 && r.table === 'local') ||
      (r.priority === 32766 && r.table === 'main') ||
      (r.priority === 32767 && r.table === 'default'))
  );
}

export function parseRule(ns: string, family: 4 | 6, r: RawRule): RuleObj | null {
  if (isDefault(r) || (r.action !== undefined && r.action !== 'unicast') || r.table === undefined) return null;
  const table = TABLE_NAMES[r.table] ?? Number(r.table);
  if (!Number.isFinite(table)) return null;
  const mask = r.fwmask === undefined || Number(r.fwmask) === 0xffffffff ? '' : `/0x${Number(r.fwmask).toString(16)}`;
  const body = {
    family,
    priority: r.priority,
    from: prefix(r.src, r.srclen, family),
    to: prefix(r.dst, r.dstlen, family),
    iif: r.iif ?? null,
    oif: r.oif ?? null,
    fwmark: r.fwmark === undefined ? null : `0x${Number(r.fwmark).toString(16)}${mask}`,
    table,
  };
  return { kind: 'rule', id: ids.rule(ns, body), ns, ...body };
}

function spec(o: RuleObj): string {
  return [
    `pref ${o.priority}`,
    o.from ? `from ${o.from}` : '',
    o.to ? `to ${o.to}` : '',
    o.iif ? `iif ${o.iif}` : '',
    o.oif ? `oif ${o.oif}` : '',
    o.fwmark ? `fwmark ${o.fwmark}` : '',
    `table ${o.table}`,
  ]
    .filter(Boolean)
    .join(' ');
}

function line(o: RuleObj, verb: 'add' | 'del'): string {
  return `${o.family === 6 ? '-6 ' : ''}rule ${verb} ${spec(o)}`;
}

export function createRule(o: RuleObj): Command[] {
  return [{ tool: 'ip', ns: o.ns, line: line(o, 'add'), phase: PHASE.route, effect: { set: [o] } }];
}

export function deleteRule(o: RuleObj): Command[] {
  return [{ tool: 'ip', ns: o.ns, line: line(o, 'del'), phase: PHASE.route, effect: { remove: [o.id] } }];
}
