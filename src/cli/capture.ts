// `netlab capture LAB HOST:IF [-w FILE.pcap] [-c COUNT] [-- FILTER...]`: tcpdump inside the
// host's namespace, on the interface's kernel name. To a file; as a pcap stream on stdout when
// stdout is not a terminal (`netlab capture lab web:eth0 | wireshark -k -i -`); as summary lines
// on a terminal. SIGINT/SIGTERM end it cleanly (tcpdump writes out what it has) and the number
// of packets captured is reported on stderr.
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { KernelError, PreflightError, UsageError } from '../errors.js';
import { coordinates } from './across-detect.js';
import { endpointLabel, labNameOf, resolveEndpoint, type Endpoint } from './endpoint.js';
import { out } from './output.js';

const executable = (p: string) =>
  access(p, constants.X_OK).then(
    () => true,
    () => false,
  );

/**
 * Where tcpdump is: $NETLAB_TCPDUMP when set, else the first in PATH and the sbin directories
 * (a user's PATH may lack them).
 */
export async function findTcpdump(path = process.env.PATH ?? ''): Promise<string | null> {
  const explicit = process.env.NETLAB_TCPDUMP;
  if (explicit) return (await executable(explicit)) ? explicit : null;
  for (const d of [...path.split(delimiter).filter(Boolean), '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (await executable(join(d, 'tcpdump'))) return join(d, 'tcpdump');
  }
  return null;
}

/** Waits this long before passing a signal on: from a terminal tcpdump has it already. */
const FORWARD_DELAY_MS = 300;

/** tcpdump's path, or a clear error saying how to install it. */
export async function requireTcpdump(): Promise<string> {
  const tcpdump = await findTcpdump();
  if (tcpdump) return tcpdump;
  const err = new PreflightError([
    { feature: 'tcpdump', detail: 'is not installed (netlab capture runs it inside the namespace)', fix: 'apt-get install tcpdump' },
  ]);
  err.hints.push('nothing was captured');
  throw err;
}

/** tcpdump's command line for an interface of a lab: in its namespace, packets as they come. */
export function tcpdumpCommand(
  tcpdump: string,
  ep: Pick<Endpoint, 'ns' | 'ifname'>,
  o: { count: number | null; write: string | null; filter: string[] },
): { cmd: string; args: string[]; argv: string[] } {
  const argv = [
    '-i',
    ep.ifname,
    '-n',
    // Each packet as it comes (not in 1 s blocks): a live stream, and nothing left behind at Ctrl-C.
    '--immediate-mode',
    // As root tcpdump would drop to its own user and then fail to write FILE in root's directories.
    ...(process.getuid?.() === 0 ? ['-Z', 'root'] : []),
    ...(o.count !== null ? ['-c', String(o.count)] : []),
    ...(o.write !== null ? ['-w', o.write, '-U'] : ['-l']),
    ...o.filter,
  ];
  const [cmd, args] = ep.ns === '' ? [tcpdump, argv] : ['ip', ['netns', 'exec', ep.ns, tcpdump, ...argv]];
  return { cmd, args, argv };
}

export interface CaptureOptions {
  write?: string;
  count?: string;
  /** Summary lines even when stdout is not a terminal: the coordinator's is, over ssh. */
  summary?: boolean;
}

export async function capture(labArg: string, endpointArg: string, filter: string[], o: CaptureOptions): Promise<number | void> {
  const lab = await labNameOf(labArg);
  const across = (await coordinates(lab)) ? await (await import('./across-view.js')).captureAcross(lab, endpointArg, filter, o) : null;
  if (across !== null) return across;
  return captureHere(lab, endpointArg, filter, o);
}

/** A capture on an interface of a lab on this machine. */
export async function captureHere(lab: string, endpointArg: string, filter: string[], o: CaptureOptions): Promise<void> {
  let count: number | null = null;
  if (o.count !== undefined) {
    if (!/^\d+$/.test(o.count) || Number(o.count) < 1) throw new UsageError(`--count must be a number of packets (got "${o.count}")`);
    count = Number(o.count);
  }
  const tcpdump = await requireTcpdump();
  const ep = await resolveEndpoint(lab, endpointArg);
  // Not a terminal: a pcap stream for the program reading it (wireshark -k -i -, tshark -r -).
  const write = o.write ?? (o.summary || process.stdout.isTTY ? null : '-');
  const { cmd, args, argv } = tcpdumpCommand(tcpdump, ep, { count, write, filter });
  const label = endpointLabel(ep);
  out.info(`capturing on ${lab} ${label}${write === '-' ? ' (pcap on stdout)' : write ? ` to ${write}` : ''}; Ctrl-C ends it`);

  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
    // tcpdump's own lines (listening on ..., its counts) go through as they come.
    if (!out.quiet) process.stderr.write(chunk);
  });
  const forward = (signal: NodeJS.Signals) => () => {
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill(signal);
    }, FORWARD_DELAY_MS).unref();
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt).on('SIGTERM', onTerm);
  const status = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  process.off('SIGINT', onInt).off('SIGTERM', onTerm);

  const captured = /(\d+) packets? captured/.exec(stderr)?.[1];
  // SIGPIPE: whatever read the stream (wireshark, head) went away; the capture simply ended.
  if (status.code === 0 || status.signal === 'SIGPIPE') {
    const where = write && write !== '-' ? ` to ${write}` : '';
    out.info(`${lab}: ${captured !== undefined ? `${captured} packets captured` : 'capture ended'} on ${label}${where}`);
    return;
  }
  throw new KernelError({
    ns: ep.ns,
    command: `tcpdump ${argv.join(' ')}`,
    stderr: status.error?.message ?? (stderr.trim().split('\n').slice(-3).join('\n') || `exit ${status.code ?? status.signal}`),
  });
}
