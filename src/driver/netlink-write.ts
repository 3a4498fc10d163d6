// Applies the common `ip` batch lines as rtnetlink requests, every namespace from one process.
//
// Why: a lab of N hosts needs a batch in each host's namespace (its veth, links up, address,
// route), and starting each `ip -batch` process costs more than the kernel's own work for those
// lines. So the lines netlab emits most (veth and bridge creation, link
// settings, altnames, addresses, plain routes, link deletion) are encoded here into the very
// requests `ip` would send, and one perl helper (perl-base, like the runner) enters each
// namespace with setns(2) and sends them, in order, stopping a namespace's batch at its first
// error like `ip -batch` does. A batch with any other line runs through `ip` as before.
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

const RTM = { newlink: 16, dellink: 17, newaddr: 20, deladdr: 21, newroute: 24, delroute: 25, newlinkprop: 108, dellinkprop: 109 };
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
const UINT = /^\d{1,10}$/;

/** `name A [netns X] address M mtu N`: the attributes of one veth end, or null. */
function vethEnd(t: string[], i: number): { parts: Part[]; next: number } | null {
  if (t[i] !== 'name' || !IFNAME.test(t[i + 1] ?? '')) return null;
  const parts = [attr(IFLA.ifname, cstr(t[i + 1]!))];
  i += 2;
  if (t[i] === 'netns') {
    if (!t[i + 1]) return null;
    parts.push(attr(IFLA.netNsFd, u32(0), { kind: 'nsfd', name: t[i + 1]! }));
    i += 2;
  }
  if (t[i] === 'address' && MAC.test(t[i + 1] ?? '')) {
    parts.push(attr(IFLA.address, macBytes(t[i + 1]!)));
    i += 2;
  }
  if (t[i] === 'mtu' && UINT.test(t[i + 1] ?? '')) {
    parts.push(attr(IFLA.mtu, u32(Number(t[i + 1]))));
    i += 2;
  }
  return { parts, next: i };
}

function linkAdd(t: string[]): Encoded | null {
  const first = vethEnd(t, 2);
  if (!first || t[first.next] !== 'type') return null;
  const kind = t[first.next + 1];
  const rest = t.slice(first.next + 2);
  const flags = NLM_F_CREATE | NLM_F_EXCL;
  if (kind === 'veth') {
    if (rest[0] !== 'peer') return null;
    const peer = vethEnd(rest, 1);
    if (!peer || peer.next !== rest.length) return null;
    const info = attr(IFLA.linkinfo, [
      attr(INFO.kind, bytes('veth')),
      attr(INFO.data, [attr(1 /* VETH_INFO_PEER */, [ifinfo(), ...peer.parts])]),
    ]);
    return header(RTM.newlink, flags, concat([ifinfo(), ...first.parts, info]));
  }
  if (kind === 'bridge') {
    // Only what netlab emits for a bridge without VLAN filtering (that one goes through `ip`).
    if (rest.length !== 4 || rest[0] !== 'stp_state' || rest[2] !== 'ageing_time' || !UINT.test(rest[1]!) || !UINT.test(rest[3]!))
      return null;
    const info = attr(IFLA.linkinfo, [
      attr(INFO.kind, bytes('bridge')),
      attr(INFO.data, [attr(4 /* IFLA_BR_AGEING_TIME */, u32(Number(rest[3]))), attr(5 /* IFLA_BR_STP_STATE */, u32(Number(rest[1])))]),
    ]);
    return header(RTM.newlink, flags, concat([ifinfo(), ...first.parts, info]));
  }
  return null;
}

function linkSet(t: string[]): Encoded | null {
  if (t[2] !== 'dev' || !IFNAME.test(t[3] ?? '')) return null;
  const dev = t[3]!;
  const parts: Part[] = [];
  let flags = 0;
  let change = 0;
  const rest = t.slice(4);
  if (rest[0] === 'alias') {
    // `alias TEXT` (the rest of the line) or `alias ""` to remove it.
    const text = rest.slice(1).join(' ');
    parts.push(attr(IFLA.ifalias, bytes(text === '""' ? '' : text)));
    return header(RTM.newlink, 0, concat([ifinfo(0, 0, dev), ...parts]));
  }
  if (rest[0] === 'type') {
    if (rest.length !== 4 || rest[1] !== 'bridge_slave' || rest[2] !== 'hairpin' || (rest[3] !== 'on' && rest[3] !== 'off')) return null;
    parts.push(
      attr(IFLA.linkinfo, [
        attr(INFO.slaveKind, bytes('bridge')),
        attr(INFO.slaveData, [attr(4 /* IFLA_BRPORT_MODE */, u8(rest[3] === 'on' ? 1 : 0))]),
      ]),
    );
    return header(RTM.newlink, 0, concat([ifinfo(0, 0, dev), ...parts]));
  }
  for (let i = 0; i < rest.length;) {
    const [k, v] = [rest[i], rest[i + 1]];
    if (k === 'up' || k === 'down') {
      change |= 1;
      flags = k === 'up' ? 1 : 0;
      i += 1;
    } else if (k === 'nomaster') {
      parts.push(attr(IFLA.master, u32(0)));
      i += 1;
    } else if (k === 'mtu' && UINT.test(v ?? '')) {
      parts.push(attr(IFLA.mtu, u32(Number(v))));
      i += 2;
    } else if (k === 'address' && MAC.test(v ?? '')) {
      parts.push(attr(IFLA.address, macBytes(v!)));
      i += 2;
    } else if (k === 'master' && IFNAME.test(v ?? '')) {
      parts.push(attr(IFLA.master, u32(0), { kind: 'ifindex', name: v! }));
      i += 2;
    } else return null;
  }
  if (!rest.length) return null;
  return header(RTM.newlink, 0, concat([ifinfo(flags, change, dev), ...parts]));
}

