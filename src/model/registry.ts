// Every object kind, in the order a lab's desired state lists them. Adding a kind is one module
// implementing Kind (src/model/kind.ts) and one line here.
import type { Lab } from '../lab/types.js';
import { addrKind } from './addr.js';
import { fdbKind } from './fdb.js';
import type { Kind } from './kind.js';
import { linkKind } from './link.js';
import { neighKind } from './neigh.js';
import { netnsKind } from './netns.js';
import { nftKind } from './nft.js';
import { stateOf, type Obj, type ObjKind, type State, type SysctlObj } from './objects.js';
import { portvlanKind } from './portvlan.js';
import { processKind } from './process.js';
import { proxyNeighKind } from './proxy-neigh.js';
import { qdiscKind } from './qdisc.js';
import { routeKind } from './route.js';
import { ruleKind } from './rule.js';
import { sysctlKind } from './sysctl.js';

type Registry = { [K in ObjKind]: Kind<Extract<Obj, { kind: K }>> };

// Built on first use: objects.ts asks the registry for descriptions, and the kind modules import
// objects.ts, so the table must not be read while those modules are still loading.
let table: Registry | undefined;

function registry(): Registry {
  return (table ??= {
    netns: netnsKind,
    link: linkKind,
    sysctl: sysctlKind,
    addr: addrKind,
    route: routeKind,
    fdb: fdbKind,
    portvlan: portvlanKind,
    nft: nftKind,
    qdisc: qdiscKind,
    neigh: neighKind,
    proxyneigh: proxyNeighKind,
    rule: ruleKind,
    process: processKind,
  });
}

/** The kind an object is of, typed for that object. */
export function kindOf<O extends Obj>(o: O): Kind<O> {
  return registry()[o.kind] as unknown as Kind<O>;
}

/** Every registered kind, in desired-state order. */
export function kinds(): Kind[] {
  return Object.values(registry()) as unknown as Kind[];
}

/** A lab's desired state: every object it should own, in the shapes observation produces. */
export function desiredOf(lab: Lab): State {
  return stateOf(kinds().flatMap((k) => k.desired(lab)));
}

/** A kernel value the lab sets (see Kind.setting). */
export function isSetting(o: Obj): o is SysctlObj {
  return kindOf(o).setting === true;
}
