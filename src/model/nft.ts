// The lab's nftables table in a namespace: one object, replaced atomically in one `nft -f`.
import type { Lab } from '../spec/types.js';
import { nftTableName } from '../spec/names.js';
import { PHASE, type Command } from './command.js';
import { ids, type NftObj } from './objects.js';
import { deleteTableScript, renderPolicy, replaceTableScript, rulesFromListing } from './policy.js';

export function desiredNft(lab: Lab): NftObj[] {
  const out: NftObj[] = [];
  for (const h of lab.hosts) {
    if (!h.policy) continue;
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
export function writeNft(o: NftObj): Command[] {
  return [{ tool: 'nft', ns: o.ns, script: replaceTableScript(o), phase: PHASE.nft, effect: { set: [o] } }];
}

export function deleteNft(o: NftObj): Command[] {
  return [{ tool: 'nft', ns: o.ns, script: deleteTableScript(o.family, o.table), phase: PHASE.nft, effect: { remove: [o.id] } }];
}
