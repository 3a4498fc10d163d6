// A host's references to hosts on other machines, written into its slice as what the full lab
// resolves them to: each machine checks its slice as a lab of its own and would refuse a host it
// does not have, while the address behind the name is reached over the cross-machine segments
// like any other. References to hosts on the same machine stay as they are.
import { cidrText, hostCidr, parseCidr, parseEndpoint, parseMatch } from '../lab/addr.js';
import type { RawHost, RawRule } from '../lab/raw.js';
import type { Host } from '../lab/types.js';
import { InternalError } from '../errors.js';

/** What the slicer knows: the full lab's hosts and the machine being sliced. */
export interface RemoteScope {
  hosts: Map<string, Host>;
  machine: string;
  /** Filled in: the remote addresses NAT rules now target, which the slice's checks must accept as the lab's. */
  targets: Set<string>;
}

const remote = (scope: RemoteScope, name: string) => {
  const h = scope.hosts.get(name);
  return h !== undefined && h.machine !== scope.machine;
};

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

const endpointText = (address: string, port: number) => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

/** Rewrites, in `raw` (the slice's copy of `host`), every reference to a host on another machine. */
export function pinRemoteRefs(raw: RawHost, host: Host, scope: RemoteScope): void {
  pinNat(raw, host, scope);
  for (const rule of raw.firewall?.rules ?? []) {
    if (rule.from !== undefined) rule.from = pinMatch(rule.from, scope);
    if (rule.to !== undefined) rule.to = pinMatch(rule.to, scope);
  }
  pinMacs(raw, host, scope);
}

/** Published ports and service backends: the address and port the full lab's normalisation gave. */
function pinNat(raw: RawHost, host: Host, scope: RemoteScope): void {
  const nat = raw.nat;
  if (!nat) return;
  const policy = host.policy;
  const isRemote = (text: string) => {
    const ep = parseEndpoint(text);
    return ep?.kind === 'host' && remote(scope, ep.host);
  };
  for (const [i, p] of (nat.publish ?? []).entries()) {
    if (!isRemote(p.to)) continue;
    const d = policy?.dnat[i];
    if (!d) throw new InternalError(`host ${host.name} has no normalised publish rule ${i}`);
    p.to = endpointText(d.toAddress, d.toPort);
    scope.targets.add(d.toAddress);
  }
  for (const [i, s] of (nat.services ?? []).entries())
    s.backends = s.backends.map((b, j) => {
      if (!isRemote(b)) return b;
      const t = policy?.services[i]?.backends[j];
      if (!t) throw new InternalError(`host ${host.name} has no normalised backend ${j} of service ${s.name}`);
      scope.targets.add(t.address);
      return endpointText(t.address, t.port);
    });
}

/** A firewall `from`/`to`: a remote host becomes each of its addresses as a host-sized CIDR, as on one machine. */
function pinMatch(value: NonNullable<RawRule['from']>, scope: RemoteScope): string | string[] {
  const items = typeof value === 'string' ? [value] : value;
  if (!items.some((item) => isRemoteHost(item, scope))) return value;
  return items.flatMap((item) => {
    if (!isRemoteHost(item, scope)) return [item];
    const h = scope.hosts.get(item)!;
    return h.interfaces.flatMap((i) => i.addresses.map((a) => cidrText(hostCidr(parseCidr(a)!.ip))));
  });
}

function isRemoteHost(item: string, scope: RemoteScope): boolean {
  const m = parseMatch(item);
  return m?.kind === 'host' && remote(scope, m.host);
}

/** Neighbour and fdb entries naming an interface of a remote host get its MAC. */
function pinMacs(raw: RawHost, host: Host, scope: RemoteScope): void {
  const isRemoteRef = (mac: string) => !MAC.test(mac) && remote(scope, mac.slice(0, mac.indexOf(':')));
  for (const [name, entry] of Object.entries(raw.interfaces ?? {})) {
    const iface = host.interfaces.find((i) => i.name === name);
    for (const [k, n] of (entry.neighbours ?? []).entries()) if (isRemoteRef(n.mac)) n.mac = iface!.neighbours![k]!.mac;
    for (const [k, f] of (entry.fdb ?? []).entries()) if (isRemoteRef(f.mac)) f.mac = iface!.fdb![k]!.mac;
  }
}
