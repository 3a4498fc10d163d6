// Address parsing for the lab language. Stricter than ipaddr.js's own `parse`: IPv4 must be
// four decimal parts (no `10.1`, no octal `010.0.0.1`) and IPv6 may not carry a zone, because
// these strings end up on `ip` and `nft` command lines.
import ipaddr from 'ipaddr.js';
import { HOST_NAME_PATTERN } from './names.js';

export type IP = ipaddr.IPv4 | ipaddr.IPv6;
export type Family = 4 | 6;

export interface Cidr {
  ip: IP;
  prefix: number;
  family: Family;
}

export function familyOf(ip: IP): Family {
  return ip.kind() === 'ipv4' ? 4 : 6;
}

/** Four decimal parts without leading zeros: what ipaddr.js's isValidFourPartDecimal accepts, without its generic parser. */
const FOUR_PART = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/** Parses an IPv4 or IPv6 address, or returns null. */
export function parseIp(text: string): IP | null {
  const v4 = FOUR_PART.exec(text);
  if (v4) {
    const parts = [Number(v4[1]), Number(v4[2]), Number(v4[3]), Number(v4[4])];
    return parts.every((p) => p <= 255) ? new ipaddr.IPv4(parts) : null;
  }
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  return null;
}

/**
 * Parses `ADDRESS/PREFIX`, or returns null. Not cached: a cache holding each address of a
 * 100k-host lab lived long enough to be promoted to the old generation, and so cost more memory
 * than the parsing it saved; results used once die young.
 */
export function parseCidr(text: string): Cidr | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) return null;
  const ip = parseIp(m[1]!);
  const prefix = Number(m[2]);
  if (!ip) return null;
  const family = familyOf(ip);
  if (prefix > (family === 4 ? 32 : 128)) return null;
  return { ip, prefix, family };
}

/** Canonical text of an address (`FD00:0::1` -> `fd00::1`). */
export function ipText(ip: IP): string {
  return ip.toString();
}

/** `ADDRESS/PREFIX` with the address canonical and the host part kept (an interface address). */
export function cidrText(c: Cidr): string {
  return `${ipText(c.ip)}/${c.prefix}`;
}

/** The network of a CIDR: host bits cleared (`10.1.2.3/24` -> `10.1.2.0/24`). */
export function networkOf(c: Cidr): Cidr {
  const bytes = c.ip.toByteArray();
  for (let bit = c.prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { ip: ipaddr.fromByteArray(bytes), prefix: c.prefix, family: c.family };
}

/** An address as a number (a bigint for IPv6): ordered and masked without making objects. */
export function ipNumber(ip: IP): number | bigint {
  if (ip.kind() === 'ipv4') {
    const [a, b, c, d] = (ip as ipaddr.IPv4).octets as [number, number, number, number];
    return a * 0x1000000 + ((b << 16) | (c << 8) | d);
  }
  return (ip as ipaddr.IPv6).parts.reduce((acc, part) => (acc << 16n) | BigInt(part), 0n);
}

/** The first and last address of a CIDR's subnet, as ipNumber gives them. */
export function blockOf(c: Cidr): { start: number | bigint; end: number | bigint } {
  const n = ipNumber(c.ip);
  const hostBits = familyBits(c.family) - c.prefix;
  if (typeof n === 'number') {
    const size = 2 ** hostBits;
    const start = n - (n % size);
    return { start, end: start + size - 1 };
  }
  const size = 1n << BigInt(hostBits);
  const start = n - (n % size);
  return { start, end: start + size - 1n };
}

export function networkText(c: Cidr): string {
  return cidrText(networkOf(c));
}

/** Bits of an address family. */
export function familyBits(family: Family): number {
  return family === 4 ? 32 : 128;
}

/**
 * True when a CIDR's host bits are all zero on a subnet that has a network address: /31 and /32
 * (IPv6 /127, /128) have none (RFC 3021, RFC 6164), so every address there is a host's.
 */
export function isNetworkAddress(c: Cidr): boolean {
  return c.prefix < familyBits(c.family) - 1 && blockOf(c).start === ipNumber(c.ip);
}

/** The first host address of a CIDR's subnet (`172.17.0.0/16` -> `172.17.0.1/16`). */
export function firstHostOf(c: Cidr): Cidr {
  const bytes = networkOf(c).ip.toByteArray();
  bytes[bytes.length - 1]! |= 1;
  return { ip: ipaddr.fromByteArray(bytes), prefix: c.prefix, family: c.family };
}

/** A single address as a host CIDR (/32 or /128). */
export function hostCidr(ip: IP): Cidr {
  const family = familyOf(ip);
  return { ip, prefix: family === 4 ? 32 : 128, family };
}

/** True when `ip` lies in `net`. */
export function contains(net: Cidr, ip: IP): boolean {
  return familyOf(ip) === net.family && ip.match(net.ip, net.prefix);
}

/** True when the two prefixes share at least one address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const shorter = Math.min(a.prefix, b.prefix);
  return a.ip.match(b.ip, shorter);
}

export function sameIp(a: IP, b: IP): boolean {
  return familyOf(a) === familyOf(b) && ipText(a) === ipText(b);
}

export function isMulticast(ip: IP): boolean {
  return ip.range() === 'multicast';
}

/** IPv6 link-local (fe80::/10): a gateway there is reachable through any link, given `dev`. */
export function isLinkLocal(ip: IP): boolean {
  return ip.range() === 'linkLocal';
}

/** `80` or `5000-5010`. */
export function parsePortRange(value: number | string): { from: number; to: number } | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 1 && value <= 65535 ? { from: value, to: value } : null;
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(value);
  if (!m) return null;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  return from >= 1 && to <= 65535 && from <= to ? { from, to } : null;
}

export type Endpoint = { kind: 'host'; host: string; port: number } | { kind: 'ip'; ip: IP; port: number };

/** `HOST:PORT`, `IPV4:PORT` or `[IPV6]:PORT`. */
export function parseEndpoint(text: string): Endpoint | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  if (m[1] !== undefined) {
    const ip = parseIp(m[1]);
    return ip && familyOf(ip) === 6 ? { kind: 'ip', ip, port } : null;
  }
  const target = m[2]!;
  const ip = parseIp(target);
  if (ip) return { kind: 'ip', ip, port };
  return HOST_NAME_PATTERN.test(target) ? { kind: 'host', host: target, port } : null;
}

export type Match = { kind: 'host'; host: string } | { kind: 'cidr'; cidr: Cidr };

/** A firewall `from`/`to` item: a host name, a CIDR or a single address. */
export function parseMatch(text: string): Match | null {
  const cidr = parseCidr(text);
  if (cidr) return { kind: 'cidr', cidr };
  const ip = parseIp(text);
  if (ip) return { kind: 'cidr', cidr: hostCidr(ip) };
  return HOST_NAME_PATTERN.test(text) ? { kind: 'host', host: text } : null;
}

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;

/** A unicast, non-zero MAC address (a multicast bit or all zeros cannot be an interface's own MAC). */
export function isUnicastMac(text: string): boolean {
  if (!MAC.test(text)) return false;
  const first = parseInt(text.slice(0, 2), 16);
  return (first & 1) === 0 && !/^(00:){5}00$/.test(text);
}
