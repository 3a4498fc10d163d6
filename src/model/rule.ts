// Policy routing rules (`ip rule`). In namespaces the lab creates every rule but the kernel's
// own (priorities 0, 32766, 32767 to local, main, default) is the lab's; in shared ones only the
// rules the lab asks for (by id, see NsQuery.rules) are read, so foreign rules are never touched.
import type { Lab } from '../lab/types.js';
import { PHASE, type Operation } from './operations.js';
import type { Kind } from './kind.js';
import { ids, nsLabel, type RuleObj } from './objects.js';

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

export function createRule(o: RuleObj): Operation[] {
  return [{ op: 'rule.add', ns: o.ns, rule: o, phase: PHASE.route }];
}

export function deleteRule(o: RuleObj): Operation[] {
  return [{ op: 'rule.del', ns: o.ns, rule: o, phase: PHASE.route }];
}

export const ruleKind: Kind<RuleObj> = {
  kind: 'rule',
  describe: (o) => `rule ${o.priority} (IPv${o.family}) lookup ${o.table} in ${nsLabel(o.ns)}`,
  desired: desiredRules,
  query: (o, q) => {
    (q.rules ??= []).push(o.id);
    if (o.family === 6) q.ipv6Routes = true;
  },
  create: createRule,
  modify: (_live, desired) => createRule(desired),
  remove: deleteRule,
  unmarked: () => true,
  // Read whole in a created namespace (every rule but the kernel's); in a shared one, only those named.
  asked: (o, q) => q.rules !== undefined && (q.mode === 'created' || q.rules.includes(o.id)),
  named: (o, q) => q.rules?.includes(o.id) ?? false,
};
