// The shape of a lab as written, once it has passed the JSON Schema. Semantic rules and
// normalisation read these types; nothing outside src/lab should.

export type RawNetns = 'root' | { name: string } | { path: string } | { pid: number };

export interface RawInterface {
  kind?: 'bridge' | 'vlan' | 'macvlan' | 'ipvlan' | 'macvtap' | 'tap' | 'vxlan';
  addresses?: string[];
  mtu?: number;
  mac?: string;
  bridge?: string;
  vlans?: { pvid?: number; tagged?: number[] };
  up?: boolean;
  stp?: boolean;
  ageing?: number;
  vlan_filtering?: boolean;
  parent?: string;
  id?: number;
  protocol?: '802.1Q' | '802.1ad';
  mode?: 'bridge' | 'private' | 'vepa' | 'passthru' | 'l2' | 'l3' | 'l3s';
  flag?: 'bridge' | 'private' | 'vepa';
  user?: number;
  /** gid for tap, multicast group address for vxlan. */
  group?: number | string;
  vni?: number;
  port?: number;
  local?: string;
  remotes?: string[];
  dev?: string;
  learning?: boolean;
  conditions?: RawConditions;
  /** A veth to `HOST:IF`, written on this end (the same as a `links` entry). */
  link?: string;
  /** Addresses handed out to the far ends of this segment (see src/lab/pool.ts). */
  pool?: string | RawPool;
  /** Static neighbour (ARP/NDP) entries on this interface. */
  neighbours?: RawNeighbour[];
  /** Addresses the kernel answers ARP/NDP for on this interface (proxy neighbour entries). */
  proxy_neigh?: string[];
  /** Static forwarding entries: on a VXLAN (`dst` = remote VTEP) or on a bridge port. */
  fdb?: RawFdbEntry[];
  /** Per-interface sysctls: `ipv4.rp_filter` -> net.ipv4.conf.IF.rp_filter. */
  sysctls?: Record<string, string | number>;
}

export interface RawPool {
  subnet: string;
  /** Addresses (or CIDRs) never handed out. */
  exclude?: string[];
}

export interface RawNeighbour {
  address: string;
  /** A MAC, or `HOST:IF` for that interface's MAC. */
  mac: string;
}

export interface RawFdbEntry {
  /** A MAC, or `HOST:IF` for that interface's MAC. */
  mac: string;
  dst?: string;
  vlan?: number;
}

/** Link conditions as written (units as strings or bare numbers; see src/lab/units.ts). */
export interface RawConditions {
  rate?: string | number;
  burst?: string | number;
  delay?: string | number;
  jitter?: string | number;
  loss?: string | number;
  duplicate?: string | number;
  reorder?: string | number;
  corrupt?: string | number;
  limit?: number;
}

export interface RawRoute {
  to: string;
  via?: string;
  dev?: string;
  metric?: number;
  onlink?: boolean;
  table?: number;
  /** ECMP: several gateways (instead of via/dev). */
  nexthops?: RawNexthop[];
}

export interface RawNexthop {
  via: string;
  dev?: string;
  weight?: number;
  onlink?: boolean;
}

/** A policy routing rule (`ip rule`). */
export interface RawRoutingRule {
  priority: number;
  from?: string;
  to?: string;
  iif?: string;
  oif?: string;
  fwmark?: number | string;
  table: number;
}

export interface RawRun {
  name: string;
  command: string;
}

export interface RawExec {
  name: string;
  command: string;
  /** Seconds (default 60). */
  timeout?: number;
}

export interface RawMasquerade {
  from: string;
  out?: string;
}
export interface RawSnat {
  from: string;
  out?: string;
  to: string;
}
export interface RawPublish {
  proto?: 'tcp' | 'udp';
  port: number | string;
  to: string;
  in?: string;
  address?: string;
}
export interface RawService {
  name: string;
  vip: string;
  port: number;
  proto?: 'tcp' | 'udp';
  backends: string[];
  mode?: 'round-robin' | 'random';
  node_port?: number;
  external_traffic_policy?: 'Cluster' | 'Local';
}
export interface RawNat {
  userland_proxy?: boolean;
  masquerade?: RawMasquerade[];
  snat?: RawSnat[];
  publish?: RawPublish[];
  services?: RawService[];
}

