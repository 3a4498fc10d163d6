// All semantic rules, run on a lab that passed the schema. Each rule reports every problem it
// finds (not just the first) and skips what another rule already reports.
import { checkConditions } from './conditions.js';
import type { LabContext } from './context.js';
import { checkExpect } from './expect.js';
import { checkMachines } from './machines.js';
import { checkGateways, checkHostAddresses, checkIpv6, checkRouteDestinations, checkSegments } from './semantic-addresses.js';
import { checkDevices } from './semantic-devices.js';
import { checkProcesses } from './semantic-processes.js';
import { checkTables } from './semantic-tables.js';
import { checkNames } from './semantic-names.js';
import { checkNat } from './semantic-nat.js';
import { checkNetns } from './semantic-netns.js';
import { checkNetworkPolicies } from './netpol.js';
import { checkReferences } from './semantic-refs.js';

export function checkSemantics(ctx: LabContext): void {
  checkNetns(ctx);
  checkNames(ctx);
  checkReferences(ctx);
  checkDevices(ctx);
  checkHostAddresses(ctx);
  checkSegments(ctx);
  checkRouteDestinations(ctx);
  checkGateways(ctx);
  checkIpv6(ctx);
  checkNat(ctx);
  checkConditions(ctx);
  checkNetworkPolicies(ctx);
  checkExpect(ctx);
  for (const host of ctx.hosts.values()) checkProcesses(ctx, host);
  checkTables(ctx);
  checkMachines(ctx);
}
