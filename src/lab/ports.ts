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
 * The name of each port, in the order of `ports` (a port listed twice gets one name). `reserved`:
 * per host, the names written in the lab (declared interfaces and veth ends links name), which a
 * generated name never takes.
 */
export function assignPortNames(lab: string, ports: PortIdentity[], reserved: Map<string, Set<string>>): string[] {
  const name = (p: PortIdentity, probe: number) => bridgePortName(lab, p.host, p.peerHost, p.peerIf, probe);
  // Each hash name once: a hub may have 100k ports.
  const bases = ports.map((p) => name(p, 0));
  const claims = new Map<string, Map<string, number>>();
  for (const [i, p] of ports.entries()) {
    const host = claims.get(p.host) ?? claims.set(p.host, new Map()).get(p.host)!;
    host.set(bases[i]!, (host.get(bases[i]!) ?? 0) + 1);
  }
  const out: string[] = new Array<string>(ports.length);
  // What collides (or is written) is settled per host in the order of the full identities; the
  // rest keep their hash names without being sorted or keyed.
  const rest = new Map<string, Map<string, number[]>>();
  for (const [i, p] of ports.entries()) {
    const base = bases[i]!;
    if (claims.get(p.host)!.get(base) === 1 && !reserved.get(p.host)?.has(base)) out[i] = base;
    else {
      const host = rest.get(p.host) ?? rest.set(p.host, new Map()).get(p.host)!;
      const key = portKey(p);
      const same = host.get(key);
      if (same) same.push(i);
      else host.set(key, [i]);
    }
  }
  for (const [host, unique] of rest) {
    const written = reserved.get(host) ?? new Set<string>();
    const hostClaims = claims.get(host)!;
    const taken = new Set(written);
    for (const [, same] of [...unique].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const p = ports[same[0]!]!;
      for (let probe = 0; ; probe++) {
        const candidate = name(p, probe);
        if (taken.has(candidate) || (probe > 0 && hostClaims.has(candidate))) continue;
        for (const i of same) out[i] = candidate;
        taken.add(candidate);
        break;
      }
    }
  }
  return out;
}
