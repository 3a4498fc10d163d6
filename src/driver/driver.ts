// The driver is the only layer that touches the kernel. The real one runs ip/bridge/nft and
// writes sysctls; the fake one keeps an in-memory kernel and can fail at any chosen command.
import type { Operation } from '../model/operations.js';
import type { Observation, ObserveRequest } from '../observe/query.js';

export type { NsQuery, Observation, ObserveRequest } from '../observe/query.js';

/** What preflight asks the kernel and tools (see src/driver/probe.ts). */
export interface ProbeRequest {
  /** Device kinds and features (`veth`, `ipvlan`, `bridge-vlan-filtering`, `iproute2`, ...). */
  features: string[];
  /** Sysctl keys that must exist in a new namespace. */
  sysctls: string[];
  /** nft scripts that must load in a new namespace. */
  nft: string[];
  /**
   * Namespaces the lab attaches to, which must exist; `notOwn`: and must not be the namespace
   * netlab runs in (the machine's own, for a lab without `root: true`).
   */
  targets: { kind: 'name' | 'path' | 'pid'; value: string; notOwn?: boolean }[];
}

/** One answer: `check` is the feature, `sysctl:KEY`, `nft:INDEX` or `target:KIND:VALUE`. */
export interface ProbeResult {
  check: string;
  ok: boolean;
  /** The command (or its short form) that answered. */
  command: string;
  /** The kernel's or tool's message when not ok. */
  message: string;
  /** A target refused for being the namespace netlab runs in (see ProbeRequest.targets' notOwn). */
  own?: boolean;
}

/** What else in a namespace acts on the packets the lab's nft policy handles. */
export interface PolicyEnvironment {
  /** Rules in iptables-legacy tables. */
  legacyRules: number;
  /** Every nft table, as `family name`. */
  nftTables: string[];
  /** net.bridge.bridge-nf-call-iptables, or null when br_netfilter is not loaded. */
  bridgeNfCallIptables: string | null;
}

export interface Driver {
  /** Reads what else acts on packets in a namespace (absent in drivers that cannot tell). */
  policyEnvironment?(ns: string): Promise<PolicyEnvironment>;
  observe(req: ObserveRequest): Promise<Observation>;
  /** Tries what a lab needs in a throwaway namespace; drivers without it skip preflight. */
  probe?(req: ProbeRequest): Promise<ProbeResult[]>;
  /** Names in /run/netns. */
  listNetns(): Promise<string[]>;
  /**
   * Runs one round's commands (see src/apply/schedule.ts); commands of different namespaces may
   * run concurrently, those of one namespace and tool run in order, as one batch. Throws a
   * KernelError whose `line` is the index in `commands` of the command that failed.
   */
  execute(commands: Operation[]): Promise<void>;
  /** Calls `listener` with the pid of every child process started from now on (null stops). */
  setSpawnListener?(listener: ((pid: number) => void) | null): void;
  /** Which labs mark a namespace: the lab that created it (lo's alias) and labs with altnames in it. */
  labMarks(ns: string): Promise<{ created: string | null; altnameLabs: string[] }>;
  /** Pids of processes inside a namespace (for destroy's report); with `lab`, not those of the lab's own processes. */
  netnsPids(ns: string, lab?: string): Promise<number[]>;
  /**
   * Ends the lab's processes that no process entry confirms (an interrupted start's, found by the
   * token of its intent, and token carriers of the lab in `namespaces`); returns the pids signalled.
   * Drivers without processes lack it.
   */
  reapProcesses?(lab: string, namespaces: string[]): Promise<number[]>;
}
