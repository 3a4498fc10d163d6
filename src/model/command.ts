// What a plan step asks the driver to do. Commands are data: the real driver turns them into
// `ip -batch`, `bridge -batch`, `nft -f` and sysctl writes; the fake driver applies `effect`
// to its in-memory kernel. Both see exactly the same plan.
import type { Obj, ProcessObj } from './objects.js';

export type Command =
  /** One line of `ip [-n NS] -batch -`. */
  | { tool: 'ip'; ns: string; line: string; phase: number; effect: Effect }
  /** One line of `bridge [-n NS] -batch -`. */
  | { tool: 'bridge'; ns: string; line: string; phase: number; effect: Effect }
  /** One line of `tc [-n NS] -batch -`. */
  | { tool: 'tc'; ns: string; line: string; phase: number; effect: Effect }
  /** Write a sysctl in a namespace. */
  | { tool: 'sysctl'; ns: string; key: string; value: string; phase: number; effect: Effect }
  /** One `nft -f` transaction in a namespace. */
  | { tool: 'nft'; ns: string; script: string; phase: number; effect: Effect }
  /** Mount (or unmount) a /run/netns handle for an attached namespace. */
  | { tool: 'handle'; ns: string; action: 'mount' | 'unmount'; source: string; phase: number; effect: Effect }
  /**
   * A process of the lab in a namespace (src/driver/processes.ts): `start` (detached, recorded),
   * `stop` (SIGTERM, then SIGKILL; only what the record says netlab started), `exec` (run once,
   * wait, exit 0 or fail), `record` (mark an exec done without running it: rollback) or `forget`.
   */
  | { tool: 'proc'; ns: string; action: ProcAction; proc: ProcessObj; phase: number; effect: Effect };

export type ProcAction = 'start' | 'stop' | 'exec' | 'record' | 'forget';

/** What a command does to the object model, applied by the fake driver. */
export interface Effect {
  set?: Obj[];
  remove?: string[];
  /** Remove every object in this namespace (deleting a namespace takes its contents with it). */
  removeNamespace?: string;
}

/** Phases: creation runs low to high; deletion runs high to low, before any creation. */
export const PHASE = {
  netns: 0,
  sysctl: 1,
  /** Links are created at linkBase + depth (a VLAN on a VLAN is one deeper than its parent). */
  linkBase: 2,
  linkSet: 10,
  portvlan: 11,
  addr: 12,
  route: 13,
  fdb: 14,
  nft: 15,
  /** Link conditions (tc qdiscs): after the links they sit on exist. */
  qdisc: 16,
  /** One-shot `exec` commands: after addresses, routes and nft, everywhere (a barrier, see schedule.ts). */
  exec: 17,
  /** `run` processes: last, once the whole network is up; stopped first on the way down. */
  process: 18,
} as const;

export function commandText(c: Command): string {
  const at = c.ns === '' ? '' : `-n ${c.ns} `;
  switch (c.tool) {
    case 'ip':
      return `ip ${at}${c.line}`;
    case 'bridge':
      return `bridge ${at}${c.line}`;
    case 'tc':
      return `tc ${at}${c.line}`;
    case 'sysctl':
      return `sysctl${c.ns ? ` (netns ${c.ns})` : ''} ${c.key}=${c.value}`;
    case 'nft':
      return `nft -f - (netns ${c.ns || '(root)'}): ${c.script.split('\n').length} lines`;
    case 'handle':
      return c.action === 'mount' ? `mount --bind ${c.source} /run/netns/${c.ns}` : `umount /run/netns/${c.ns}`;
    case 'proc': {
      const where = c.ns === '' ? '' : `ip netns exec ${c.ns} `;
      if (c.action === 'start') return `start ${c.proc.host}/${c.proc.name}: ${where}sh -c ${JSON.stringify(c.proc.command)} (detached)`;
      if (c.action === 'exec') return `exec ${c.proc.host}/${c.proc.name}: ${where}sh -c ${JSON.stringify(c.proc.command)}`;
      if (c.action === 'stop') return `stop ${c.proc.host}/${c.proc.name} (SIGTERM, then SIGKILL)`;
      return `${c.action} ${c.proc.host}/${c.proc.name} in the process record`;
    }
  }
}
