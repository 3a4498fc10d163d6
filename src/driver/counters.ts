// Packet and byte counters and the up/running flags of every interface in many namespaces, read
// by one helper process (helpers/netdev-reader.pl). The engine's observation skips statistics;
// `netlab ui` needs them to show traffic per link, so they are read beside it, read-only.
import { helperArgs } from './perl-helpers.js';
import { runCollect, setnsSyscall } from './runner.js';
import { NETNS_DIR } from './real.js';
import { ToolError } from '../errors.js';

export interface LinkCounters {
  rxBytes: number;
  rxPackets: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txDropped: number;
  /** IFF_UP: set administratively up. */
  up: boolean;
  /** IFF_RUNNING: the kernel's operational state is up (carrier, for a veth: the peer is up too). */
  running: boolean;
}

/** Counters by namespace and kernel interface name; a namespace that cannot be read is absent. */
export type CounterReading = Map<string, Map<string, LinkCounters>>;

export function parseCounterOutput(text: string): CounterReading {
  const out: CounterReading = new Map();
  let current: Map<string, LinkCounters> | null = null;
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'N') {
      current = new Map();
      out.set(f[1] ?? '', current);
    } else if (f[0] === 'E') current = null;
    else if (f[0] === 'L' && current && f.length === 9) {
      const n = f.slice(2).map(Number);
      const flags = n[6]!;
      current.set(f[1]!, {
        rxBytes: n[0]!,
        rxPackets: n[1]!,
        rxDropped: n[2]!,
        txBytes: n[3]!,
        txPackets: n[4]!,
        txDropped: n[5]!,
        up: flags >= 0 && (flags & 0x1) !== 0,
        running: flags >= 0 && (flags & 0x40) !== 0,
      });
    }
  }
  return out;
}

export async function readLinkCounters(namespaces: string[], netnsDir = NETNS_DIR): Promise<CounterReading> {
  if (!namespaces.length) return new Map();
  // A name with a line break would read as two namespaces: names here come from state records.
  const input = namespaces.filter((ns) => !/[\n\r]/.test(ns)).join('\n') + '\n';
  const r = await runCollect('perl', helperArgs('netdev-reader', [String(setnsSyscall()), netnsDir]), input);
  if (r.exitCode !== 0) throw new ToolError(`counter reader (perl) failed: ${r.stderr || `exit ${r.exitCode}`}`);
  return parseCounterOutput(r.stdout.toString('utf8'));
}
