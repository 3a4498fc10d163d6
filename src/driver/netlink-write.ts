// Applies the common `ip` operations as rtnetlink requests, every namespace from one process.
//
// Why: a lab of N hosts needs a batch in each host's namespace (its veth, links up, address,
// route), and each `ip -batch` process costs a process start; the kernel's own work for those
// lines is a fraction of that. So the operations netlab emits most (veth and bridge creation, link
// settings, altnames, addresses, plain routes, link deletion) and proxy neighbour entries are
// encoded here into the very requests `ip` would send for their lines (src/driver/render.ts), and
// one perl helper (perl-base, like the runner) enters each namespace with setns(2) and sends them,
// in order, stopping a namespace's batch at its first error like `ip -batch` does. A batch with
// any other operation runs through `ip` as before.
//
// The helper only patches in what is known at run time: the ifindex of a named device (looked
// up in the namespace at the moment of use) and the fd of a namespace a veth end goes to.
// Failures are reported as `ip` reports them: the kernel's extended-ack message
// (`Error: ...`) or `RTNETLINK answers: <errno text>`.
import { endianness } from 'node:os';
import ipaddr from 'ipaddr.js';
import { profile } from '../profile.js';
import { helperArgs } from './perl-helpers.js';
import { runCollect, setnsSyscall } from './runner.js';
import { appendAll } from '../append.js';
import { ToolError } from '../errors.js';
import type { LinkChanges, LinkEnd, Operation, OpOf } from '../model/operations.js';

export interface Fixup {
  offset: number;
  kind: 'ifindex' | 'nsfd';
  name: string;
}

export interface Encoded {
  msg: Buffer;
  fixups: Fixup[];
}

// ---- encoding -----------------------------------------------------------------------------------

const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;
const NLA_F_NESTED = 0x8000;

const RTM = {
  newlink: 16,
  dellink: 17,
  newaddr: 20,
  deladdr: 21,
  newroute: 24,
  delroute: 25,
  newneigh: 28,
  delneigh: 29,
  newlinkprop: 108,
  dellinkprop: 109,
};
const IFLA = { address: 1, ifname: 3, mtu: 4, master: 10, linkinfo: 18, ifalias: 20, netNsFd: 28, propList: 52, altIfname: 53 };
const INFO = { kind: 1, data: 2, slaveKind: 4, slaveData: 5 };

/** One attribute (or nested attribute) under construction; offsets of fixups are relative to it. */
interface Part {
  buf: Buffer;
  fixups: Fixup[];
}

const pad4 = (n: number) => (n + 3) & ~3;

function attr(type: number, payload: Buffer | Part[], fixupAt?: Omit<Fixup, 'offset'>): Part {
  const inner: Part = Array.isArray(payload) ? concat(payload) : { buf: payload, fixups: [] };
  const len = 4 + inner.buf.length;
  const buf = Buffer.alloc(pad4(len));
  buf.writeUInt16LE(len, 0);
  buf.writeUInt16LE(Array.isArray(payload) ? type | NLA_F_NESTED : type, 2);
  inner.buf.copy(buf, 4);
  const fixups = inner.fixups.map((f) => ({ ...f, offset: f.offset + 4 }));
  if (fixupAt) fixups.push({ ...fixupAt, offset: 4 });
  return { buf, fixups };
}

function concat(parts: Part[]): Part {
  const fixups: Fixup[] = [];
  let off = 0;
  for (const p of parts) {
    appendAll(
      fixups,
      p.fixups.map((f) => ({ ...f, offset: f.offset + off })),
    );
    off += p.buf.length;
  }
  return { buf: Buffer.concat(parts.map((p) => p.buf)), fixups };
}

const u8 = (v: number) => Buffer.from([v]);
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
const bytes = (s: string) => Buffer.from(s, 'utf8');
const macBytes = (m: string) => Buffer.from(m.split(':').map((x) => parseInt(x, 16)));

function header(type: number, flags: number, body: Part): Encoded {
  const msg = Buffer.alloc(16 + body.buf.length);
  msg.writeUInt32LE(msg.length, 0);
  msg.writeUInt16LE(type, 4);
  msg.writeUInt16LE(flags | NLM_F_REQUEST | NLM_F_ACK, 6);
  body.buf.copy(msg, 16);
  return { msg, fixups: body.fixups.map((f) => ({ ...f, offset: f.offset + 16 })) };
}

