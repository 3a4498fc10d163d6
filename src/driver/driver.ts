// The driver is the only layer that touches the kernel. The real one runs ip/bridge/nft and
// writes sysctls; the fake one keeps an in-memory kernel and can fail at any chosen command.
import type { Operation } from '../model/operations.js';
import type { State } from '../model/objects.js';

/** What to read from one namespace. */
export interface NsQuery {
  /** Namespace key ('' = the machine's own). */
  ns: string;
  /**
   * `created`: the lab created it, everything in it is the lab's (it must carry the lab's mark);
   * `handle`: an attached namespace reached through a handle netlab mounted;
   * `shared`: root or a named namespace the lab attaches to: only links carrying the lab's altname are its.
   */
  mode: 'created' | 'handle' | 'shared';
  /**
   * Treat an unmarked namespace of this name as the lab's: only for rollback of a run whose plan
   * created it (it did not exist at the checkpoint, and a crash may have come before the mark).
   */
  adopt?: boolean;
  /**
   * With `adopt`: the links the run could have made there (from its journal). A namespace
   * holding any other is someone else's, made since the crash: never adopted. Absent in journals
   * of older netlab versions: then lo's missing mark alone decides.
   */
  adoptLinks?: string[];
  sysctls: string[];
  /**
   * For a handle: the namespace it should point at. The observed handle carries this target when
   * it points at that namespace (same nsfs inode), and none otherwise (so it is mounted anew).
   */
  target?: { pid: number } | { path: string } | null;
  nftTables: { family: string; table: string }[];
  ipv6Routes: boolean;
  bridgeVlans: boolean;
  /** Read link conditions (`tc qdisc show`); absent in records written before they existed. */
  qdiscs?: boolean;
  /** Read permanent neighbour entries (`ip neigh show nud permanent`). */
  neighbours?: boolean;
  /**
   * Read policy routing rules (`ip rule show`, and `ip -6 rule show` with ipv6Routes): in a
   * created namespace every rule but the kernel's own; in a shared one only these rule ids.
   */
  rules?: string[];
  /** Read the fdb (`bridge fdb show`) even without a VXLAN: static entries on bridge ports. */
  fdb?: boolean;
  /**
   * Namespaces this one's links are expected to point into ('' = the machine's own): veth peers,
   * parents elsewhere. The reader asks their nsids in the same pass as the dump, so naming the
   * nsids links carry needs no second process; a hint that is wrong or missing only brings that
   * process back, never a wrong name (absent in records written before hints existed).
   */
  peers?: string[];
}

export interface ObserveRequest {
  lab: string;
  namespaces: NsQuery[];
}

export interface Observation {
  state: State;
  /** Link ids that exist in observed shared namespaces but are not the lab's. */
  foreignLinks: Set<string>;
  /** Namespaces expected to be the lab's that exist without its mark. */
  foreignNetns: Set<string>;
}

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
