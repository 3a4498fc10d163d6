// The normalised lab model: what every layer after src/lab consumes.
// Defaults are filled in, references are resolved and kernel names are decided here,
// so nothing downstream reads raw YAML or re-derives a name.
import type { RawPolicyEntry } from './raw.js';

/** Where a host's network namespace comes from. */
export type NetnsRef =
  /** Created and owned by the lab: /run/netns/<lab>-<host>. */
  | { kind: 'lab'; name: string }
  /** An existing named namespace (/run/netns/NAME) that the lab attaches to. */
  | { kind: 'named'; name: string }
  /** An existing namespace by path (e.g. /proc/PID/ns/net); netlab mounts a handle named `handle`. */
  | { kind: 'path'; path: string; handle: string }
  /** A running process's namespace (nsenter -t PID -n); netlab mounts a handle named `handle`. */
  | { kind: 'pid'; pid: number; handle: string }
  /** The machine's own namespace; only with `root: true` at the lab's top level. */
  | { kind: 'root' };

/** Position of a key in its YAML file, for error messages after normalisation. */
export interface SourcePos {
  file: string;
  line: number;
  col: number;
  /** JSON-pointer-like path, e.g. `hosts.web.interfaces.eth0`. */
  path: string;
}

export type InterfaceKind = 'veth' | 'bridge' | 'vlan' | 'macvlan' | 'ipvlan' | 'macvtap' | 'tap' | 'vxlan';

export interface BridgePortVlans {
  /** Untagged VLAN for ingress (PVID); egress untagged for it. */
  pvid?: number;
  /** VLANs carried tagged on this port. */
  tagged: number[];
}

interface InterfaceBase {
  /** Host (lab-level name) that holds this interface. */
  host: string;
  /** The name the user wrote (`eth0`). */
  name: string;
  /** The kernel name: equal to `name` in lab-created namespaces, `nl` + 8 hex in shared ones. */
  ifname: string;
  /** `netlab.<lab>.<host>.<name>`: set as altname in shared namespaces (the ownership mark). */
  altname: string | null;
  mtu: number;
  /** Deterministic locally administered MAC unless the user gave one. */
  mac: string;
  /** CIDRs, normalised (`10.0.0.1/24`, `fd00::1/64`). */
  addresses: string[];
  /** Kernel name of the bridge this interface is a port of, in the same host. */
  master: string | null;
  /** Per-port VLANs when the master bridge has vlan_filtering. */
  vlans: BridgePortVlans | null;
  up: boolean;
  /** Conditions on what this interface sends (tc): its own `conditions` over its link's, or null. */
  conditions: LinkConditions | null;
  /** Static neighbour entries (absent = none). */
  neighbours?: Neighbour[];
  /** Proxy neighbour entries: addresses, normalised, answered for on this interface (absent = none). */
  proxyNeigh?: string[];
  /** Static forwarding entries (absent = none); a VXLAN's `remotes` are not repeated here. */
  fdb?: FdbEntry[];
  /** Per-interface sysctls, full dotted keys (`net.ipv4.conf.eth0.rp_filter`) -> value (absent = none). */
  sysctls?: Record<string, string>;
  pos: SourcePos;
}

export interface Neighbour {
  address: string;
  mac: string;
}

export interface FdbEntry {
  mac: string;
  /** Remote VTEP (VXLAN entries), or null for a bridge port's static entry. */
  dst: string | null;
  vlan: number | null;
}

/**
 * Link conditions of one interface's egress: a token bucket (rate) and/or netem (delay, loss, ...).
 * Values in plain units; null = not asked for (0 is written as null).
 */
export interface LinkConditions {
  /** Bits per second. */
  rate: number | null;
  /** Bytes the token bucket may send at once; null = derived from the rate. Only with `rate`. */
  burst: number | null;
  /** Microseconds. */
  delay: number | null;
  /** Microseconds; only with `delay`. */
  jitter: number | null;
  /** Percentages, 0..100. */
  loss: number | null;
  duplicate: number | null;
  /** Only with `delay`. */
  reorder: number | null;
  corrupt: number | null;
  /** Queue length in packets. */
  limit: number | null;
  /** Where they were written: the interface's `conditions`, else the link's. */
  pos: SourcePos;
}

