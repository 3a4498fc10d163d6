// Deterministic names and marks. Every derived identity in netlab comes from here, so the
// lab language, the engine and gc agree on what a lab owns.
import { hash } from 'node:crypto';

/** Linux IFNAMSIZ is 16 including the NUL: 15 usable bytes. */
export const IFNAME_MAX = 15;
/** Altnames may be up to 127 bytes. */
export const ALTNAME_MAX = 127;
/** Lab names prefix namespaces, nft tables and altnames. */
export const LAB_NAME_PATTERN = /^[a-z][a-z0-9-]{0,23}$/;
export const HOST_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
/** What Linux accepts in an interface name, minus what breaks our tooling (':' and '.' are kept). */
export const IFNAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,14}$/;

/**
 * A network sysctl key: `net`, then names separated by single dots, each starting with a letter,
 * digit, "_" or "-" (a "/" inside a name stands for a "." of an interface name). So no path made
 * from a key has an empty, "." or ".." part: `net.//.//.tmp` would otherwise climb out of /proc/sys.
 * The schema's `sysctlKey` pattern is the same expression.
 */
export const SYSCTL_KEY_PATTERN = '^net(\\.[A-Za-z0-9_-][A-Za-z0-9_/-]*)+$';
const SYSCTL_KEY = new RegExp(SYSCTL_KEY_PATTERN);

export function isSysctlKey(key: string): boolean {
  return SYSCTL_KEY.test(key);
}

/** What a sysctl key looks like, for messages. */
export const SYSCTL_KEY_WORDS =
  'a network sysctl in dotted form, e.g. net.ipv4.ip_forward or net.ipv4.conf.eth0/10.rp_filter: "net", then names of letters, digits, "_" or "-" separated by single dots ("/" stands for a "." inside an interface name; only net.* sysctls belong to a namespace)';

/** The key the engine uses for the machine's own namespace. */
export const ROOT_NS = '';

function digest(...parts: string[]): string {
  // The one-shot form: a lab of 100k hosts digests a name for every interface.
  return hash('sha256', parts.join('\0'), 'hex');
}

/** Namespace a lab creates for one of its hosts. */
export function labNetnsName(lab: string, host: string): string {
  return `${lab}-${host}`;
}

/** Kernel name of a lab interface in a shared namespace: `nl` + 8 hex, always <= 15 bytes. */
export function sharedIfname(lab: string, host: string, name: string): string {
  return `nl${digest('if', lab, host, name).slice(0, 8)}`;
}

/** The ownership mark of an interface in a shared namespace. */
export function ownerAltname(lab: string, host: string, name: string): string {
  return `netlab.${lab}.${host}.${name}`;
}

/** Parses an ownership altname back into its parts, or null when it is not netlab's. */
export function parseOwnerAltname(alt: string): { lab: string; host: string; name: string } | null {
  const m = /^netlab\.([a-z][a-z0-9-]*)\.([a-z][a-z0-9-]*)\.(.+)$/.exec(alt);
  return m ? { lab: m[1]!, host: m[2]!, name: m[3]! } : null;
}

/**
 * Candidate name of the bridge-side veth end when a link endpoint names a bridge (Docker's
 * vethXXXXXXX, 11 bytes). Probe 0 is the name earlier versions gave; src/lab/ports.ts picks the
 * probe that makes the name unique in its host.
 */
export function bridgePortName(lab: string, host: string, peerHost: string, peerIf: string, probe = 0): string {
  const parts = probe === 0 ? [] : [String(probe)];
  return `veth${digest('port', lab, host, peerHost, peerIf, ...parts).slice(0, 7)}`;
}

/** Deterministic, locally administered unicast MAC for lab/host/interface. */
export function deterministicMac(lab: string, host: string, name: string): string {
  const h = digest('mac', lab, host, name);
  const bytes = [0, 1, 2, 3, 4, 5].map((i) => parseInt(h.slice(i * 2, i * 2 + 2), 16));
  bytes[0] = (bytes[0]! & 0xfc) | 0x02;
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The lab's nftables table in every namespace where it has policy. */
export function nftTableName(lab: string): string {
  return `netlab_${lab.replace(/-/g, '_')}`;
}

/** The ifalias netlab puts on `lo` of every namespace it creates: how gc tells created from attached. */
export function createdNetnsMark(lab: string): string {
  return `netlab:${lab}`;
}

export function parseCreatedNetnsMark(alias: string | undefined): string | null {
  const m = alias ? /^netlab:([a-z][a-z0-9-]*)$/.exec(alias) : null;
  return m ? m[1]! : null;
}

/** Short content digest used in nft rule comments and plan fingerprints. */
export function shortDigest(text: string, length = 12): string {
  return digest('d', text).slice(0, length);
}
