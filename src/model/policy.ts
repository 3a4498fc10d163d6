// NAT, service and filter policy of one host, rendered as one nftables `inet` table.
//
// Pure: no I/O. The engine runs `replaceTableScript(renderPolicy(lab, host))` with
// `ip netns exec NS nft -f -` and compares `rulesFromListing(nft list table inet T)` with
// `RenderedPolicy.rules` to decide whether the table is up to date.
//
// Model (Docker's bridge network and kube-proxy's iptables mode, in one table):
// - nl_prerouting (nat, dstnat): published ports (DNAT of packets to a local address) and service
//   VIPs (DNAT over backends with numgen).
// - nl_output (nat, -100): the same for connections the host itself opens; to 127.0.0.1 only where
//   Docker and kube-proxy answer it (see publishesOnLoopback, renderNodePort), never to ::1.
// - nl_postrouting (nat, srcnat): hairpin masquerade of DNATed traffic that goes back out on the
//   interface it came from, then masquerade/snat in lab order.
// - nl_input, nl_forward (filter): only when the host has firewall rules or a deny default.
//
// Every rule carries `comment "nl:<digest>"`; the digest covers chain, position and rule text, and
// every chain's header (type, hook, priority, policy) is digested too, so two equal `rules` lists
// mean the same rule set in the same order with the same chain policies.
import ipaddr from 'ipaddr.js';
import { LabError } from '../errors.js';
import { nftTableName, shortDigest } from '../lab/names.js';
import type { DnatRule, FilterRule, Host, Interface, Policy, PortRange, Service, SourcePos } from '../lab/types.js';
import { appendAll } from '../append.js';
import { podChains } from './netpol.js';

export interface RenderedPolicy {
  family: 'inet';
  table: string;
  /** Sorted list of "chain/digest" identifying every rule; equal lists mean equal rule sets. */
  rules: string[];
  /** The table body in nft syntax: `table inet T { chain ... }` (rules carry comment "nl:<digest>"). */
  body: string;
}

type Fam = 4 | 6;

/** Chain names: prefixed, never a bare nft keyword. */
export const CHAINS = {
  prerouting: 'nl_prerouting',
  output: 'nl_output',
  postrouting: 'nl_postrouting',
  input: 'nl_input',
  forward: 'nl_forward',
} as const;

// Headers are written exactly as `nft list table` prints them (nft 1.0.6), so that
// rulesFromListing can digest the listed header and get the rendered digest back.
// `priority dstnat` is rejected for the output hook in the inet family: use the number.
const NAT_HEADERS = {
  [CHAINS.prerouting]: 'type nat hook prerouting priority dstnat; policy accept;',
  [CHAINS.output]: 'type nat hook output priority -100; policy accept;',
  [CHAINS.postrouting]: 'type nat hook postrouting priority srcnat; policy accept;',
} as const;

function filterHeader(hook: 'input' | 'forward' | 'output', policy: 'accept' | 'drop'): string {
  return `type filter hook ${hook} priority filter; policy ${policy};`;
}

/** Neighbour discovery is untracked by conntrack: a drop policy needs it accepted explicitly. */
const ND_ACCEPT = 'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept';

interface ChainOut {
  name: string;
  header: string;
  rules: string[];
}

// ---------------------------------------------------------------------------------------------
// Addresses

interface Cidr {
  fam: Fam;
  /** Network address, canonical text. */
  addr: string;
  bits: number;
  bytes: number[];
}

function fail(pos: SourcePos, message: string): never {
  throw new LabError([{ file: pos.file, line: pos.line, col: pos.col, path: pos.path, message }]);
}

function addrText(a: ipaddr.IPv4 | ipaddr.IPv6): string {
  return a.kind() === 'ipv6' ? (a as ipaddr.IPv6).toRFC5952String() : a.toString();
}

/** Parses `A` or `A/N` into its network (host bits cleared). */
function parseCidr(text: string, pos: SourcePos): Cidr {
  const [a, n] = text.split('/');
  if (!a || !ipaddr.isValid(a)) fail(pos, `"${text}" is not an address or CIDR`);
  const ip = ipaddr.parse(a);
  const fam: Fam = ip.kind() === 'ipv6' ? 6 : 4;
  const max = fam === 4 ? 32 : 128;
  const bits = n === undefined ? max : Number(n);
  if (!Number.isInteger(bits) || bits < 0 || bits > max || (n !== undefined && !/^\d+$/.test(n)))
    fail(pos, `"${text}" has an invalid prefix length`);
  const bytes = ip.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  const net = ipaddr.fromByteArray(bytes);
  return { fam, addr: addrText(net), bits, bytes };
}

