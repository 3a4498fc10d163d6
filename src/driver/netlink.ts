// Reads links, addresses and routes of many namespaces from one process speaking rtnetlink, and
// their sysctls in the same pass.
//
// Why: observing a lab of N hosts with `ip -d -j -batch` per namespace starts N processes
// whose start costs far more than their reads; one process that enters each namespace with
// setns(2) and sends three dump requests reads them all at the cost of one. The process is perl (perl-base
// is Essential on Debian, like the runner and the sysctl writer) and only moves bytes: it writes
// the kernel's answers unchanged, framed by namespace, and the decoding happens here, into the
// same shapes `ip -d -j` prints, so the model's parsers (parseLink, parseAddr, parseRoute) read
// either source.
import { availableParallelism, endianness } from 'node:os';
import ipaddr from 'ipaddr.js';
import type { RawAddrInfo } from '../model/addr.js';
import type { RawLink } from '../model/link.js';
import type { RawProxyNeigh } from '../model/proxy-neigh.js';
import type { RawQdisc } from '../model/qdisc.js';
import type { RawRoute } from '../model/route.js';
import { constants, readFileSync } from 'node:fs';
import { profile } from '../profile.js';
import { helperArgs } from './perl-helpers.js';
import { runCollect, setnsSyscall } from './runner.js';
import { ToolError } from '../errors.js';

export interface NetlinkQuery {
  ns: string;
  /** Also dump IPv6 routes. */
  ipv6Routes: boolean;
  /** Files under /proc/sys/net to read there (sysctls; /proc/sys/net shows the namespace entered). */
  sysctlPaths?: string[];
  /** Also dump qdiscs. */
  qdiscs?: boolean;
  /** Also dump proxy neighbour entries. */
  proxyNeighbours?: boolean;
  /** Namespaces ('' = the reader's own) whose nsid here to ask after the dumps (see NsQuery.peers). */
  peers?: string[];
  /** Only the links (what ownership marks need: gc, destroy --all); no addresses or routes. */
  linksOnly?: boolean;
}

export interface NetlinkDump {
  links: RawLink[];
  addrs: (RawLink & { addr_info: RawAddrInfo[] })[];
  routes: RawRoute[];
  routes6: RawRoute[];
  /** The value of each of the query's sysctl paths (whitespace collapsed), null where missing. */
  sysctls: (string | null)[];
  /** Qdiscs as `tc -raw -j qdisc show` prints them; null when one of a kind not decoded here (netem) is present. */
  qdiscs: RawQdisc[] | null;
  /** Proxy neighbour entries as `ip -j neigh show proxy` prints them. */
  proxyNeigh: RawProxyNeigh[];
  /** This namespace's nsid for each of the query's peers: -1 when it has none or the peer cannot be opened. */
  peerNsids: number[];
}

// The program and its framing: helpers/netlink-reader.pl.
async function runPerl(mode: 'dump' | 'nsid', netnsDir: string, input: string): Promise<Buffer> {
  // rtnetlink is in the host's byte order and the decoders below read little-endian (x86, arm64,
  // riscv64, ppc64le): say so rather than misread a big-endian kernel's answers.
  if (endianness() !== 'LE')
    throw new ToolError('netlab reads rtnetlink as little-endian; this machine is big-endian, which it does not support');
  profile.count('processes');
  const r = await runCollect(
    'perl',
    helperArgs('netlink-reader', [String(setnsSyscall()), netnsDir, mode, String(constants.O_NOFOLLOW)]),
    input,
  );
  if (r.exitCode !== 0) throw new ToolError(`netlink reader (perl) failed: ${r.stderr || `exit ${r.exitCode}`}`);
  return r.stdout;
}

/** Links, addresses and routes of each namespace (an Error where the namespace could not be read). */
export async function dumpNamespaces(qs: NetlinkQuery[], netnsDir: string): Promise<(NetlinkDump | Error)[]> {
  // Most of a large read is the kernel's work for each namespace: one reader per CPU, each taking
  // a contiguous share, decoded as each finishes.
  const readers = Math.min(availableParallelism(), Math.ceil(qs.length / 128));
  if (readers > 1) {
    const size = Math.ceil(qs.length / readers);
    const shares = Array.from({ length: readers }, (_, k) => qs.slice(k * size, (k + 1) * size));
    return (await Promise.all(shares.map((share) => dumpShare(share, netnsDir)))).flat();
  }
  return dumpShare(qs, netnsDir);
}

