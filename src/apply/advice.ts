// What else in a namespace changes how the lab's nft policy behaves, said before applying it:
// iptables-legacy rules and other nft tables see the same packets, and br_netfilter decides
// whether bridged traffic passes the lab's forward chain at all.
import type { Driver, PolicyEnvironment } from '../driver/driver.js';
import { nsLabel } from '../model/objects.js';
import { nftTableName } from '../lab/names.js';
import type { Host, Lab } from '../lab/types.js';

function hasBridge(h: Host): boolean {
  return h.interfaces.some((i) => i.kind === 'bridge');
}

/** Pure: the advice for one host, given what its namespace holds. */
export function adviceFor(lab: string, h: Host, env: PolicyEnvironment): string[] {
  const out: string[] = [];
  const where = `host ${h.name} (namespace ${nsLabel(h.ns)})`;
  if (env.legacyRules > 0) {
    out.push(
      `${where} has ${env.legacyRules} iptables-legacy rule(s): they run alongside netlab's nft table, and either can drop or rewrite a packet the other accepts (list them with iptables-legacy-save)`,
    );
  }
  const others = env.nftTables.filter((t) => t !== `inet ${nftTableName(lab)}`);
  if (others.length) out.push(`${where} has other nft tables (${others.join(', ')}): their chains see the same packets as the lab's`);
  if (!hasBridge(h) || !h.policy) return out;
  // The lab's own setting wins over what the namespace has now.
  const brnf = h.sysctls['net.bridge.bridge-nf-call-iptables'] ?? env.bridgeNfCallIptables;
  const filters = h.policy.rules.length > 0 || h.policy.defaultAction === 'deny';
  if (brnf === '1' && filters) {
    out.push(
      `${where}: br_netfilter is on (net.bridge.bridge-nf-call-iptables=1), so traffic between ports of one bridge passes the lab's forward chain and its filter rules`,
    );
  }
  const sameBridgeBackends = h.policy.services.length > 0 || h.policy.dnat.length > 0;
  if (brnf !== '1' && sameBridgeBackends) {
    out.push(
      `${where}: br_netfilter is ${brnf === null ? 'not loaded' : 'off'}, so replies from a backend on the same bridge as its client skip conntrack and the DNAT is not undone; ` +
        `set net.bridge.bridge-nf-call-iptables: 1 in the host's sysctls${brnf === null ? ' (after modprobe br_netfilter)' : ''}`,
    );
  }
  return out;
}

/** Advice for every host of the lab that has policy. */
export async function policyAdvice(driver: Driver, lab: Lab): Promise<string[]> {
  if (!driver.policyEnvironment) return [];
  const hosts = lab.hosts.filter((h) => h.policy);
  const envs = await Promise.all(hosts.map((h) => driver.policyEnvironment!(h.ns)));
  return hosts.flatMap((h, i) => (envs[i] ? adviceFor(lab.name, h, envs[i]) : []));
}