/** nft text of a CIDR: bare address for a single host. */
function cidrText(c: Cidr): string {
  return c.bits === (c.fam === 4 ? 32 : 128) ? c.addr : `${c.addr}/${c.bits}`;
}

function compareCidr(a: Cidr, b: Cidr): number {
  if (a.fam !== b.fam) return a.fam - b.fam;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return a.bytes[i]! - b.bytes[i]!;
  return a.bits - b.bits;
}

function contains(net: Cidr, addr: Cidr): boolean {
  if (net.fam !== addr.fam || addr.bits < net.bits) return false;
  for (let i = 0; i < net.bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, net.bits - i * 8));
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((addr.bytes[i]! & mask) !== net.bytes[i]) return false;
  }
  return true;
}

/** A single address in canonical text (throws on a CIDR with a prefix shorter than a host). */
function hostAddr(text: string, pos: SourcePos): { fam: Fam; addr: string; cidr: Cidr } {
  const c = parseCidr(text, pos);
  if (c.bits !== (c.fam === 4 ? 32 : 128)) fail(pos, `"${text}" must be a single address`);
  return { fam: c.fam, addr: c.addr, cidr: c };
}

const IPK = { 4: 'ip', 6: 'ip6' } as const;
const NFPROTO = { 4: 'ipv4', 6: 'ipv6' } as const;
const LOOPBACK = { 4: '127.0.0.0/8', 6: '::1' } as const;