async function dumpShare(qs: NetlinkQuery[], netnsDir: string): Promise<(NetlinkDump | Error)[]> {
  if (!qs.length) return [];
  const out = await runPerl(
    'dump',
    netnsDir,
    qs
      .map((q) => {
        const paths = q.sysctlPaths ?? [];
        const flags = `${q.ipv6Routes ? '6' : ''}${q.qdiscs ? 'q' : ''}${q.proxyNeighbours ? 'p' : ''}${q.linksOnly ? 'l' : ''}`;
        return [q.ns, flags, paths.length, ...paths, ...(q.peers ?? [])].join('\t') + '\n';
      })
      .join(''),
  );
  return profile.timeSync('observe:decode', () => decodeShare(qs, out));
}

function decodeShare(qs: NetlinkQuery[], out: Buffer): (NetlinkDump | Error)[] {
  const frames = qs.map(() => new Map<string, Buffer>());
  for (let off = 0; off + 9 <= out.length;) {
    const id = out.readUInt32BE(off);
    const what = String.fromCharCode(out[off + 4]!);
    const len = out.readUInt32BE(off + 5);
    frames[id]?.set(what, out.subarray(off + 9, off + 9 + len));
    off += 9 + len;
  }
  return frames.map((f, i) => {
    const error = f.get('E');
    if (error) return new ToolError(error.toString('utf8'));
    if (!f.has(qs[i]!.linksOnly ? 'L' : 'R')) return new ToolError(`netlink reader: no answer for namespace ${qs[i]!.ns || '(root)'}`);
    const links = decodeLinks(f.get('L')!);
    const names = new Map(links.map((l) => [l.ifindex, l.ifname]));
    for (const l of links) if (l.master === undefined && l.masterIndex !== undefined) l.master = names.get(l.masterIndex);
    resolveLocalNames(links, names);
    return {
      links: links.map(({ masterIndex: _m, vxlanLinkIndex: _v, ...l }) => l),
      addrs: f.has('A') ? decodeAddrs(f.get('A')!, names) : [],
      routes: f.has('R') ? decodeRoutes(f.get('R')!, names) : [],
      routes6: f.has('S') ? decodeRoutes(f.get('S')!, names) : [],
      qdiscs: f.has('Q') ? decodeQdiscs(f.get('Q')!, names) : [],
      proxyNeigh: f.has('P') ? decodeProxyNeighbours(f.get('P')!, names) : [],
      sysctls: (qs[i]!.sysctlPaths ?? []).map((_, k) => {
        const line = (f.get('Y')?.toString('utf8') ?? '').split('\n')[k];
        return line?.startsWith('=') ? line.slice(1) : null;
      }),
      peerNsids: peerNsids(qs[i]!.peers ?? [], f.get('N')),
    };
  });
}

/** The N frame's answers, one per peer; -1 for each when the frame is missing (the dump failed). */
function peerNsids(peers: string[], frame: Buffer | undefined): number[] {
  const lines = frame?.toString('utf8').split('\n') ?? [];
  return peers.map((_, k) => {
    const n = Number(lines[k] || -1);
    return Number.isInteger(n) ? n : -1;
  });
}

/** For each request, the nsid its namespace has for each of `others` (-1: none; null: not readable). */
export async function nsidsOf(requests: { ns: string; others: string[] }[], netnsDir: string): Promise<(number[] | null)[]> {
  if (!requests.length) return [];
  // Apart from `processes`: how often the reader's own answers (NsQuery.peers) were not enough.
  profile.count('nsidProcesses');
  const out = (await runPerl('nsid', netnsDir, requests.map((r) => [r.ns, ...r.others].join('\t') + '\n').join(''))).toString('utf8');
  const answers: (number[] | null)[] = requests.map(() => null);
  for (const line of out.split('\n')) {
    const [id, ...rest] = line.split('\t');
    if (id === undefined || id === '' || rest[0] === 'E') continue;
    answers[Number(id)] = rest.map(Number);
  }
  return answers;
}

// ---- decoding ---------------------------------------------------------------------------------

const NLA_TYPE_MASK = 0x3fff;

/**
 * The attributes of buf[off..end), indexed in one pass: where each type's value lies (the last
 * of a repeated type wins, as in a Map of them). Numbers and strings are read in place, so an
 * attribute costs no allocation unless a decoder asks for its bytes. Reading 500 namespaces used
 * to make a Map and a Buffer view of every attribute (a third of an observation's allocation),
 * and then to walk the whole list for each lookup (a decoder makes about fifteen).
 */
