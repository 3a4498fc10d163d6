// What observation reads (a query per namespace) and what it returns: the lab's objects, with
// the names it found taken by others. Drivers read what a query asks; src/observe decides what of
// it is the lab's.
import type { State } from '../model/objects.js';
import type { NsQuery } from '../model/query.js';

export type { NsQuery } from '../model/query.js';

export interface ObserveRequest {
  lab: string;
  namespaces: NsQuery[];
}

export interface Observation {
  state: State;
  /** Link ids that exist in observed shared namespaces but are not the lab's. */
  foreignLinks: Set<string>;
  /** Namespaces expected to be the lab's that exist without its mark. */
  foreignNetns: Set<string>;
}