function hostPort(fam: Fam, addr: string, port: string | number): string {
  return fam === 6 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

function portsText(p: PortRange): string {
  return p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`;
}

/** nft set (or single value) of sorted, de-duplicated CIDRs. */
function setText(cs: Cidr[]): string {
  const uniq = [...new Map(cs.map((c) => [cidrText(c), c])).values()].sort(compareCidr);
  return uniq.length === 1 ? cidrText(uniq[0]!) : `{ ${uniq.map(cidrText).join(', ')} }`;
}

/** Subnets of the host's own interfaces that are not bridge ports: where "connected" traffic leaves. */
function connectedSubnets(host: Host): { ifname: string; kind: Interface['kind']; net: Cidr }[] {
  const out: { ifname: string; kind: Interface['kind']; net: Cidr }[] = [];
  for (const i of host.interfaces) {
    if (i.master !== null) continue;
    for (const a of i.addresses) {
      if (!a.includes('/')) continue;
      out.push({ ifname: i.ifname, kind: i.kind, net: parseCidr(a, i.pos) });
    }
  }
  return out.sort((a, b) => (a.ifname < b.ifname ? -1 : a.ifname > b.ifname ? 1 : compareCidr(a.net, b.net)));
}

// ---------------------------------------------------------------------------------------------
// NAT

function dnatTarget(d: DnatRule, fam: Fam, to: string): string {
  const k = IPK[fam];
  const n = d.port.to - d.port.from;
  if (n === 0) return `dnat ${k} to ${hostPort(fam, to, d.toPort)}`;
  // A port range in a dnat target means "any port of the range", kept as is when the original
  // port is in it: exact only when the ranges are the same. Otherwise map port by port.
  if (d.toPort === d.port.from) return `dnat ${k} to ${hostPort(fam, to, `${d.toPort}-${d.toPort + n}`)}`;
  const pairs: string[] = [];
  for (let i = 0; i <= n; i++) pairs.push(`${d.port.from + i} : ${to} . ${d.toPort + i}`);
  return `dnat ${k} to ${d.proto} dport map { ${pairs.join(', ')} }`;
}

function renderPublish(host: Host, d: DnatRule, pre: string[], out: string[], post: string[]): void {
  if (d.port.from > d.port.to || d.port.from < 1 || d.port.to > 65535) fail(d.pos, `invalid port range ${portsText(d.port)}`);
  if (d.toPort < 1 || d.toPort + (d.port.to - d.port.from) > 65535) fail(d.pos, `invalid target port ${d.toPort}`);
  const to = hostAddr(d.toAddress, d.pos);
  const fam = to.fam;
  const k = IPK[fam];
  let address: string | null = null;
  if (d.address !== null) {
    const a = hostAddr(d.address, d.pos);
    if (a.fam !== fam) fail(d.pos, `published address ${d.address} and target ${d.toAddress} are of different address families`);
    address = a.addr;
  }
  const target = dnatTarget(d, fam, to.addr);
  const dport = `${d.proto} dport ${portsText(d.port)}`;

  const m: string[] = [];
  if (d.in !== null) m.push(`iifname "${d.in}"`);
  m.push(address !== null ? `${k} daddr ${address}` : `meta nfproto ${NFPROTO[fam]}`);
  pre.push([...m, 'fib daddr type local', dport, target].join(' '));

  // Connections the host opens to its own address. Docker publishes on 127.0.0.1 too (docker-proxy
  // listens there; without it, OUTPUT DNATs loopback with route_localnet=1 on the bridge): so
  // does a port published on every address to a target on one of the host's own segments (see
  // localnetInterfaces). A port published on one inbound interface only is not reachable this way.
  const home = connectedSubnets(host).filter((s) => contains(s.net, to.cidr));
  const onLoopback = publishesOnLoopback(d, fam, home.length > 0);
  if (d.in === null) {
    const dst = address !== null ? `${k} daddr ${address}` : onLoopback ? `meta nfproto ${NFPROTO[fam]}` : `${k} daddr != ${LOOPBACK[fam]}`;
    out.push([dst, 'fib daddr type local', dport, target].join(' '));
  }

  // Hairpin: a client on the target's own segment reaching the published port is DNATed back
  // out on the interface it came in from; masquerade it to the host's address there so the reply
  // comes back through the host (like docker-proxy does). `iifname` cannot be used in
  // postrouting (no input device there): the source subnet says where it came from.
  const tports = `${d.proto} dport ${portsText({ from: d.toPort, to: d.toPort + (d.port.to - d.port.from) })}`;
  if (host.policy?.userlandProxy === false) {
    // Docker without its userland proxy masquerades only a container reaching its own published
    // port (`-s C -d C --dport P -j MASQUERADE`); other containers keep their own address. The
    // host's own connections, loopback ones included, leave as the bridge's address
    // (`-o docker0 -m addrtype --src-type LOCAL -j MASQUERADE`).
    if (home.length) post.push(`${k} saddr ${to.addr} ${k} daddr ${to.addr} ct status dnat ${tports} masquerade`);
    for (const s of home) post.push(`oifname "${s.ifname}" fib saddr type local masquerade`);
    return;
  }
  for (const s of home)
    post.push(`oifname "${s.ifname}" ${k} saddr ${cidrText(s.net)} ${k} daddr ${to.addr} ct status dnat ${tports} masquerade`);
  // docker-proxy answers 127.0.0.1 and connects from the bridge's address: the same source.
  if (onLoopback) for (const s of home) post.push(`oifname "${s.ifname}" ip saddr ${LOOPBACK[4]} masquerade`);
}

/** A port published on every address of an IPv4 host, to a target on one of its own segments, answers on 127.0.0.1 too. */
function publishesOnLoopback(d: DnatRule, fam: Fam, targetIsHome: boolean): boolean {
  return d.in === null && d.address === null && fam === 4 && targetIsHome;
}

/**
 * Interfaces that need route_localnet=1 (`all` for every one): those a loopback connection to a
 * published port or NodePort is DNATed out of (the kernel drops a 127.0.0.0/8 source on any
 * other interface without it).
 */
export function localnetInterfaces(host: Host): string[] {
  const out = new Set<string>();
  // kube-proxy sets it for every interface for its localhost NodePorts: the backend may be anywhere.
  if ((host.policy?.services ?? []).some((s) => s.nodePort !== undefined && parseCidr(s.vip, s.pos).fam === 4)) out.add('all');
  for (const d of host.policy?.dnat ?? []) {
    const to = parseCidr(d.toAddress, d.pos);
    const home = connectedSubnets(host).filter((s) => contains(s.net, to));
    if (publishesOnLoopback(d, to.fam, home.length > 0)) for (const s of home) out.add(s.ifname);
  }
  return [...out].sort();
}

interface Backend {
  fam: Fam;
  addr: string;
  cidr: Cidr;
  port: number;
}

function serviceBackends(s: Service, fam: Fam): Backend[] {
  const seen = new Map<string, Backend>();
  for (const b of s.backends) {
    const a = hostAddr(b.address, s.pos);
    if (a.fam !== fam) fail(s.pos, `service ${s.name}: backend ${b.address} is not of the VIP's address family`);
    if (!Number.isInteger(b.port) || b.port < 1 || b.port > 65535) fail(s.pos, `service ${s.name}: invalid backend port ${b.port}`);
    seen.set(`${a.addr}.${b.port}`, { fam, addr: a.addr, cidr: a.cidr, port: b.port });
  }
  return [...seen.values()].sort((x, y) => compareCidr(x.cidr, y.cidr) || x.port - y.port);
}