export interface RawRule {
  action: 'allow' | 'deny';
  from?: string | string[];
  to?: string | string[];
  proto?: 'tcp' | 'udp' | 'icmp';
  port?: number | string;
}
export interface RawFirewall {
  default?: 'allow' | 'deny';
  rules?: RawRule[];
  isolate?: string[];
}

export interface RawHost {
  /** The machine (a key of `machines`) this host runs on. */
  on?: string;
  netns?: RawNetns;
  ipv6?: boolean;
  sysctls?: Record<string, string | number>;
  interfaces?: Record<string, RawInterface>;
  routes?: RawRoute[];
  nat?: RawNat;
  firewall?: RawFirewall;
  routing_policy?: RawRoutingRule[];
  /** Long-running processes started in this host once its network is up. */
  run?: RawRun[];
  /** One-shot commands run once after the host is created (a string is `{ name: execN, command }`). */
  exec?: (string | RawExec)[];
  /** Kubernetes namespace of this host as a pod (see src/lab/netpol.ts). */
  namespace?: string;
  labels?: Record<string, string>;
  /** Container ports: the named ports a NetworkPolicy can refer to. */
  ports?: RawContainerPort[];
  /** Template hosts only (removed by expansion, see src/lab/template.ts). */
  count?: number;
  start?: number;
}

/** `local` (this machine) or a machine reached over SSH. */
export type RawMachine = 'local' | { ssh: string; port?: number; identity?: string; underlay?: string };

export interface RawLink {
  a: string;
  b: string;
  mtu?: number;
  /** Conditions of both ends (an end's own `conditions` win, key by key). */
  conditions?: RawConditions;
}

export interface RawLab {
  $schema?: string;
  name: string;
  owner?: string;
  root?: boolean;
  /** Machines the lab spans (see src/lab/machines.ts). */
  machines?: Record<string, RawMachine>;
  placement?: 'spread' | 'pack';
  /** In a machine's slice only: addresses of hosts on other machines its NAT rules target (see src/machines/slice-refs.ts). */
  addresses_elsewhere?: string[];
  /** In a machine's slice only: the lab's pods on other machines, peers of its NetworkPolicies (see src/lab/netpol.ts). */
  pods_elsewhere?: Record<string, RawPodElsewhere>;
  /** In a machine's slice only: service VIPs DNATed on other machines, which egress-isolated pods may send to. */
  services_elsewhere?: { vip: string; proto: 'tcp' | 'udp'; port: number }[];
  hosts: Record<string, RawHost>;
  links?: RawLink[];
  /** Kubernetes namespaces with their labels. */
  namespaces?: Record<string, { labels?: Record<string, string> }>;
  /** NetworkPolicies written here, or manifest files to read them from. */
  network_policies?: RawPolicyEntry[];
  /** Reachability assertions, checked by src/lab/expect.ts; a matrix states a whole truth table. */
  expect?: (string | RawMatrixExpect)[];
}

export interface RawPodElsewhere {
  namespace?: string;
  labels?: Record<string, string>;
  addresses: string[];
  ports?: RawContainerPort[];
}

export interface RawContainerPort {
  name: string;
  port: number;
  protocol?: K8sProtocol;
}

export type K8sProtocol = 'TCP' | 'UDP' | 'SCTP';

/** A Kubernetes LabelSelector. */
export interface RawSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface RawPeer {
  podSelector?: RawSelector;
  namespaceSelector?: RawSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface RawPolicyPort {
  protocol?: K8sProtocol;
  port?: number | string;
  endPort?: number;
}

/** networking.k8s.io/v1 NetworkPolicySpec, field names as Kubernetes spells them. */
export interface RawPolicySpec {
  podSelector: RawSelector;
  policyTypes?: ('Ingress' | 'Egress')[];
  ingress?: { from?: RawPeer[]; ports?: RawPolicyPort[] }[];
  egress?: { to?: RawPeer[]; ports?: RawPolicyPort[] }[];
}

export type RawPolicyEntry = { file: string } | (RawPolicySpec & { name: string; namespace?: string });

export interface RawMatrixExpect {
  matrix: { from: string[]; to: string[]; port: number; protocol?: 'tcp' | 'udp'; want: string[] };
}