class Attrs {
  private readonly at: number[] = [];
  private readonly len: number[] = [];

  constructor(
    private readonly buf: Buffer,
    off: number,
    end: number,
  ) {
    while (off + 4 <= end) {
      const len = buf[off]! | (buf[off + 1]! << 8);
      if (len < 4 || off + len > end) break;
      const type = (buf[off + 2]! | (buf[off + 3]! << 8)) & NLA_TYPE_MASK;
      this.at[type] = off + 4;
      this.len[type] = len - 4;
      off += (len + 3) & ~3;
    }
  }

  /** The value's bytes. */
  get(type: number): Buffer | undefined {
    const at = this.at[type];
    return at === undefined ? undefined : this.buf.subarray(at, at + this.len[type]!);
  }

  has(type: number): boolean {
    return this.at[type] !== undefined;
  }

  /** Where the value lies, when it exists and has at least `n` bytes. */
  private sized(type: number, n: number): number | undefined {
    const at = this.at[type];
    return at !== undefined && this.len[type]! >= n ? at : undefined;
  }

  u8(type: number): number | undefined {
    const at = this.sized(type, 1);
    return at === undefined ? undefined : this.buf[at]!;
  }

  u16(type: number): number | undefined {
    const at = this.sized(type, 2);
    return at === undefined ? undefined : this.buf[at]! | (this.buf[at + 1]! << 8);
  }

  be16(type: number): number | undefined {
    const at = this.sized(type, 2);
    return at === undefined ? undefined : (this.buf[at]! << 8) | this.buf[at + 1]!;
  }

  u32(type: number): number | undefined {
    const at = this.sized(type, 4);
    return at === undefined ? undefined : this.buf.readUInt32LE(at);
  }

  s32(type: number): number | undefined {
    const at = this.sized(type, 4);
    return at === undefined ? undefined : this.buf.readInt32LE(at);
  }

  /** A NUL-terminated string. */
  str(type: number): string | undefined {
    const at = this.at[type];
    if (at === undefined) return undefined;
    let end = at;
    const stop = at + this.len[type]!;
    while (end < stop && this.buf[end] !== 0) end++;
    return this.buf.toString('utf8', at, end);
  }
}

function attrs(buf: Buffer, off = 0, end = buf.length): Attrs {
  return new Attrs(buf, off, end);
}

function attrList(buf: Buffer, off = 0, end = buf.length): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  while (off + 4 <= end) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > end) break;
    out.push([buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len)]);
    off += (len + 3) & ~3;
  }
  return out;
}