function renderService(host: Host, s: Service, pre: string[], out: string[], post: string[]): void {
  const vip = hostAddr(s.vip, s.pos);
  const fam = vip.fam;
  const k = IPK[fam];
  if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) fail(s.pos, `service ${s.name}: invalid port ${s.port}`);
  const backends = serviceBackends(s, fam);
  const m = `${k} daddr ${vip.addr} ${s.proto} dport ${s.port}`;
  let action: string;
  if (backends.length === 0) {
    // kube-proxy rejects connections to a service without endpoints. `ct state new` is a no-op
    // in a nat chain but makes the rule a conntrack user: a nat chain is only evaluated for
    // packets with a conntrack entry, and a table whose only nat rules are rejects would
    // otherwise leave conntrack off in the namespace and never see the packet.
    action = `ct state new ${s.proto === 'tcp' ? 'reject with tcp reset' : 'reject'}`;
  } else {
    action = dnatAction(fam, s, backends);
  }
  pre.push(`${m} ${action}`);
  out.push(`${m} ${action}`);
  if (s.nodePort !== undefined) renderNodePort(host, s, backends, pre, out, post);
  // kube-proxy's hairpin: a pod whose connection to the VIP lands on itself is masqueraded
  // (otherwise it would see a packet from its own address). Other clients keep their address.
  const subnets = connectedSubnets(host);
  for (const b of backends) {
    if (!subnets.some((sn) => contains(sn.net, b.cidr))) continue;
    post.push(`${k} saddr ${b.addr} ${k} daddr ${b.addr} ct status dnat ${s.proto} dport ${b.port} masquerade`);
  }
}

/** kube-proxy's KUBE-MARK-MASQ bit: set on NodePort traffic in dstnat, masqueraded in srcnat. */
export const MASQ_MARK = '0x00004000';
const MASQ_RULE = `meta mark & ${MASQ_MARK} == ${MASQ_MARK} masquerade`;

function dnatAction(fam: Fam, s: Service, backends: Backend[]): string {
  const k = IPK[fam];
  if (backends.length === 1) return `dnat ${k} to ${hostPort(fam, backends[0]!.addr, backends[0]!.port)}`;
  const gen = s.mode === 'random' ? 'random' : 'inc';
  const map = backends.map((b, i) => `${i} : ${b.addr} . ${b.port}`).join(', ');
  return `dnat ${k} to numgen ${gen} mod ${backends.length} map { ${map} }`;
}

// A NodePort answers on every local address of the host (KUBE-NODEPORTS is reached through
// `-m addrtype --dst-type LOCAL`); on 127.0.0.1 only for the node itself (kube-proxy's
// localhost NodePorts, on by default, IPv4 only). externalTrafficPolicy Cluster marks the
// connection for masquerade (KUBE-EXT -> KUBE-MARK-MASQ) so the reply from a backend on any node
// comes back through this one; Local keeps the client's address and uses only this host's own
// backends, dropping the connection when there is none (KUBE-SVL ... "has no local endpoints").
function renderNodePort(host: Host, s: Service, backends: Backend[], pre: string[], out: string[], post: string[]): void {
  const np = s.nodePort!;
  if (!Number.isInteger(np) || np < 1 || np > 65535) fail(s.pos, `service ${s.name}: invalid node_port ${np}`);
  const fam = hostAddr(s.vip, s.pos).fam;
  const k = IPK[fam];
  const m = `fib daddr type local ${k} daddr != ${LOOPBACK[fam]} ${s.proto} dport ${np}`;
  // Loopback needs route_localnet=1 (see localnetInterfaces), which would also let neighbours
  // reach the node's 127.0.0.1: dropped, as KUBE-FIREWALL's "block incoming localnet connections".
  const own = fam === 4 ? `meta nfproto ipv4 fib daddr type local ${s.proto} dport ${np}` : m;
  if (fam === 4) pre.unshift(LOCALNET_GUARD);
  // The host's own connections take the Cluster path under either policy (kube-proxy: "masquerade
  // LOCAL traffic" then KUBE-SVC), so a node can always reach its NodePort.
  const cluster =
    backends.length === 0
      ? `ct state new ${s.proto === 'tcp' ? 'reject with tcp reset' : 'reject'}`
      : `meta mark set meta mark | ${MASQ_MARK} ${dnatAction(fam, s, backends)}`;
  if (backends.length > 0) post.push(MASQ_RULE);
  let inbound = cluster;
  if (s.externalTrafficPolicy === 'Local') {
    const subnets = connectedSubnets(host);
    const local = backends.filter((b) => subnets.some((sn) => contains(sn.net, b.cidr)));
    inbound = local.length === 0 ? 'drop' : dnatAction(fam, s, local);
  }
  pre.push(`${m} ${inbound}`);
  out.push(`${own} ${cluster}`);
}