export interface VethInterface extends InterfaceBase {
  kind: 'veth';
  peer: { host: string; ifname: string };
}
export interface BridgeInterface extends InterfaceBase {
  kind: 'bridge';
  stp: boolean;
  /** Seconds. */
  ageing: number;
  vlanFiltering: boolean;
}
export interface VlanInterface extends InterfaceBase {
  kind: 'vlan';
  /** Parent in the same host or another host; the device is created in the parent's namespace then moved. */
  parent: { host: string; ifname: string };
  id: number;
  protocol: '802.1Q' | '802.1ad';
}
export interface MacvlanInterface extends InterfaceBase {
  kind: 'macvlan' | 'macvtap';
  parent: { host: string; ifname: string };
  mode: 'bridge' | 'private' | 'vepa' | 'passthru';
}
export interface IpvlanInterface extends InterfaceBase {
  kind: 'ipvlan';
  parent: { host: string; ifname: string };
  mode: 'l2' | 'l3' | 'l3s';
  flag: 'bridge' | 'private' | 'vepa';
}
export interface TapInterface extends InterfaceBase {
  kind: 'tap';
  /** uid owning the persistent tap, or null. */
  user: number | null;
  group: number | null;
}
export interface VxlanInterface extends InterfaceBase {
  kind: 'vxlan';
  vni: number;
  port: number;
  local: string | null;
  /** Multicast group (with `dev`), or null when unicast. */
  group: string | null;
  /** Underlay device kernel name in the same host, or null. */
  dev: string | null;
  /** Unicast remote VTEPs: become `bridge fdb append 00:00:00:00:00:00 dst IP` entries. */
  remotes: string[];
  learning: boolean;
}

export type Interface =
  VethInterface | BridgeInterface | VlanInterface | MacvlanInterface | IpvlanInterface | TapInterface | VxlanInterface;

export interface Route {
  /** `default` or a CIDR; normalised (`0.0.0.0/0` is written `default`). */
  to: string;
  family: 4 | 6;
  via: string | null;
  /** Kernel name of the output device, or null. */
  dev: string | null;
  metric: number | null;
  onlink: boolean;
  /** Routing table number; 254 (main) by default. */
  table: number;
  /** ECMP next hops (absent for a single-path route, whose via/dev are above). */
  nexthops?: Nexthop[];
  pos: SourcePos;
}

export interface Nexthop {
  via: string;
  /** Kernel name of the device, or null (the kernel picks the one whose subnet holds via). */
  dev: string | null;
  weight: number;
  onlink: boolean;
}

/** A policy routing rule (`ip rule`). */
export interface RoutingRule {
  priority: number;
  family: 4 | 6;
  /** Source/destination prefixes (network form), or null = all. */
  from: string | null;
  to: string | null;
  /** Kernel names of the input/output interfaces, or null. */
  iif: string | null;
  oif: string | null;
  /** `0x10` or `0x10/0xff`, or null. */
  fwmark: string | null;
  table: number;
  pos: SourcePos;
}

/** A process netlab runs in a host: `run` keeps it running, `exec` runs it once. */
export interface HostProcess {
  name: string;
  mode: 'run' | 'exec';
  /** Run by `sh -c` inside the host's namespace. */
  command: string;
  /** exec only: seconds before it is killed and the apply fails. */
  timeout: number | null;
  /** Position among the host's `exec` (or `run`) entries: the order they run in. */
  seq: number;
  pos: SourcePos;
}

export type Proto = 'tcp' | 'udp';

/** A port or an inclusive range. */
export interface PortRange {
  from: number;
  to: number;
}

export interface SnatRule {
  /** Source subnet (CIDR). */
  from: string;
  /** Kernel name of the outbound interface, or null for any. */
  out: string | null;
  /** null: masquerade; otherwise SNAT to this address. */
  to: string | null;
  pos: SourcePos;
}

export interface DnatRule {
  proto: Proto;
  /** Published port(s) on this host. */
  port: PortRange;
  /** Destination address (resolved from `host:port` form) and first port. */
  toAddress: string;
  toPort: number;
  /** Kernel name of the inbound interface, or null for any. */
  in: string | null;
  /** Published on this address only, or null for any local address. */
  address: string | null;
  pos: SourcePos;
}

export interface Service {
  name: string;
  vip: string;
  proto: Proto;
  port: number;
  backends: { address: string; port: number }[];
  mode: 'round-robin' | 'random';
  /** A NodePort: the service also answers on this port of every local address of the host. */
  nodePort?: number;
  /** kube-proxy's externalTrafficPolicy for the NodePort; absent = Cluster. */
  externalTrafficPolicy?: 'Cluster' | 'Local';
  pos: SourcePos;
}

export interface FilterRule {
  action: 'allow' | 'deny';
  /** Source CIDRs (a host reference is resolved to its addresses); empty = any. */
  from: string[];
  to: string[];
  proto: Proto | 'icmp' | null;
  port: PortRange | null;
  pos: SourcePos;
}

export interface Policy {
  snat: SnatRule[];
  dnat: DnatRule[];
  services: Service[];
  /** false: published ports behave as Docker's `--userland-proxy=false`; absent = true, Docker's default. */
  userlandProxy?: boolean;
  /** Default verdict for traffic to and through this host. */
  defaultAction: 'allow' | 'deny';
  rules: FilterRule[];
  /** Kernel names of bridges that forwarded traffic from other interfaces enters only by a published port (Docker's DOCKER chain); absent = none. */
  isolate?: string[];
}