function linkProperty(t: string[]): Encoded | null {
  // link property add|del dev X altname Y
  if (t.length !== 7 || t[3] !== 'dev' || t[5] !== 'altname' || !IFNAME.test(t[4]!)) return null;
  const body = concat([ifinfo(0, 0, t[4]!), attr(IFLA.propList, [attr(IFLA.altIfname, cstr(t[6]!))])]);
  if (t[2] === 'add') return header(RTM.newlinkprop, NLM_F_CREATE | NLM_F_APPEND, body);
  if (t[2] === 'del') return header(RTM.dellinkprop, 0, body);
  return null;
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

function addr(t: string[]): Encoded | null {
  // addr add|del CIDR dev X [nodad]
  const nodad = t[5] === 'nodad' && t.length === 6;
  if ((t.length !== 5 && !nodad) || t[3] !== 'dev' || !IFNAME.test(t[4]!)) return null;
  const p = t[2]?.includes('/') ? parsePrefix(t[2]) : null;
  if (!p) return null;
  const msg = Buffer.alloc(8);
  msg.writeUInt8(p.family, 0);
  msg.writeUInt8(p.bits, 1);
  msg.writeUInt8(nodad ? 0x02 /* IFA_F_NODAD */ : 0, 2);
  const body = concat([
    { buf: msg, fixups: [{ offset: 4, kind: 'ifindex', name: t[4]! }] },
    attr(2 /* IFA_LOCAL */, p.addr),
    attr(1 /* IFA_ADDRESS */, p.addr),
  ]);
  if (t[1] === 'add') return header(RTM.newaddr, NLM_F_CREATE | NLM_F_EXCL, body);
  if (t[1] === 'del' && !nodad) return header(RTM.deladdr, 0, body);
  return null;
}

function route(t: string[]): Encoded | null {
  // route add|replace|del DST [via GW] [dev X] [metric M] [onlink] [table T]; no next hops.
  const op = t[1];
  if (op !== 'add' && op !== 'replace' && op !== 'del') return null;
  const dst = t[2] === 'default' ? null : parsePrefix(t[2] ?? '');
  if (t[2] !== 'default' && !dst) return null;
  let via: ReturnType<typeof parsePrefix> = null;
  let dev: string | null = null;
  let metric: number | null = null;
  let onlink = false;
  let table = 254;
  for (let i = 3; i < t.length;) {
    const [k, v] = [t[i], t[i + 1]];
    if (k === 'via' && v) {
      via = parsePrefix(v);
      if (!via) return null;
      i += 2;
    } else if (k === 'dev' && IFNAME.test(v ?? '')) {
      dev = v!;
      i += 2;
    } else if (k === 'metric' && UINT.test(v ?? '')) {
      metric = Number(v);
      i += 2;
    } else if (k === 'table' && UINT.test(v ?? '')) {
      table = Number(v);
      i += 2;
    } else if (k === 'onlink') {
      onlink = true;
      i += 1;
    } else return null;
  }
  const family = dst?.family ?? via?.family ?? 2;
  if ((via && via.family !== family) || (dst && dst.family !== family)) return null;
  // What `ip route` puts in struct rtmsg: see iproute_modify in iproute2.
  const del = op === 'del';
  const scope = del ? 255 : family === 10 || via ? 0 : 253;
  const r = Buffer.alloc(12);
  r.writeUInt8(family, 0);
  r.writeUInt8(dst?.bits ?? 0, 1);
  r.writeUInt8(table < 256 ? table : 0, 4);
  r.writeUInt8(del ? 0 : 3 /* RTPROT_BOOT */, 5);
  r.writeUInt8(scope, 6);
  r.writeUInt8(del ? 0 : 1 /* RTN_UNICAST */, 7);
  r.writeUInt32LE(onlink ? 4 /* RTNH_F_ONLINK */ : 0, 8);
  const parts: Part[] = [{ buf: r, fixups: [] }];
  if (table >= 256) parts.push(attr(15 /* RTA_TABLE */, u32(table)));
  if (dst) parts.push(attr(1 /* RTA_DST */, dst.addr));
  if (via) parts.push(attr(5 /* RTA_GATEWAY */, via.addr));
  if (dev) parts.push(attr(4 /* RTA_OIF */, u32(0), { kind: 'ifindex', name: dev }));
  if (metric !== null) parts.push(attr(6 /* RTA_PRIORITY */, u32(metric)));
  const flags = op === 'add' ? NLM_F_CREATE | NLM_F_EXCL : op === 'replace' ? NLM_F_CREATE | NLM_F_REPLACE : 0;
  return header(del ? RTM.delroute : RTM.newroute, flags, concat(parts));
}

/** The rtnetlink request `ip` sends for this batch line, or null when netlab leaves it to `ip`. */
export function encodeIpLine(line: string): Encoded | null {
  const t = line.trim().split(/\s+/);
  if (t[0] === 'link') {
    if (t[1] === 'add') return linkAdd(t);
    if (t[1] === 'set') return linkSet(t);
    if (t[1] === 'property') return linkProperty(t);
    if (t[1] === 'del' && t[2] === 'dev' && t.length === 4 && IFNAME.test(t[3]!)) return header(RTM.dellink, 0, ifinfo(0, 0, t[3]!));
    return null;
  }
  if (t[0] === 'addr') return addr(t);
  if (t[0] === 'route') return route(t);
  return null;
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