const LOCALNET_GUARD = `iifname != "lo" ip daddr ${LOOPBACK[4]} drop`;

function renderSnat(policy: Policy, post: string[]): void {
  for (const r of policy.snat) {
    const from = parseCidr(r.from, r.pos);
    const k = IPK[from.fam];
    const parts = [`${k} saddr ${cidrText(from)}`, `${k} daddr != ${cidrText(from)}`];
    if (r.out !== null) parts.push(`oifname "${r.out}"`);
    if (r.to === null) parts.push('masquerade');
    else {
      const to = hostAddr(r.to, r.pos);
      if (to.fam !== from.fam) fail(r.pos, `snat to ${r.to} is not of the family of ${r.from}`);
      parts.push(`snat ${k} to ${to.addr}`);
    }
    post.push(parts.join(' '));
  }
}

// ---------------------------------------------------------------------------------------------
// Filter

function renderFilterRule(r: FilterRule): string[] {
  const from = r.from.map((c) => parseCidr(c, r.pos));
  const to = r.to.map((c) => parseCidr(c, r.pos));
  let fams: (Fam | null)[];
  if (from.length === 0 && to.length === 0) fams = r.proto === 'icmp' ? [4, 6] : [null];
  else
    fams = ([4, 6] as Fam[]).filter(
      (f) => (from.length === 0 || from.some((c) => c.fam === f)) && (to.length === 0 || to.some((c) => c.fam === f)),
    );
  // A rule whose sources and destinations share no address family matches nothing.
  const verdict = r.action === 'allow' ? 'accept' : 'drop';
  if (r.port !== null && (r.port.from > r.port.to || r.port.from < 1 || r.port.to > 65535))
    fail(r.pos, `invalid port range ${portsText(r.port)}`);
  const out: string[] = [];
  for (const f of fams) {
    const parts: string[] = [];
    if (f !== null) {
      const fs = from.filter((c) => c.fam === f);
      const ts = to.filter((c) => c.fam === f);
      if (fs.length) parts.push(`${IPK[f]} saddr ${setText(fs)}`);
      if (ts.length) parts.push(`${IPK[f]} daddr ${setText(ts)}`);
    }
    if (r.proto === 'icmp') {
      if (r.port !== null) fail(r.pos, 'a port cannot be given with proto icmp');
      parts.push(f === 6 ? 'meta l4proto ipv6-icmp' : 'ip protocol icmp');
    } else if (r.proto !== null) {
      parts.push(r.port !== null ? `${r.proto} dport ${portsText(r.port)}` : `meta l4proto ${r.proto}`);
    } else if (r.port !== null) {
      parts.push(`meta l4proto { tcp, udp } th dport ${portsText(r.port)}`);
    }
    parts.push(verdict);
    out.push(parts.join(' '));
  }
  return out;
}

// Docker's bridge isolation: traffic forwarded into the bridge from another interface passes only
// when a published port DNATed it (`DOCKER -d C ! -i br -o br --dport P ACCEPT`, then
// `DOCKER ! -i br -o br DROP`; its raw-table direct-access filter drops what names a container's
// address directly, so "DNATed by this host" is the same set). Replies passed the state rules.
function isolationRules(bridges: string[]): string[] {
  return [...new Set(bridges)]
    .sort()
    .flatMap((b) => [`iifname != "${b}" oifname "${b}" ct status dnat accept`, `iifname != "${b}" oifname "${b}" drop`]);
}

function usesIpv6(host: Host): boolean {
  if (host.ipv6) return true;
  return host.interfaces.some((i) => i.addresses.some((a) => a.includes(':')));
}

// ---------------------------------------------------------------------------------------------
// Rendering

function ruleDigest(chain: string, index: number, text: string): string {
  return shortDigest(`rule\n${chain}\n${index}\n${text}`);
}

