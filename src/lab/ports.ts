// Names of the bridge ports links create (`HOST:BRIDGE` as a link end): a short hash of the port's
// identity, made unique within its host by construction. A hash of 28 bits collides about once in
// 10^4 pairs at a thousand hosts on one bridge, so the assignment below resolves collisions
// deterministically instead of trusting the hash.
//
// Rule: an identity whose hash name no other identity (and no name written in the lab for that
// host) claims keeps it. Identities whose hash names collide are taken in the order of their full
// identity (bridge, peer host, peer interface): the first keeps the hash name, the others take the
// first free probe (a hash of the identity and 1, 2, ...), never a name another identity hashes to.
// So the same lab always gives the same names whatever its order, and adding a link renames an
// existing port only when the new port's hash collides with it and sorts first.
import { bridgePortName } from './names.js';

/** What makes a bridge port: the bridge of `host` and the far end of the link. */
export interface PortIdentity {
  host: string;
  bridge: string;
  peerHost: string;
  peerIf: string;
}

export function portKey(p: PortIdentity): string {
  return [p.host, p.bridge, p.peerHost, p.peerIf].join('\0');
}

/**
 * The name of every port (by portKey). `reserved`: per host, the names written in the lab (declared
 * interfaces and veth ends links name), which a generated name never takes.
 */
export function assignPortNames(lab: string, ports: PortIdentity[], reserved: Map<string, Set<string>>): Map<string, string> {
  const byHost = new Map<string, Map<string, PortIdentity>>();
  for (const p of ports) {
    const list = byHost.get(p.host) ?? new Map<string, PortIdentity>();
    list.set(portKey(p), p);
    byHost.set(p.host, list);
  }
  const out = new Map<string, string>();
  for (const [host, unique] of byHost) {
    const written = reserved.get(host) ?? new Set<string>();
    const name = (p: PortIdentity, probe: number) => bridgePortName(lab, host, p.peerHost, p.peerIf, probe);
    // Each hash name once: a hub may have thousands of ports.
    const bases = new Map([...unique].map(([key, p]) => [key, name(p, 0)]));
    const claims = new Map<string, number>();
    for (const base of bases.values()) claims.set(base, (claims.get(base) ?? 0) + 1);
    const taken = new Set(written);
    const rest: [string, PortIdentity][] = [];
    for (const [key, p] of unique) {
      const base = bases.get(key)!;
      if (claims.get(base) === 1 && !written.has(base)) {
        out.set(key, base);
        taken.add(base);
      } else rest.push([key, p]);
    }
    // Only the few that collide need the order of their identities; a hub may have 100k ports.
    rest.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, p] of rest) {
      for (let probe = 0; ; probe++) {
        const candidate = name(p, probe);
        if (taken.has(candidate) || (probe > 0 && claims.has(candidate))) continue;
        out.set(key, candidate);
        taken.add(candidate);
        break;
      }
    }
  }
  return out;
}