/** struct ifinfomsg: zero but flags/change, and the ifindex of `dev` (looked up as `ip` does). */
function ifinfo(flags = 0, change = 0, dev?: string): Part {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return { buf: b, fixups: dev === undefined ? [] : [{ offset: 4, kind: 'ifindex', name: dev }] };
}

const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** The attributes of one end of a link being made (name, namespace, MAC, MTU), or null when they are not what `ip` would accept. */
function endParts(e: LinkEnd): Part[] | null {
  if (!IFNAME.test(e.name) || (e.mac !== null && !MAC.test(e.mac))) return null;
  const parts = [attr(IFLA.ifname, cstr(e.name))];
  if (e.netns !== null) parts.push(attr(IFLA.netNsFd, u32(0), { kind: 'nsfd', name: e.netns }));
  if (e.mac !== null) parts.push(attr(IFLA.address, macBytes(e.mac)));
  parts.push(attr(IFLA.mtu, u32(e.mtu)));
  return parts;
}

function linkAdd(o: OpOf<'link.add'>): Encoded | null {
  const first = endParts(o.end);
  if (!first || o.parent !== null) return null;
  const flags = NLM_F_CREATE | NLM_F_EXCL;
  if (o.peer) {
    const peer = endParts(o.peer.end);
    if (!peer) return null;
    const info = attr(IFLA.linkinfo, [
      attr(INFO.kind, bytes('veth')),
      attr(INFO.data, [attr(1 /* VETH_INFO_PEER */, [ifinfo(), ...peer])]),
    ]);
    return header(RTM.newlink, flags, concat([ifinfo(), ...first, info]));
  }
  // Only a bridge without VLAN filtering (that one goes through `ip`).
  if (o.link.type !== 'bridge' || o.link.attrs.vlanFiltering) return null;
  const info = attr(IFLA.linkinfo, [
    attr(INFO.kind, bytes('bridge')),
    attr(INFO.data, [
      attr(4 /* IFLA_BR_AGEING_TIME */, u32(Number(o.link.attrs.ageing) * 100)),
      attr(5 /* IFLA_BR_STP_STATE */, u32(o.link.attrs.stp ? 1 : 0)),
    ]),
  ]);
  return header(RTM.newlink, flags, concat([ifinfo(), ...first, info]));
}

function linkSet(o: OpOf<'link.set'>): Encoded | null {
  if (!IFNAME.test(o.dev)) return null;
  const c = o.changes;
  const keys = Object.keys(c) as (keyof LinkChanges)[];
  if (!keys.length) return null;
  if (keys.length === 1 && c.alias !== undefined)
    return header(RTM.newlink, 0, concat([ifinfo(0, 0, o.dev), attr(IFLA.ifalias, bytes(c.alias ?? ''))]));
  if (keys.length === 1 && c.hairpin !== undefined) {
    const info = attr(IFLA.linkinfo, [
      attr(INFO.slaveKind, bytes('bridge')),
      attr(INFO.slaveData, [attr(4 /* IFLA_BRPORT_MODE */, u8(c.hairpin ? 1 : 0))]),
    ]);
    return header(RTM.newlink, 0, concat([ifinfo(0, 0, o.dev), info]));
  }
  const parts: Part[] = [];
  let flags = 0;
  let change = 0;
  // Attributes in the order the changes were given, as `ip` sends the words of its line.
  for (const k of keys) {
    if (k === 'up') {
      change |= 1;
      flags = c.up ? 1 : 0;
    } else if (k === 'master' && c.master === null) parts.push(attr(IFLA.master, u32(0)));
    else if (k === 'master' && IFNAME.test(c.master ?? '')) parts.push(attr(IFLA.master, u32(0), { kind: 'ifindex', name: c.master! }));
    else if (k === 'mtu') parts.push(attr(IFLA.mtu, u32(c.mtu!)));
    else if (k === 'mac' && MAC.test(c.mac ?? '')) parts.push(attr(IFLA.address, macBytes(c.mac!)));
    else return null;
  }
  return header(RTM.newlink, 0, concat([ifinfo(flags, change, o.dev), ...parts]));
}