function headerDigest(chain: string, header: string): string {
  return shortDigest(`chain\n${chain}\n${normaliseSpace(header)}`);
}

function normaliseSpace(s: string): string {
  return s.trim().replace(/\s+/g, ' ');
}

function dedupe(rules: string[]): string[] {
  return [...new Set(rules)];
}

// Long runs of like rules become one lookup: nft parses and loads one rule with a map or set of N
// elements much faster than N rules (see docs/performance.md), and a lookup miss falls through to the next rule exactly as N rules
// that do not match. Only consecutive rules that differ in one port or address merge, keeping
// their place in the chain; a repeated map key starts a new run (the first rule wins, as before).
// Short runs stay one rule per port, easier to read in `nft list`.
export const MERGE_RUN = 16;

interface Compactor {
  pattern: RegExp;
  /** What the merged rules share (the run's identity). */
  shared(m: RegExpExecArray): string;
  /** Map key (for maps: must be unique in a run) or null for sets. */
  key(m: RegExpExecArray): string | null;
  element(m: RegExpExecArray): string;
  merged(m: RegExpExecArray, elements: string[]): string;
}

const addrOf = (target: string) => target.replace(/^\[(.*)\]$/, '$1');

const COMPACTORS: Compactor[] = [
  {
    // Published ports: `... tcp dport P dnat ip to A:Q` -> `... dnat ip to tcp dport map { P : A . Q, ... }`.
    pattern: /^(.*) (tcp|udp) dport (\d+) dnat (ip6?) to (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)$/,
    shared: (m) => `dnat\n${m[1]}\n${m[2]}\n${m[4]}`,
    key: (m) => m[3]!,
    element: (m) => `${m[3]} : ${addrOf(m[5]!)} . ${m[6]}`,
    merged: (m, els) => `${m[1]} dnat ${m[4]} to ${m[2]} dport map { ${els.join(', ')} }`,
  },
  {
    // Hairpin of published ports: one set of target address and port per interface and subnet.
    pattern: /^(oifname "[^"]+" (ip6?) saddr \S+) \2 daddr (\S+) ct status dnat (tcp|udp) dport (\d+) masquerade$/,
    shared: (m) => `hairpin\n${m[1]}\n${m[2]}\n${m[4]}`,
    key: () => null,
    element: (m) => `${m[3]} . ${m[5]}`,
    merged: (m, els) => `${m[1]} ct status dnat ${m[2]} daddr . ${m[4]} dport { ${els.join(', ')} } masquerade`,
  },
  {
    // A service backend reaching itself through the VIP.
    pattern: /^(ip6?) saddr (\S+) \1 daddr \2 ct status dnat (tcp|udp) dport (\d+) masquerade$/,
    shared: (m) => `self\n${m[1]}\n${m[3]}`,
    key: () => null,
    element: (m) => `${m[2]} . ${m[2]} . ${m[4]}`,
    merged: (m, els) => `ct status dnat ${m[1]} saddr . ${m[1]} daddr . ${m[3]} dport { ${els.join(', ')} } masquerade`,
  },
];

/** Merges runs of at least MERGE_RUN like rules into one map or set lookup (see COMPACTORS). */
export function compactRules(rules: string[]): string[] {
  const out: string[] = [];
  let run: { c: Compactor; shared: string; first: RegExpExecArray; rules: string[]; elements: string[]; keys: Set<string> } | null = null;
  const flush = () => {
    if (!run) return;
    if (run.rules.length >= MERGE_RUN) out.push(run.c.merged(run.first, run.elements));
    else appendAll(out, run.rules);
    run = null;
  };
  for (const r of rules) {
    let matched = false;
    for (const c of COMPACTORS) {
      const m = c.pattern.exec(r);
      if (!m) continue;
      const shared = c.shared(m);
      const key = c.key(m);
      if (!run || run.c !== c || run.shared !== shared || (key !== null && run.keys.has(key))) {
        flush();
        run = { c, shared, first: m, rules: [], elements: [], keys: new Set() };
      }
      run.rules.push(r);
      run.elements.push(c.element(m));
      if (key !== null) run.keys.add(key);
      matched = true;
      break;
    }
    if (!matched) {
      flush();
      out.push(r);
    }
  }
  flush();
  return out;
}

/** A pod with NetworkPolicies and no NAT or firewall of its own. */
const NO_POLICY: Policy = { snat: [], dnat: [], services: [], defaultAction: 'allow', rules: [] };

