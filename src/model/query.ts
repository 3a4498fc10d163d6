// What observation reads from one namespace. It lives in the model because each kind says what
// reading its objects back needs (Kind.query); src/observe builds and merges these queries.

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
  /** Read proxy neighbour entries (`ip neigh show proxy`). */
  proxyNeighbours?: boolean;
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
