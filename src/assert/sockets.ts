// Which host accepted a TCP connection, told by the kernel rather than by the answer: used when a
// real service (not a netlab responder) listens on a DNAT target's port.
//
// Conntrack would name the backend the DNAT chose, but its table lives in the translating host,
// can be read only through netlink or the optional /proc/net/nf_conntrack
// (CONFIG_NF_CONNTRACK_PROCFS), and a backend without nft rules has none. Every kernel instead
// lists each TCP socket of a namespace in /proc/PID/net/tcp and tcp6, for any PID in it, including
// half-open (SYN_RECV) and TIME_WAIT ones: while the client keeps its end open, the accepting
// namespace holds a socket whose local port is the target port and whose remote port is the
// client's source port (NAT keeps a source port unless two connections would clash).
import { readFile } from 'node:fs/promises';

export interface SocketPorts {
  local: number;
  remote: number;
  /** Kernel state in hex, as the file writes it (0A listen, 01 established, 03 syn-recv, 06 time-wait). */
  state: string;
  /** The socket's inode: /proc/PID/fd/N of its owner links to socket:[INODE]. */
  inode: string;
}

export const LISTEN = '0A';

/** The ports of every socket in the text of /proc/net/tcp or /proc/net/tcp6 (the header skipped). */
export function socketPorts(text: string): SocketPorts[] {
  const out: SocketPorts[] = [];
  for (const line of text.split('\n')) {
    // "  1: 0100007F:1F90 0200007F:B9CA 01 ... uid timeout inode": addresses are in host byte
    // order, ports are not.
    const f = line.trim().split(/\s+/);
    const local = /^[0-9A-Fa-f]+:([0-9A-Fa-f]{4})$/.exec(f[1] ?? '');
    const remote = /^[0-9A-Fa-f]+:([0-9A-Fa-f]{4})$/.exec(f[2] ?? '');
    if (!/^\d+:$/.test(f[0] ?? '') || !local || !remote || !/^[0-9A-Fa-f]{2}$/.test(f[3] ?? '')) continue;
    out.push({ local: parseInt(local[1]!, 16), remote: parseInt(remote[1]!, 16), state: f[3]!.toUpperCase(), inode: f[9] ?? '' });
  }
  return out;
}

/** Every socket of the namespace process `pid` is in ([] for a gone process). */
export async function namespaceSockets(pid: number): Promise<SocketPorts[]> {
  const out: SocketPorts[] = [];
  for (const file of ['tcp', 'tcp6']) {
    // tcp6 is absent on a kernel without IPv6; a gone process holds nothing.
    const text = await readFile(`/proc/${pid}/net/${file}`, 'utf8').catch(() => '');
    out.push(...socketPorts(text));
  }
  return out;
}

/** Whether the namespace of process `pid` holds a TCP connection on local port `port` from remote port `from`. */
export async function holdsConnection(pid: number, port: number, from: number): Promise<boolean> {
  return (await namespaceSockets(pid)).some((s) => s.state !== LISTEN && s.local === port && s.remote === from);
}