/** Each netlink message's body (after the 16-byte header) in a dump. */
function messages(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off + 16 <= buf.length;) {
    const len = buf.readUInt32LE(off);
    if (len < 16) break;
    out.push(buf.subarray(off + 16, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}

const str = (b: Buffer | undefined) => (b === undefined ? undefined : b.toString('utf8', 0, b.indexOf(0) >= 0 ? b.indexOf(0) : b.length));
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const mac = (b: Buffer) => Array.from(b, (x) => HEX[x]!).join(':');

/** An address as iproute2 prints it (inet_ntop: dotted quad, or RFC 5952 for IPv6). */
function ip(b: Buffer): string {
  // The dotted quad directly: most addresses a lab holds are IPv4, and this is on every one.
  return b.length === 4 ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}` : ipaddr.fromByteArray([...b]).toString();
}

const isAny = (b: Buffer) => b.every((x) => x === 0);
const isMulticast = (b: Buffer) => (b.length === 4 ? (b[0]! & 0xf0) === 0xe0 : b[0] === 0xff);

const IFF: [number, string][] = [
  [0x2, 'BROADCAST'],
  [0x8, 'LOOPBACK'],
  [0x10, 'POINTOPOINT'],
  [0x80, 'NOARP'],
  [0x100, 'PROMISC'],
  [0x200, 'ALLMULTI'],
  [0x400, 'MASTER'],
  [0x800, 'SLAVE'],
  [0x1000, 'MULTICAST'],
  [0x1, 'UP'],
  [0x10000, 'LOWER_UP'],
  [0x20000, 'DORMANT'],
];

/** Interface flags as `ip -j link` names them (NO-CARRIER: up without carrier). */
function flagNames(f: number): string[] {
  const out = (f & 0x1) !== 0 && (f & 0x40) === 0 ? ['NO-CARRIER'] : [];
  for (const [bit, name] of IFF) if (f & bit) out.push(name);
  return out;
}

const LINK_TYPES: Record<number, string> = { 1: 'ether', 772: 'loopback', 65534: 'none' };
const MACVLAN_MODES: Record<number, string> = { 1: 'private', 2: 'vepa', 4: 'bridge', 8: 'passthru', 16: 'source' };
const IPVLAN_MODES: Record<number, string> = { 0: 'l2', 1: 'l3', 2: 'l3s' };
const PORT_STATES = ['disabled', 'listening', 'learning', 'forwarding', 'blocking'];

type DecodedLink = RawLink & { masterIndex?: number; vxlanLinkIndex?: number };

/** IFLA_INFO_DATA of the kinds netlab manages, with the keys and values `ip -d -j` prints. */
function infoData(kind: string, a: Attrs, into: DecodedLink): Record<string, unknown> {
  switch (kind) {
    case 'bridge':
      return { stp_state: a.u32(5), ageing_time: a.u32(4), vlan_filtering: a.u8(7) };
    case 'vlan': {
      const proto = a.be16(5);
      return { protocol: proto === 0x88a8 ? '802.1ad' : '802.1Q', id: a.u16(1) };
    }
    case 'macvlan':
    case 'macvtap':
      return { mode: MACVLAN_MODES[a.u32(1) ?? 2] ?? 'vepa' };
    case 'ipvlan': {
      const flags = a.u16(2) ?? 0;
      return {
        mode: IPVLAN_MODES[a.u16(1) ?? 0] ?? 'l2',
        ...(flags & 1 ? { private: true } : flags & 2 ? { vepa: true } : { bridge: true }),
      };
    }
    case 'tun': {
      const type = a.u8(3);
      return {
        type: type === 1 ? 'tun' : type === 2 ? 'tap' : 'UNKNOWN',
        ...(a.has(1) ? { user: a.u32(1) } : {}),
        ...(a.has(2) ? { group: a.u32(2) } : {}),
        persist: a.u8(6) === 1,
      };
    }
    case 'vxlan': {
      const d: Record<string, unknown> = { id: a.u32(1), port: a.be16(15), learning: a.u8(7) === 1 };
      for (const [type, key, remoteKey] of [
        [2, 'group', 'remote'],
        [16, 'group6', 'remote6'],
      ] as const) {
        const g = a.get(type);
        if (g && !isAny(g)) d[isMulticast(g) ? key : remoteKey] = ip(g);
      }
      for (const [type, key] of [
        [4, 'local'],
        [17, 'local6'],
      ] as const) {
        const l = a.get(type);
        if (l && !isAny(l)) d[key] = ip(l);
      }
      const dev = a.u32(3);
      if (dev) into.vxlanLinkIndex = dev;
      return d;
    }
    default:
      return {};
  }
}

function decodeLinks(buf: Buffer): DecodedLink[] {
  return messages(buf).map((m) => {
    const ifindex = m.readInt32LE(4);
    const a = attrs(m, 16);
    const link: DecodedLink = {
      ifindex,
      ifname: a.str(3) ?? `if${ifindex}`,
      flags: flagNames(m.readUInt32LE(8)),
      mtu: a.u32(4) ?? 0,
      link_type: LINK_TYPES[m.readUInt16LE(2)] ?? String(m.readUInt16LE(2)),
    };
    const address = a.get(1);
    if (address && address.length) link.address = mac(address);
    const master = a.u32(10);
    if (master) link.masterIndex = master;
    const parent = a.u32(5);
    const nsid = a.s32(37);
    // In another namespace the parent may have this link's own ifindex (a veth pair, both 2).
    if (parent !== undefined && nsid !== undefined) {
      link.link_index = parent;
      link.link_netnsid = nsid;
    } else if (parent !== undefined && parent !== ifindex) link.link_index = parent; // named once all links are known
    const alias = a.str(20);
    if (alias) link.ifalias = alias;
    const props = a.get(52);
    if (props) link.altnames = attrList(props).flatMap(([t, v]) => (t === 53 ? [str(v)!] : []));
    const info = a.get(18);
    if (info) {
      const li = attrs(info);
      const kind = li.str(1);
      const slaveKind = li.str(4);
      link.linkinfo = {};
      if (kind) {
        link.linkinfo.info_kind = kind;
        const data = li.get(2);
        link.linkinfo.info_data = data ? infoData(kind, attrs(data), link) : {};
      }
      if (slaveKind) {
        link.linkinfo.info_slave_kind = slaveKind;
        const sd = li.get(5);
        if (slaveKind === 'bridge' && sd) {
          const p = attrs(sd);
          link.linkinfo.info_slave_data = { state: PORT_STATES[p.u8(1) ?? 0] ?? 'disabled', hairpin: p.u8(4) === 1 };
        } else link.linkinfo.info_slave_data = {};
      }
    }
    return link;
  });
}

/** Parents in the same namespace are printed by name, as `ip -j` does (`link`, vxlan's `link`). */
function resolveLocalNames(links: DecodedLink[], names: Map<number, string>): void {
  for (const l of links) {
    if (l.link_index !== undefined && l.link_netnsid === undefined) {
      const name = names.get(l.link_index);
      if (name !== undefined) {
        l.link = name;
        delete l.link_index;
      }
    }
    if (l.vxlanLinkIndex !== undefined && l.linkinfo?.info_data) {
      const name = names.get(l.vxlanLinkIndex);
      if (name !== undefined) l.linkinfo.info_data.link = name;
      else l.linkinfo.info_data.link_index = l.vxlanLinkIndex;
    }
  }
}

const SCOPES: Record<number, string> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };

function decodeAddrs(buf: Buffer, names: Map<number, string>): (RawLink & { addr_info: RawAddrInfo[] })[] {
  const byIndex = new Map<number, RawLink & { addr_info: RawAddrInfo[] }>();
  for (const m of messages(buf)) {
    const family = m.readUInt8(0);
    if (family !== 2 && family !== 10) continue;
    const index = m.readUInt32LE(4);
    const a = attrs(m, 8);
    const local = a.get(2) ?? a.get(1);
    if (!local) continue;
    let entry = byIndex.get(index);
    if (!entry) {
      entry = { ifindex: index, ifname: names.get(index) ?? `if${index}`, flags: [], mtu: 0, addr_info: [] };
      byIndex.set(index, entry);
    }
    const scope = m.readUInt8(3);
    entry.addr_info.push({
      family: family === 2 ? 'inet' : 'inet6',
      local: ip(local),
      prefixlen: m.readUInt8(1),
      scope: SCOPES[scope] ?? String(scope),
    });
  }
  return [...byIndex.values()];
}

const ROUTE_TYPES: Record<number, string> = {
  1: 'unicast',
  2: 'local',
  3: 'broadcast',
  4: 'anycast',
  5: 'multicast',
  6: 'blackhole',
  7: 'unreachable',
  8: 'prohibit',
  9: 'throw',
  10: 'nat',
};
const PROTOCOLS: Record<number, string> = { 2: 'kernel', 3: 'boot', 4: 'static' };
const RTNH_F_ONLINK = 4;
/** rtm_flags of a route cache entry (an exception such as a redirect or PMTU); never a lab route. */
const RTM_F_CLONED = 0x200;

function decodeRoutes(buf: Buffer, names: Map<number, string>): RawRoute[] {
  const out: RawRoute[] = [];
  const dev = (i: number | undefined) => (i === undefined ? undefined : (names.get(i) ?? `if${i}`));
  for (const m of messages(buf)) {
    const family = m.readUInt8(0);
    if (family !== 2 && family !== 10) continue;
    const dstLen = m.readUInt8(1);
    const type = m.readUInt8(7);
    const flags = m.readUInt32LE(8);
    // Without strict checking some kernels (Debian's 6.1) dump cached exceptions too; `ip route` skips them.
    if (flags & RTM_F_CLONED) continue;
    const a = attrs(m, 12);
    const table = a.u32(15) ?? m.readUInt8(4);
    const dstAddr = a.get(1);
    const full = family === 2 ? 32 : 128;
    const r: RawRoute = {
      type: ROUTE_TYPES[type] ?? String(type),
      dst: dstAddr ? (dstLen === full ? ip(dstAddr) : `${ip(dstAddr)}/${dstLen}`) : dstLen === 0 ? 'default' : `0.0.0.0/${dstLen}`,
      protocol: PROTOCOLS[m.readUInt8(5)] ?? String(m.readUInt8(5)),
      flags: flags & RTNH_F_ONLINK ? ['onlink'] : [],
    };
    const gw = a.get(5);
    if (gw) r.gateway = ip(gw);
    const oif = a.u32(4);
    if (oif !== undefined) r.dev = dev(oif);
    const metric = a.u32(6);
    if (metric !== undefined) r.metric = metric;
    if (table !== 254) r.table = table === 255 ? 'local' : table === 253 ? 'default' : String(table);
    const mp = a.get(9);
    if (mp) {
      r.nexthops = [];
      for (let off = 0; off + 8 <= mp.length;) {
        const len = mp.readUInt16LE(off);
        if (len < 8) break;
        const na = attrs(mp, off + 8, off + len);
        const g = na.get(5);
        r.nexthops.push({
          ...(g ? { gateway: ip(g) } : {}),
          dev: dev(mp.readInt32LE(off + 4)),
          weight: mp.readUInt8(off + 3) + 1,
          flags: mp.readUInt8(off + 2) & RTNH_F_ONLINK ? ['onlink'] : [],
        });
        off += (len + 3) & ~3;
      }
    }
    out.push(r);
  }
  return out;
}

/** struct ndmsg (family, ifindex at 4, 12 bytes) and NDA_DST of each proxy entry. */
function decodeProxyNeighbours(buf: Buffer, names: Map<number, string>): RawProxyNeigh[] {
  const out: RawProxyNeigh[] = [];
  for (const m of messages(buf)) {
    if (m.length < 12) continue;
    const dst = attrs(m, 12).get(1 /* NDA_DST */);
    if (!dst) continue;
    const index = m.readInt32LE(4);
    out.push(index > 0 ? { dst: ip(dst), dev: names.get(index) ?? `if${index}` } : { dst: ip(dst) });
  }
  return out;
}

// ---- qdiscs ----------------------------------------------------------------------------------

let tickInUsec: number | undefined;

/** Scheduler ticks per microsecond, from /proc/net/psched, as tc computes it (tc_core_init). */
function ticksPerUsec(): number {
  if (tickInUsec === undefined) {
    const [t2us = 1000, us2t = 64, clockRes = 1_000_000] = readFileSync('/proc/net/psched', 'utf8')
      .trim()
      .split(/\s+/)
      .map((h) => parseInt(h, 16));
    // tc's compatibility rule: a kernel with nanosecond resolution advertises t2us 1000 meaning 1.
    tickInUsec = ((clockRes === 1_000_000_000 ? us2t : t2us) / us2t) * (clockRes / 1_000_000);
  }
  return tickInUsec;
}

/** A qdisc handle or parent as tc prints it: `1:`, `1:1`, `:1`. */
function classid(h: number): string {
  const major = h >>> 16;
  const minor = h & 0xffff;
  if (major === 0) return `:${minor.toString(16)}`;
  return minor === 0 ? `${major.toString(16)}:` : `${major.toString(16)}:${minor.toString(16)}`;
}

/** tbf and pfifo options with the keys and values `tc -raw -j` prints; null for a kind left to tc. */
function qdiscOptions(kind: string, opts: Buffer | undefined): Record<string, unknown> | null {
  if (kind === 'pfifo' || kind === 'bfifo') return opts && opts.length >= 4 ? { limit: opts.readUInt32LE(0) } : {};
  if (kind === 'tbf') {
    const a = attrs(opts ?? Buffer.alloc(0));
    const parms = a.get(1); // TCA_TBF_PARMS: struct tc_tbf_qopt
    if (!parms || parms.length < 36) return {};
    const rate64 = a.get(4); // TCA_TBF_RATE64
    const rate = rate64 && rate64.length >= 8 ? Number(rate64.readBigUInt64LE(0)) : parms.readUInt32LE(8);
    const buffer = parms.readUInt32LE(28);
    // tc_calc_xmitsize: bytes sent at the rate in the bucket's time (ticks), truncated.
    const burst = Math.trunc((rate * (buffer / ticksPerUsec())) / 1_000_000);
    return { rate, burst };
  }
  // Kinds netlab never manages but finds on every device (noqueue, pfifo_fast, fq_codel...).
  if (!['netem'].includes(kind)) return {};
  return null;
}

function decodeQdiscs(buf: Buffer, names: Map<number, string>): RawQdisc[] | null {
  const out: RawQdisc[] = [];
  for (const m of messages(buf)) {
    const ifindex = m.readInt32LE(4);
    const handle = m.readUInt32LE(8);
    const parent = m.readUInt32LE(12);
    const a = attrs(m, 20);
    const kind = a.str(1) ?? '';
    const options = qdiscOptions(kind, a.get(2));
    if (options === null) return null;
    out.push({
      kind,
      handle: `${(handle >>> 16).toString(16)}:`,
      ...(names.has(ifindex) ? { dev: names.get(ifindex)! } : {}),
      ...(parent === 0xffffffff ? { root: true } : parent ? { parent: classid(parent) } : {}),
      options,
    });
  }
  return out;
}