function altname(o: OpOf<'altname.add' | 'altname.del'>): Encoded | null {
  if (!IFNAME.test(o.dev)) return null;
  const body = concat([ifinfo(0, 0, o.dev), attr(IFLA.propList, [attr(IFLA.altIfname, cstr(o.altname))])]);
  return o.op === 'altname.add' ? header(RTM.newlinkprop, NLM_F_CREATE | NLM_F_APPEND, body) : header(RTM.dellinkprop, 0, body);
}

function parsePrefix(text: string): { family: 2 | 10; addr: Buffer; bits: number } | null {
  try {
    const [a, bits] = text.includes('/') ? ipaddr.parseCIDR(text) : [ipaddr.parse(text), -1];
    const family = a.kind() === 'ipv4' ? 2 : 10;
    return { family, addr: Buffer.from(a.toByteArray()), bits: bits < 0 ? (family === 2 ? 32 : 128) : bits };
  } catch {
    return null;
  }
}

function addr(o: OpOf<'addr.add' | 'addr.del'>): Encoded | null {
  const { cidr, dev } = o.addr;
  if (!IFNAME.test(dev)) return null;
  const p = cidr.includes('/') ? parsePrefix(cidr) : null;
  if (!p) return null;
  // IPv6 addresses are added without DAD (see render.ts).
  const nodad = o.op === 'addr.add' && cidr.includes(':');
  const msg = Buffer.alloc(8);
  msg.writeUInt8(p.family, 0);
  msg.writeUInt8(p.bits, 1);
  msg.writeUInt8(nodad ? 0x02 /* IFA_F_NODAD */ : 0, 2);
  const body = concat([
    { buf: msg, fixups: [{ offset: 4, kind: 'ifindex', name: dev }] },
    attr(2 /* IFA_LOCAL */, p.addr),
    attr(1 /* IFA_ADDRESS */, p.addr),
  ]);
  return o.op === 'addr.add' ? header(RTM.newaddr, NLM_F_CREATE | NLM_F_EXCL, body) : header(RTM.deladdr, 0, body);
}

function route(o: OpOf<'route.add' | 'route.replace' | 'route.del'>): Encoded | null {
  // Next hops (ECMP) go through `ip`.
  const r = o.route;
  if (r.nexthops) return null;
  // IPv4's default is no destination; IPv6's is ::/0, as `ip` is given it.
  const dst = r.dst === 'default' && r.family === 4 ? null : parsePrefix(r.dst === 'default' ? '::/0' : r.dst);
  if (r.dst !== 'default' && !dst) return null;
  const via = r.via ? parsePrefix(r.via) : null;
  if (r.via && !via) return null;
  if (r.dev !== null && !IFNAME.test(r.dev)) return null;
  const family = dst?.family ?? via?.family ?? 2;
  if ((via && via.family !== family) || (dst && dst.family !== family)) return null;
  // What `ip route` puts in struct rtmsg: see iproute_modify in iproute2.
  const del = o.op === 'route.del';
  const scope = del ? 255 : family === 10 || via ? 0 : 253;
  const m = Buffer.alloc(12);
  m.writeUInt8(family, 0);
  m.writeUInt8(dst?.bits ?? 0, 1);
  m.writeUInt8(r.table < 256 ? r.table : 0, 4);
  m.writeUInt8(del ? 0 : 3 /* RTPROT_BOOT */, 5);
  m.writeUInt8(scope, 6);
  m.writeUInt8(del ? 0 : 1 /* RTN_UNICAST */, 7);
  m.writeUInt32LE(r.onlink ? 4 /* RTNH_F_ONLINK */ : 0, 8);
  const parts: Part[] = [{ buf: m, fixups: [] }];
  if (r.table >= 256) parts.push(attr(15 /* RTA_TABLE */, u32(r.table)));
  if (dst) parts.push(attr(1 /* RTA_DST */, dst.addr));
  if (via) parts.push(attr(5 /* RTA_GATEWAY */, via.addr));
  if (r.dev !== null) parts.push(attr(4 /* RTA_OIF */, u32(0), { kind: 'ifindex', name: r.dev }));
  parts.push(attr(6 /* RTA_PRIORITY */, u32(r.metric)));
  const flags = o.op === 'route.add' ? NLM_F_CREATE | NLM_F_EXCL : o.op === 'route.replace' ? NLM_F_CREATE | NLM_F_REPLACE : 0;
  return header(del ? RTM.delroute : RTM.newroute, flags, concat(parts));
}

