// Where `netlab test` starts responders: at the destination of each TCP/UDP assertion. A service
// VIP or a published port leads to the DNAT targets (what the kernel does first); otherwise the
// destination is the host that owns the address. Pure, so it is unit-tested.
import type { Expectation, Lab } from '../lab/types.js';

export interface Destination {
  host: string;
  proto: 'tcp' | 'udp';
  port: number;
}

function owners(lab: Lab, address: string): string[] {
  return lab.hosts.filter((h) => h.interfaces.some((i) => i.addresses.some((a) => a.split('/')[0] === address))).map((h) => h.name);
}

/** The hosts and ports an assertion's traffic is meant to reach. */
export function destinations(lab: Lab, e: Expectation): Destination[] {
  if (e.proto === 'icmp' || e.to.port === null) return [];
  const proto = e.proto;
  const port = e.to.port;
  const addr = e.to.address;
  const out: Destination[] = [];
  const add = (address: string, p: number) => {
    for (const host of owners(lab, address)) out.push({ host, proto, port: p });
  };
  const local = owners(lab, addr);
  for (const h of lab.hosts) {
    const p = h.policy;
    if (!p) continue;
    for (const s of p.services) {
      if (s.proto !== proto) continue;
      // A NodePort answers on every address of the host that has the service.
      const nodePort = s.nodePort === port && local.includes(h.name);
      if ((s.vip === addr && s.port === port) || nodePort) for (const b of s.backends) add(b.address, b.port);
    }
    for (const d of p.dnat) {
      if (d.proto !== proto || port < d.port.from || port > d.port.to) continue;
      if (d.address !== null ? d.address !== addr : !local.includes(h.name)) continue;
      add(d.toAddress, d.toPort + (port - d.port.from));
    }
  }
  if (!out.length) add(addr, port);
  for (const b of e.backends) if (!out.some((d) => d.host === b)) out.push({ host: b, proto, port });
  const seen = new Set<string>();
  return out.filter((d) => {
    const k = `${d.host}/${d.proto}/${d.port}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
}

/** Every responder the lab's assertions need: host -> ports by protocol, sorted. */
export function responders(lab: Lab): Map<string, { tcp: number[]; udp: number[] }> {
  const out = new Map<string, { tcp: Set<number>; udp: Set<number> }>();
  for (const e of lab.expect) {
    for (const d of destinations(lab, e)) {
      let r = out.get(d.host);
      if (!r) out.set(d.host, (r = { tcp: new Set(), udp: new Set() }));
      r[d.proto].add(d.port);
    }
  }
  for (const m of lab.matrices ?? [])
    for (const d of m.to) {
      let r = out.get(d.host);
      if (!r) out.set(d.host, (r = { tcp: new Set(), udp: new Set() }));
      r[m.proto].add(m.port);
    }
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)).map(([h, r]) => [h, { tcp: sorted(r.tcp), udp: sorted(r.udp) }]));
}
