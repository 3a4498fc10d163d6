// A pod's NetworkPolicy (src/lab/netpol.ts) as two filter chains in the lab's table of the pod's
// own namespace: ingress on the input hook, egress on the output hook. A pod is a namespace with
// a veth to its node, so this is per-pod enforcement, as a CNI does it, with no bridge netfilter.
// A host that DNATs services also gets a forward chain applying pods' egress to the DNATed packet.
import type { Host, PeerBlock, PodPort, PodRule, ServiceEgress } from '../lab/types.js';

export const POD_CHAINS = { ingress: 'nl_np_ingress', egress: 'nl_np_egress', services: 'nl_np_svc_egress' } as const;

export interface PodChain {
  name: string;
  hook: 'input' | 'output' | 'forward';
  /** The chain's verdict for what no rule accepts. */
  policy: 'accept' | 'drop';
  rules: string[];
}

type Fam = 4 | 6;
const IPK = { 4: 'ip', 6: 'ip6' } as const;
const famOf = (cidr: string): Fam => (cidr.includes(':') ? 6 : 4);

/** nft text of one value or an anonymous set of them. */
function set(values: string[]): string {
  const uniq = [...new Set(values)];
  return uniq.length === 1 ? uniq[0]! : `{ ${uniq.join(', ')} }`;
}

/** Address matches of a rule's peers: one per family for plain blocks, one per block with excepts. */
function addressMatches(peers: PeerBlock[] | null, dir: 'saddr' | 'daddr'): string[] {
  if (peers === null) return [''];
  const out: string[] = [];
  for (const f of [4, 6] as Fam[]) {
    const mine = peers.filter((p) => famOf(p.cidr) === f);
    const plain = mine.filter((p) => p.except.length === 0).map((p) => p.cidr);
    if (plain.length) out.push(`${IPK[f]} ${dir} ${set(plain)}`);
    for (const p of mine.filter((b) => b.except.length > 0)) out.push(`${IPK[f]} ${dir} ${p.cidr} ${IPK[f]} ${dir} != ${set(p.except)}`);
  }
  return out;
}

function portMatch(p: PodPort): string {
  if (p.port === null) return `meta l4proto ${p.proto}`;
  return `${p.proto} dport ${p.port.from === p.port.to ? p.port.from : `${p.port.from}-${p.port.to}`}`;
}

function ruleLines(r: PodRule, dir: 'saddr' | 'daddr'): string[] {
  const ports = r.ports === null ? [''] : r.ports.map(portMatch);
  return addressMatches(r.peers, dir).flatMap((a) => ports.map((p) => [a, p, 'accept'].filter(Boolean).join(' ')));
}

/** The chains of a pod's isolated directions, and of a host's check of pods' service egress. */
export function podChains(host: Host, ipv6: boolean): PodChain[] {
  const out: PodChain[] = [];
  const services = serviceEgressChain(host.serviceEgress ?? []);
  if (services) out.push(services);
  const p = host.podPolicy;
  if (!p) return out;
  const nd = ipv6 ? ['icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept'] : [];
  const chain = (name: string, hook: 'input' | 'output', lo: string, rules: PodRule[], dir: 'saddr' | 'daddr'): PodChain => ({
    name,
    hook,
    policy: 'drop',
    // Replies pass, and so does a pod's traffic to itself (it goes over lo).
    rules: [...new Set(['ct state established,related accept', lo, ...nd, ...rules.flatMap((r) => ruleLines(r, dir))])],
  });
  if (p.ingress) out.push(chain(POD_CHAINS.ingress, 'input', 'iifname "lo" accept', p.ingress, 'saddr'));
  if (p.egress) out.push(chain(POD_CHAINS.egress, 'output', 'oifname "lo" accept', p.egress, 'daddr'));
  return out;
}

/**
 * Connections this host DNATed (a service) from an egress-isolated pod: allowed when the pod's
 * egress rules allow the backend address and port, dropped otherwise; other traffic is not
 * this chain's business.
 */
function serviceEgressChain(pods: ServiceEgress[]): PodChain | null {
  if (!pods.length) return null;
  const rules = ['ct state established,related accept'];
  for (const pod of pods)
    for (const f of [4, 6] as Fam[]) {
      const sources = pod.sources.filter((a) => famOf(a) === f);
      if (!sources.length) continue;
      const from = `${IPK[f]} saddr ${set(sources)} ct status dnat`;
      // A match on the other family's addresses can never hold for these sources.
      const other = `${IPK[f === 4 ? 6 : 4]} `;
      for (const line of pod.rules.flatMap((r) => ruleLines(r, 'daddr'))) if (!line.startsWith(other)) rules.push(`${from} ${line}`);
      rules.push(`${from} drop`);
    }
  return { name: POD_CHAINS.services, hook: 'forward', policy: 'accept', rules: [...new Set(rules)] };
}