function proxyNeigh(o: OpOf<'proxyneigh.add' | 'proxyneigh.del'>): Encoded | null {
  const { address, dev } = o.entry;
  if (!IFNAME.test(dev) || address.includes('/')) return null;
  const p = parsePrefix(address);
  if (!p) return null;
  // struct ndmsg as `ip neigh add|del proxy` fills it: the family, the device, NUD_PERMANENT, NTF_PROXY.
  const m = Buffer.alloc(12);
  m.writeUInt8(p.family, 0);
  m.writeUInt16LE(0x80, 8);
  m.writeUInt8(0x08, 10);
  const body = concat([{ buf: m, fixups: [{ offset: 4, kind: 'ifindex', name: dev }] }, attr(1 /* NDA_DST */, p.addr)]);
  return o.op === 'proxyneigh.add' ? header(RTM.newneigh, NLM_F_CREATE | NLM_F_EXCL, body) : header(RTM.delneigh, 0, body);
}

/** The rtnetlink request `ip` sends for this operation, or null when netlab leaves it to `ip`. */
export function encodeOperation(o: Operation): Encoded | null {
  switch (o.op) {
    case 'link.add':
      return linkAdd(o);
    case 'link.set':
      return linkSet(o);
    case 'altname.add':
    case 'altname.del':
      return altname(o);
    case 'link.del':
      return IFNAME.test(o.link.ifname) ? header(RTM.dellink, 0, ifinfo(0, 0, o.link.ifname)) : null;
    case 'addr.add':
    case 'addr.del':
      return addr(o);
    case 'route.add':
    case 'route.replace':
    case 'route.del':
      return route(o);
    case 'proxyneigh.add':
    case 'proxyneigh.del':
      return proxyNeigh(o);
    default:
      return null;
  }
}

// ---- sending ------------------------------------------------------------------------------------

export interface WriteGroup {
  ns: string;
  requests: Encoded[];
}

/** Sends each group's requests in its namespace; per group, null or the index and message of the request that failed. */
export async function writeGroups(
  groups: WriteGroup[],
  netnsDir: string,
  onSpawn: ((pid: number) => void) | null,
): Promise<({ index: number; stderr: string } | null)[]> {
  if (!groups.length) return [];
  // The requests are encoded little-endian, rtnetlink's byte order on every machine netlab supports.
  if (endianness() !== 'LE')
    throw new ToolError('netlab writes rtnetlink as little-endian; this machine is big-endian, which it does not support');
  profile.count('processes');
  const lines: string[] = [];
  const where: [number, number][] = [];
  groups.forEach((g, gi) => {
    lines.push(`N\t${g.ns}`);
    g.requests.forEach((r, ri) => {
      lines.push(`C\t${where.length}\t${r.msg.toString('hex')}\t${r.fixups.map((f) => `${f.offset}:${f.kind[0]}:${f.name}`).join(',')}`);
      where.push([gi, ri]);
    });
  });
  const r = await runCollect('perl', helperArgs('netlink-writer', [String(setnsSyscall()), netnsDir]), `${lines.join('\n')}\n`, onSpawn);
  const out = r.stdout.toString('utf8');
  if (r.exitCode !== 0 || !out.endsWith('D\n')) throw new ToolError(`netlink writer (perl) failed: ${r.stderr || `exit ${r.exitCode}`}`);
  const results: ({ index: number; stderr: string } | null)[] = groups.map(() => null);
  for (const row of out.split('\n')) {
    const [kind, id, message] = row.split('\t');
    if (kind !== 'E') continue;
    const [gi, ri] = where[Number(id)]!;
    results[gi] ??= { index: ri, stderr: message ?? '' };
  }
  return results;
}
