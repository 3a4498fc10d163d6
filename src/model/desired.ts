// A lab's desired state: every object it should own, in the shapes observation produces.
import type { Lab } from '../lab/types.js';
import { desiredAddrs } from './addr.js';
import { desiredFdb } from './fdb.js';
import { desiredLinks } from './link.js';
import { desiredNetns } from './netns.js';
import { desiredNft } from './nft.js';
import { bridgesNeedingHairpin } from './policy.js';
import { desiredPortVlans } from './portvlan.js';
import { desiredNeighbours } from './neigh.js';
import { desiredProcesses } from './process.js';
import { desiredQdiscs } from './qdisc.js';
import { desiredRoutes } from './route.js';
import { desiredRules } from './rule.js';
import { desiredSysctls } from './sysctl.js';
import { stateOf, type State } from './objects.js';

export function desiredState(lab: Lab): State {
  return stateOf([
    ...desiredNetns(lab),
    ...desiredLinks(lab, bridgesNeedingHairpin),
    ...desiredSysctls(lab),
    ...desiredAddrs(lab),
    ...desiredRoutes(lab),
    ...desiredFdb(lab),
    ...desiredPortVlans(lab),
    ...desiredNft(lab),
    ...desiredQdiscs(lab),
    ...desiredNeighbours(lab),
    ...desiredRules(lab),
    ...desiredProcesses(lab),
  ]);
}