export interface Host {
  name: string;
  netns: NetnsRef;
  /** Key used for this namespace throughout the engine (see nsKey). */
  ns: string;
  ipv6: boolean;
  /** Namespace-wide sysctls, key in dotted form (`net.ipv4.ip_forward`) -> value as written to /proc. */
  sysctls: Record<string, string>;
  interfaces: Interface[];
  routes: Route[];
  policy: Policy | null;
  /** Policy routing rules (absent = none). */
  rules?: RoutingRule[];
  /** Processes to run and one-shot commands (absent = none). */
  processes?: HostProcess[];
  /** The NetworkPolicies that select this host as a pod (absent = none selects it). */
  podPolicy?: PodPolicy;
  /** Egress of pods, checked here after this host's service DNAT (absent = no service or no egress policy). */
  serviceEgress?: ServiceEgress[];
  /** The machine it runs on, in a lab across machines (absent otherwise). */
  machine?: string;
  pos: SourcePos;
}

/**
 * What the NetworkPolicies selecting one pod allow, as Kubernetes defines it: a direction is
 * isolated (null = not) when some selecting policy has it in policyTypes; then only what some
 * rule allows passes (replies and the pod's own traffic to itself always do).
 */
export interface PodPolicy {
  ingress: PodRule[] | null;
  egress: PodRule[] | null;
}

/** Peers (sources for ingress, destinations for egress) times ports: each pair allowed. */
export interface PodRule {
  /** null = any address. Pods become one host-sized block per address. */
  peers: PeerBlock[] | null;
  /** null = every protocol and port. */
  ports: PodPort[] | null;
  /** The policy the rule comes from, `namespace/name`, for comments and messages. */
  policy: string;
}

/** One egress-isolated pod's egress rules, applied by a host with services to the DNATed packet. */
export interface ServiceEgress {
  /** The pod's addresses, host-sized. */
  sources: string[];
  rules: PodRule[];
}

export interface PeerBlock {
  /** Network form CIDR. */
  cidr: string;
  except: string[];
}

export interface PodPort {
  proto: 'tcp' | 'udp' | 'sctp';
  /** null = every port of the protocol. */
  port: PortRange | null;
}

/** A machine of a lab that spans several (`machines:`). */
export interface Machine {
  name: string;
  /** How to reach it; null for `local`, the machine netlab runs on. */
  ssh: SshTarget | null;
  /** Its address for VXLAN tunnels, or null: learnt from the route towards the others at plan time. */
  underlay: string | null;
  pos: SourcePos;
}

/** An SSH destination that passed the conservative grammar of src/lab/machines.ts. */
export interface SshTarget {
  user: string | null;
  host: string;
  port: number | null;
  identity: string | null;
}

export interface Lab {
  name: string;
  file: string;
  owner: string | null;
  allowRoot: boolean;
  hosts: Host[];
  /** Reachability assertions (`expect:`), run by `netlab test`; empty when the lab has none. */
  expect: Expectation[];
  /** Truth-table assertions (`expect: - matrix:`), absent when the lab has none. */
  matrices?: MatrixExpectation[];
  /** Files besides the lab file it was read from (NetworkPolicy manifests), absent = none. */
  inputs?: { file: string; sha256: string }[];
  /** Position of the lab's `name` key, for issues found across labs (optional: labs built in code have none). */
  pos?: SourcePos;
  /** The machines of a lab across machines (absent: this machine only); every host then has `machine`. */
  machines?: Machine[];
  /**
   * A lab across machines only: its NetworkPolicies as written inline (manifests read), which
   * every machine's slice carries, since a manifest file is on the coordinator only.
   */
  networkPolicies?: RawPolicyEntry[];
}

export type ExpectProto = 'icmp' | 'tcp' | 'udp';

/** One reachability assertion, e.g. `web -> db:5432 tcp reachable`. */
export interface Expectation {
  /** The assertion as written (whitespace collapsed). */
  text: string;
  /** Host the traffic starts from. */
  from: string;
  /** `host` when a host name was written (its first address, IPv4 preferred, is `address`). */
  to: { text: string; host: string | null; address: string; port: number | null };
  /** `icmp` is ping; a target with a port defaults to tcp. */
  proto: ExpectProto;
  /** `reaches`: every host of `backends` answers and no other (load balancing). */
  verdict: 'reachable' | 'unreachable' | 'reaches';
  backends: string[];
  pos: SourcePos;
}

/** A truth table: every host of `from` tries `to`'s hosts on one port. */
export interface MatrixExpectation {
  from: string[];
  to: { host: string; address: string }[];
  proto: 'tcp' | 'udp';
  port: number;
  /** want[i][j]: from[i] reaches to[j]. */
  want: boolean[][];
  pos: SourcePos;
}