/** null when the policy installs nothing. `host` is given so hairpin rules can name the host's bridges and interfaces. */
export function renderPolicy(lab: string, host: Host): RenderedPolicy | null {
  const policy = host.policy ?? (host.podPolicy ? NO_POLICY : null);
  if (!policy) return null;
  const pre: string[] = [];
  const out: string[] = [];
  const hairpin: string[] = [];
  const post: string[] = [];

  // Published ports keep lab order (a specific `in`/`address` rule written first wins);
  // services are independent of each other and sorted so reordering the YAML changes nothing.
  for (const d of policy.dnat) renderPublish(host, d, pre, out, hairpin);
  const services = [...policy.services].sort(
    (a, b) =>
      compareCidr(parseCidr(a.vip, a.pos), parseCidr(b.vip, b.pos)) ||
      (a.proto < b.proto ? -1 : a.proto > b.proto ? 1 : 0) ||
      a.port - b.port ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  for (const s of services) renderService(host, s, pre, out, hairpin);
  renderSnat(policy, post);

  const chains: ChainOut[] = [];
  const push = (name: string, header: string, rules: string[]) => {
    if (rules.length) chains.push({ name, header, rules: compactRules(dedupe(rules)) });
  };
  push(CHAINS.prerouting, NAT_HEADERS[CHAINS.prerouting], pre);
  push(CHAINS.output, NAT_HEADERS[CHAINS.output], out);
  push(CHAINS.postrouting, NAT_HEADERS[CHAINS.postrouting], [...hairpin, ...post]);

  const filtered = policy.rules.length > 0 || policy.defaultAction === 'deny';
  const isolation = isolationRules(policy.isolate ?? []);
  if (filtered || isolation.length > 0) {
    const verdict = policy.defaultAction === 'deny' ? 'drop' : 'accept';
    const user = policy.rules.flatMap(renderFilterRule);
    const nd = usesIpv6(host) ? [ND_ACCEPT] : [];
    const base = ['ct state established,related accept', 'ct state invalid drop'];
    if (filtered)
      chains.push({
        name: CHAINS.input,
        header: filterHeader('input', verdict),
        rules: dedupe([...base, 'iifname "lo" accept', ...nd, ...user]),
      });
    chains.push({ name: CHAINS.forward, header: filterHeader('forward', verdict), rules: dedupe([...base, ...nd, ...user, ...isolation]) });
  }
  for (const c of podChains(host, usesIpv6(host))) chains.push({ name: c.name, header: filterHeader(c.hook, c.policy), rules: c.rules });
  if (chains.length === 0) return null;

  const table = nftTableName(lab);
  const ids: string[] = [];
  const lines: string[] = [`table inet ${table} {`];
  chains.forEach((c, ci) => {
    if (ci > 0) lines.push('');
    lines.push(`\tchain ${c.name} {`);
    lines.push(`\t\t${c.header}`);
    ids.push(`${c.name}/${headerDigest(c.name, c.header)}`);
    c.rules.forEach((r, i) => {
      const d = ruleDigest(c.name, i, r);
      ids.push(`${c.name}/${d}`);
      lines.push(`\t\t${r} comment "nl:${d}"`);
    });
    lines.push('\t}');
  });
  lines.push('}');
  return { family: 'inet', table, rules: ids.sort(), body: `${lines.join('\n')}\n` };
}

/** Words that begin a rule's statements (`ct status dnat` and `ct state new` are matches, not statements). */
const STATEMENTS = new Set(['accept', 'drop', 'reject', 'dnat', 'snat', 'masquerade', 'redirect', 'jump', 'goto', 'return', 'notrack']);

/**
 * The rule with a `counter` before its first statement, so that `nft list table` tells how many
 * packets each rule took (netlab ui shows it).
 */
export function withCounter(rule: string): string {
  const words = rule.split(' ');
  if (words.includes('counter')) return rule;
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const statement = (STATEMENTS.has(w) && words[i - 1] !== 'status') || ((w === 'meta' || w === 'ct') && words[i + 2] === 'set');
    if (depth === 0 && !quoted && statement) return [...words.slice(0, i), 'counter', ...words.slice(i)].join(' ');
    depth += (w.match(/\{/g) ?? []).length - (w.match(/\}/g) ?? []).length;
    if ((w.match(/"/g) ?? []).length % 2) quoted = !quoted;
  }
  return `${rule} counter`;
}

/**
 * Counters go in only as the table is loaded: the rendered body and the digests stay as they were,
 * so a table applied before counters existed is not replaced for them.
 */
function countedBody(body: string): string {
  return body.replace(
    /^(\t\t)(.+?)( comment "nl:[0-9a-f]+")$/gm,
    (_m, tab: string, rule: string, comment: string) => tab + withCounter(rule) + comment,
  );
}

/** One `nft -f` transaction that atomically replaces the lab's table with `body` (creating it if missing). */
export function replaceTableScript(p: { family: string; table: string; body: string }): string {
  // nft 1.0.6 has no `destroy`: declaring the table first makes the delete valid when it is missing.
  const body = countedBody(p.body.endsWith('\n') ? p.body : `${p.body}\n`);
  return `table ${p.family} ${p.table}\ndelete table ${p.family} ${p.table}\n${body}`;
}

/** One `nft -f` transaction that deletes the table if it exists (works when it is missing). */
export function deleteTableScript(family: string, table: string): string {
  return `table ${family} ${table}\ndelete table ${family} ${table}\n`;
}

/**
 * From `nft list table inet T` text output (with or without `-a` handles): the "chain/digest"
 * list (same form as RenderedPolicy.rules). A rule without a netlab comment becomes
 * `chain/?<digest of its text>` and any set, map or other object `kind:name/?<digest>`, so a
 * table someone edited by hand never compares equal to a rendered one.
 */
export function rulesFromListing(text: string): string[] {
  return ruleEntries(text)
    .map((r) => r.id)
    .sort();
}

/** The rules of a table listing (or of a rendered table: the same form), each with its chain and text. */
export function ruleEntries(text: string): { id: string; chain: string; text: string }[] {
  const entries: { id: string; chain: string; text: string }[] = [];
  const add = (id: string, chain: string, line: string) => entries.push({ id, chain, text: line });
  const lines = text.split('\n').map((l) => l.replace(/\s+# handle \d+\s*$/, ''));
  let chain: string | null = null;
  let other: { id: string; depth: number; text: string[] } | null = null;
  let inTable = false;
  for (const raw of lines) {
    const line = normaliseSpace(raw);
    if (!line) continue;
    if (other) {
      other.text.push(line);
      other.depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
      if (other.depth <= 0) {
        add(`${other.id}/?${shortDigest(other.text.join('\n'))}`, other.id, other.text.join(' '));
        other = null;
      }
      continue;
    }
    if (!inTable) {
      if (/^table \S+ \S+ \{$/.test(line)) inTable = true;
      continue;
    }
    if (chain === null) {
      const c = /^chain (\S+) \{$/.exec(line);
      if (c) {
        chain = c[1]!.replace(/^"(.*)"$/, '$1');
        continue;
      }
      const o = /^(\S+) (\S+) \{$/.exec(line);
      if (o) {
        other = { id: `${o[1]}:${o[2]}`, depth: 1, text: [line] };
        continue;
      }
      if (line === '}') inTable = false;
      else add(`?/?${shortDigest(line)}`, '?', line);
      continue;
    }
    if (line === '}') {
      chain = null;
      continue;
    }
    if (/^type \S+ hook /.test(line)) {
      add(`${chain}/${headerDigest(chain, line)}`, chain, line);
      continue;
    }
    const m = /comment "nl:([0-9a-f]+)"$/.exec(line);
    add(m ? `${chain}/${m[1]}` : `${chain}/?${shortDigest(line)}`, chain, line.replace(/\s*comment "nl:[0-9a-f]+"$/, ''));
  }
  return entries;
}

/**
 * Which bridge ports need hairpin mode on (a container reaching its own host's published port,
 * Docker-style, or a pod reaching a service that lands on itself). Returns kernel ifnames of
 * bridges whose ports need it.
 *
 * Needed when bridged traffic passes netfilter (br_netfilter, bridge-nf-call-iptables=1): the
 * DNATed frame is then bridged straight back to the port it came from, which a bridge refuses
 * unless the port is in hairpin mode.
 */
export function bridgesNeedingHairpin(host: Host): string[] {
  const p = host.policy;
  if (!p) return [];
  const targets: Cidr[] = [
    ...p.dnat.map((d) => parseCidr(d.toAddress, d.pos)),
    ...p.services.flatMap((s) => s.backends.map((b) => parseCidr(b.address, s.pos))),
  ];
  const out = new Set<string>();
  for (const s of connectedSubnets(host)) {
    if (s.kind !== 'bridge') continue;
    if (targets.some((t) => contains(s.net, t))) out.add(s.ifname);
  }
  return [...out].sort();
}
