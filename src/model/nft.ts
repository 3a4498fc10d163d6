// The lab's nftables table in a namespace: one object, replaced atomically in one `nft -f`.
import type { Lab } from '../lab/types.js';
import { nftTableName } from '../lab/names.js';
import { PHASE, type Operation } from './operations.js';
import type { Kind } from './kind.js';
import { ids, nsLabel, type NftObj } from './objects.js';
import { deleteTableScript, renderPolicy, replaceTableScript, ruleEntries, rulesFromListing } from './policy.js';

export function desiredNft(lab: Lab): NftObj[] {
  const out: NftObj[] = [];
  for (const h of lab.hosts) {
    if (!h.policy && !h.podPolicy) continue;
    const r = renderPolicy(lab.name, h);
    if (r)
      out.push({
        kind: 'nft',
        id: ids.nft(h.ns, r.family, r.table),
        ns: h.ns,
        family: r.family,
        table: r.table,
        rules: r.rules,
        body: r.body,
      });
  }
  return out;
}

/** The table a lab owns in every namespace it has policy in. */
export function labTable(lab: string): { family: string; table: string } {
  return { family: 'inet', table: nftTableName(lab) };
}

export function parseNftListing(ns: string, family: string, table: string, text: string): NftObj {
  return { kind: 'nft', id: ids.nft(ns, family, table), ns, family, table, rules: rulesFromListing(text), body: text.trim() };
}

/** Create and change are the same transaction: the table is replaced whole, never half-written. */
export function writeNft(o: NftObj): Operation[] {
  return [{ op: 'nft.replace', ns: o.ns, table: o, script: replaceTableScript(o), phase: PHASE.nft }];
}

export function deleteNft(o: NftObj): Operation[] {
  return [{ op: 'nft.delete', ns: o.ns, family: o.family, table: o.table, script: deleteTableScript(o.family, o.table), phase: PHASE.nft }];
}

/** One rule a table change adds or removes, for a reviewer of the plan. */
export interface RuleChange {
  op: '+' | '-';
  chain: string;
  rule: string;
}

/**
 * The rules that differ between two versions of a table (either may be absent), rule by rule as
 * the digests in their comments tell them: what a firewall change is, not "20 lines".
 */
export function nftRuleChanges(before: NftObj | undefined, after: NftObj | undefined): RuleChange[] {
  const was = before ? ruleEntries(before.body) : [];
  const will = after ? ruleEntries(after.body) : [];
  const wasIds = new Set(was.map((r) => r.id));
  const willIds = new Set(will.map((r) => r.id));
  const removed = was.filter((r) => !willIds.has(r.id));
  const added = will.filter((r) => !wasIds.has(r.id));
  // A rule whose digest changed only because rules were added before it is the same rule: its
  // text in its chain is what a reviewer compares.
  const key = (r: { chain: string; text: string }) => `${r.chain}\0${r.text}`;
  const addedKeys = new Map<string, number>();
  for (const r of added) addedKeys.set(key(r), (addedKeys.get(key(r)) ?? 0) + 1);
  const kept = new Map<string, number>();
  const out: RuleChange[] = [];
  for (const r of removed) {
    const n = addedKeys.get(key(r)) ?? 0;
    if (n > 0) {
      addedKeys.set(key(r), n - 1);
      kept.set(key(r), (kept.get(key(r)) ?? 0) + 1);
    } else out.push({ op: '-', chain: r.chain, rule: r.text });
  }
  for (const r of added) {
    const n = kept.get(key(r)) ?? 0;
    if (n > 0) kept.set(key(r), n - 1);
    else out.push({ op: '+', chain: r.chain, rule: r.text });
  }
  return out;
}

export const nftKind: Kind<NftObj> = {
  kind: 'nft',
  describe: (o) => `nft table ${o.family} ${o.table} in ${nsLabel(o.ns)}`,
  desired: desiredNft,
  // nft normalises the text: the rule digests stand for the body.
  comparable: ({ body: _body, ...rest }) => rest,
  query: (o, q) => {
    if (!q.nftTables.some((t) => t.table === o.table)) q.nftTables.push({ family: o.family, table: o.table });
  },
  create: writeNft,
  modify: (_live, desired) => writeNft(desired),
  remove: deleteNft,
  stepDetail: (live, desired) => ({ rules: nftRuleChanges(live, desired) }),
  unmarked: () => true,
  asked: (o, q) => q.nftTables.some((t) => t.table === o.table && t.family === o.family),
};
