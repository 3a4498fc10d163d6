// What a lab owns among objects that carry no mark of their own. A link netlab makes in a
// namespace it shares carries an altname naming the lab, and a namespace it creates a mark on
// its lo; an ip rule, an nft table or the name under which netlab mounts an attached namespace
// (`<lab>-<host>` for `netns: { pid | path }`) cannot carry one. In a namespace the lab shares
// (the machine's own, a named one, an attached one) such an object is the lab's only when the
// lab's last apply made it: one of the same identity that the lab's record does not list is
// someone else's (the user's rule, another lab's, a table or a namespace a user named like
// netlab's). Apply refuses to take it over, and destroy leaves it alone, with or without the
// lab's record.
import { createdNetnsMark } from '../lab/names.js';
import type { ObservedLink } from '../model/link.js';
import type { NsQuery } from './query.js';
import type { LinkObj, Obj, State } from '../model/objects.js';
import { kindOf } from '../model/registry.js';
import { sharedNamespaces } from './scope.js';

const unmarked = (o: Obj) => kindOf(o).unmarked?.(o) ?? false;

/** Splits a live state into what the lab owns and the unmarked objects it does not. */
export function claimUnmarked(live: State, scope: NsQuery[], recorded: Iterable<Obj> | null): { owned: State; foreign: Set<string> } {
  const shared = sharedNamespaces(scope);
  const made = new Set<string>();
  for (const o of recorded ?? []) if (unmarked(o)) made.add(o.id);
  const owned: State = new Map();
  const foreign = new Set<string>();
  for (const [id, o] of live) {
    if (unmarked(o) && shared.has(o.ns) && !made.has(id)) foreign.add(id);
    else owned.set(id, o);
  }
  return { owned, foreign };
}

/**
 * Whether a namespace the query expects the lab to have created is the lab's: its lo carries the
 * lab's mark. Rollback may adopt an unmarked one its run made (see NsQuery.adopt), unless it
 * holds links that run could not have made.
 */
export function namespaceClaim(lab: string, q: NsQuery, links: ObservedLink[]): 'mine' | 'foreign' {
  if (q.mode !== 'created') return 'mine';
  const lo = links.find((l) => l.obj.type === 'loopback');
  if (lo?.obj.alias === createdNetnsMark(lab)) return 'mine';
  const adoptable =
    q.adopt && !lo?.obj.alias && (!q.adoptLinks || links.every((l) => l.obj.type === 'loopback' || q.adoptLinks!.includes(l.obj.ifname)));
  return adoptable ? 'mine' : 'foreign';
}

/** A link is the lab's in a namespace it created, and elsewhere when it carries the lab's altname. */
export function isLabLink(lab: string, q: NsQuery, link: LinkObj): boolean {
  return q.mode === 'created' || (link.altname?.startsWith(`netlab.${lab}.`) ?? false);
}
