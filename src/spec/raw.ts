// The shape of a lab as written, once it has passed the JSON Schema. Semantic rules and
// normalisation read these types; nothing outside src/spec should.

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
}

/** Link conditions as written (units as strings or bare numbers; see src/spec/units.ts). */
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
}
export interface RawNat {
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
}

export interface RawHost {
  netns?: RawNetns;
  ipv6?: boolean;
  sysctls?: Record<string, string | number>;
  interfaces?: Record<string, RawInterface>;
  routes?: RawRoute[];
  nat?: RawNat;
  firewall?: RawFirewall;
}

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
  hosts: Record<string, RawHost>;
  links?: RawLink[];
  /** Reachability assertions, checked by src/spec/expect.ts. */
  expect?: string[];
}
