// labs/k8s-flat.yaml against kube-proxy's own rule set (iptables mode): the same topology built
// by hand with `ip`, the chains kube-proxy writes loaded with iptables-restore (iptables-nft) into
// each node's namespace, and the same flows probed on both, flow by flow: which backend answered
// and which source address it saw.
//
// The rules are written as kubernetes/kubernetes pkg/proxy/iptables/proxier_test.go's expected
// iptables-save dumps show them (TestNodePort for externalTrafficPolicy Cluster, TestOnlyLocalExternalIPs
// and proxier.go's KUBE-EXT rules for Local), with the jumps from the built-in chains that
// proxier.go installs (iptablesJumpChains), chain names hashed as proxier.go does
// (servicePortPolicyClusterChain & co: base32 of a SHA-256, 16 characters), for this lab's
// service default/web (10.96.0.10:80, NodePort 30080, endpoints 10.244.1.2:8080 on node1 and
// 10.244.2.2:8080 on node2).
//
// kube-proxy as configured here: no --cluster-cidr, so its local-traffic detector is a no-op
// (cmd/kube-proxy/app/server_linux.go: "LocalModeClusterCIDR is the default ... but --cluster-cidr is
// optional"), as the lab has no notion of a cluster CIDR; localhost NodePorts on (the default:
// route_localnet=1); the CNI bridge's hairpin mode on the pods' ports.
//
// One host is added to the lab on both sides: `peer`, outside the cluster on the nodes' LAN with
// routes to each node's pod subnet and to the service range (as a router that peers with the
// nodes, BGP-style, would have), so that external traffic reaches the nodes' bridge addresses,
// the pods and the VIP by route; `client` stays as the lab has it, with no such route.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { labFile, netlab, withoutProcess } from './cli.js';
import {
  buildByHand,
  expectSameFlows,
  iptablesRestore,
  nsOf,
  observeAll,
  removeByHand,
  type Flow,
  type HandTopology,
} from './differential.js';
import { sandboxSkipReason } from './sandbox.js';
import { startServer, stopServers } from './tcp.js';

const SERVICE = 'default/web:http';
const ENDPOINTS = { node1: '10.244.1.2:8080', node2: '10.244.2.2:8080' } as const;

/** RFC 4648 base32, as Go's base32.StdEncoding. */
function base32(bytes: Buffer): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += A[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += A[(value << (5 - bits)) & 31];
  return out;
}

/** proxier.go's chain names: prefix + 16 characters of base32(sha256(servicePortName + protocol [+ endpoint])). */
const chain = (prefix: string, ...parts: string[]) =>
  `${prefix}${base32(createHash('sha256').update(parts.join('')).digest()).slice(0, 16)}`;
const SVC = chain('KUBE-SVC-', SERVICE, 'tcp');
const SVL = chain('KUBE-SVL-', SERVICE, 'tcp');
const EXT = chain('KUBE-EXT-', SERVICE, 'tcp');
const SEP = (ep: string) => chain('KUBE-SEP-', SERVICE, 'tcp', ep);

/** What kube-proxy loads on a node; `local` is the node's own endpoint. */
function kubeProxyRules(policy: 'Cluster' | 'Local', local: string): string {
  const eps = Object.values(ENDPOINTS);
  const ext =
    policy === 'Cluster'
      ? [
          `-A ${EXT} -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ`,
          `-A ${EXT} -j ${SVC}`,
        ]
      : [
          `-A ${EXT} -m comment --comment "masquerade LOCAL traffic for default/web:http external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
          `-A ${EXT} -m comment --comment "route LOCAL traffic for default/web:http external destinations" -m addrtype --src-type LOCAL -j ${SVC}`,
          `-A ${EXT} -j ${SVL}`,
          `-A ${SVL} -m comment --comment "default/web:http -> ${local}" -j ${SEP(local)}`,
        ];
  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':KUBE-EXTERNAL-SERVICES - [0:0]',
    ':KUBE-FIREWALL - [0:0]',
    ':KUBE-FORWARD - [0:0]',
    ':KUBE-NODEPORTS - [0:0]',
    ':KUBE-PROXY-FIREWALL - [0:0]',
    ':KUBE-SERVICES - [0:0]',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A INPUT -j KUBE-FIREWALL',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -j KUBE-FIREWALL',
    '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    'COMMIT',
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    ':KUBE-NODEPORTS - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    ':KUBE-SERVICES - [0:0]',
    `:${EXT} - [0:0]`,
    ...eps.map((ep) => `:${SEP(ep)} - [0:0]`),
    `:${SVC} - [0:0]`,
    ...(policy === 'Local' ? [`:${SVL} - [0:0]`] : []),
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    `-A KUBE-NODEPORTS -m comment --comment default/web:http -m tcp -p tcp --dport 30080 -j ${EXT}`,
    `-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j ${SVC}`,
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    ...ext,
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
    ...eps.flatMap((ep) => [
      `-A ${SEP(ep)} -m comment --comment default/web:http -s ${ep.split(':')[0]} -j KUBE-MARK-MASQ`,
      `-A ${SEP(ep)} -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination ${ep}`,
    ]),
    `-A ${SVC} -m comment --comment "default/web:http -> ${eps[0]}" -m statistic --mode random --probability 0.5000000000 -j ${SEP(eps[0]!)}`,
    `-A ${SVC} -m comment --comment "default/web:http -> ${eps[1]}" -j ${SEP(eps[1]!)}`,
    'COMMIT',
    '',
  ].join('\n');
}

const PEER_ROUTES = [
  ['10.244.1.0/24', '198.51.100.1'],
  ['10.244.2.0/24', '198.51.100.2'],
  ['10.96.0.0/12', '198.51.100.1'],
] as const;

/** labs/k8s-flat.yaml by hand. */
const TOPOLOGY: HandTopology = {
  prefix: 'rk-',
  hosts: ['lan', 'node1', 'node2', 'pod-a1', 'pod-a2', 'pod-b1', 'client', 'peer'],
  sysctls: Object.fromEntries(
    ['node1', 'node2'].map((n) => [
      n,
      { 'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': '1', 'net.ipv4.conf.all.route_localnet': '1' },
    ]),
  ),
  bridges: [
    { host: 'lan', name: 'sw0' },
    { host: 'node1', name: 'cbr0', address: '10.244.1.1/24' },
    { host: 'node2', name: 'cbr0', address: '10.244.2.1/24' },
  ],
  veths: [
    { a: 'node1', aif: 'eth0', aaddr: '198.51.100.1/24', b: 'lan', bif: 'p-node1', master: 'sw0' },
    { a: 'node2', aif: 'eth0', aaddr: '198.51.100.2/24', b: 'lan', bif: 'p-node2', master: 'sw0' },
    { a: 'client', aif: 'eth0', aaddr: '198.51.100.100/24', b: 'lan', bif: 'p-client', master: 'sw0' },
    { a: 'peer', aif: 'eth0', aaddr: '198.51.100.101/24', b: 'lan', bif: 'p-peer', master: 'sw0' },
    { a: 'pod-a1', aif: 'eth0', aaddr: '10.244.1.2/24', b: 'node1', bif: 'veth-a1', master: 'cbr0', hairpin: true },
    { a: 'pod-a2', aif: 'eth0', aaddr: '10.244.1.3/24', b: 'node1', bif: 'veth-a2', master: 'cbr0', hairpin: true },
    { a: 'pod-b1', aif: 'eth0', aaddr: '10.244.2.2/24', b: 'node2', bif: 'veth-b1', master: 'cbr0', hairpin: true },
  ],
  routes: [
    { host: 'node1', to: '10.244.2.0/24', via: '198.51.100.2' },
    { host: 'node2', to: '10.244.1.0/24', via: '198.51.100.1' },
    { host: 'pod-a1', to: 'default', via: '10.244.1.1' },
    { host: 'pod-a2', to: 'default', via: '10.244.1.1' },
    { host: 'pod-b1', to: 'default', via: '10.244.2.1' },
    ...PEER_ROUTES.map(([to, via]) => ({ host: 'peer', to, via })),
  ],
};

/** The lab's text with `peer` added (see the top of this file). */
function withPeer(text: string): string {
  const host = [
    '  peer:',
    '    interfaces:',
    '      eth0: { addresses: [198.51.100.101/24] }',
    '    routes:',
    ...PEER_ROUTES.map(([to, via]) => `      - { to: ${to}, via: ${via} }`),
  ];
  return text.replace(/^links:\n/m, `${host.join('\n')}\nlinks:\n  - { a: peer:eth0, b: lan:sw0 }\n`);
}

const svc = (what: string, from: string, to: string): Flow => ({ what, from, to, backends: 2 });
const FLOWS: Flow[] = [
  { what: 'pod -> pod, same node', from: 'pod-a2', to: '10.244.1.2:8080' },
  { what: 'pod -> pod, other node', from: 'pod-a2', to: '10.244.2.2:8080' },
  svc('pod -> ClusterIP', 'pod-a2', '10.96.0.10:80'),
  svc('pod -> ClusterIP, from the other node', 'pod-b1', '10.96.0.10:80'),
  svc('pod -> its own service', 'pod-a1', '10.96.0.10:80'),
  svc('pod -> NodePort of its node', 'pod-a2', '198.51.100.1:30080'),
  svc('pod -> NodePort on its node bridge address', 'pod-a2', '10.244.1.1:30080'),
  svc('pod -> NodePort of the other node', 'pod-a2', '198.51.100.2:30080'),
  svc('pod -> NodePort on the other node bridge address', 'pod-a2', '10.244.2.1:30080'),
  svc('backend pod -> NodePort of its node', 'pod-a1', '198.51.100.1:30080'),
  svc('node -> its own NodePort', 'node1', '198.51.100.1:30080'),
  svc('node -> its own NodePort on localhost', 'node1', '127.0.0.1:30080'),
  svc('node -> its own NodePort on its bridge address', 'node1', '10.244.1.1:30080'),
  svc('node -> NodePort of the other node', 'node1', '198.51.100.2:30080'),
  svc('node -> NodePort on the other node bridge address', 'node1', '10.244.2.1:30080'),
  svc('node -> ClusterIP (no default route)', 'node1', '10.96.0.10:80'),
  { what: 'node -> pod on its node', from: 'node1', to: '10.244.1.2:8080' },
  { what: 'node -> pod on the other node', from: 'node1', to: '10.244.2.2:8080' },
  svc('external -> NodePort of node1', 'client', '198.51.100.1:30080'),
  svc('external -> NodePort of node2', 'client', '198.51.100.2:30080'),
  { what: 'external -> pod (not routed)', from: 'client', to: '10.244.1.2:8080' },
  svc('routed external -> NodePort on node1 bridge address', 'peer', '10.244.1.1:30080'),
  svc('routed external -> NodePort on node2 bridge address', 'peer', '10.244.2.1:30080'),
  { what: 'routed external -> pod on node1', from: 'peer', to: '10.244.1.2:8080' },
  { what: 'routed external -> pod on node2', from: 'peer', to: '10.244.2.2:8080' },
  // No masquerade for a VIP without a cluster CIDR: a backend on node2 answers the peer directly.
  svc('routed external -> ClusterIP through node1', 'peer', '10.96.0.10:80'),
];

async function startServers(ns: (h: string) => string): Promise<void> {
  await startServer(ns('pod-a1'), 'pod-a1', [8080]);
  await startServer(ns('pod-b1'), 'pod-b1', [8080]);
}

async function realKubeProxy(policy: 'Cluster' | 'Local'): Promise<string[]> {
  const ns = (h: string) => nsOf(TOPOLOGY, h);
  try {
    await buildByHand(TOPOLOGY);
    await iptablesRestore(ns('node1'), kubeProxyRules(policy, ENDPOINTS.node1));
    await iptablesRestore(ns('node2'), kubeProxyRules(policy, ENDPOINTS.node2));
    await startServers(ns);
    return await observeAll(ns, FLOWS);
  } finally {
    await stopServers();
    await removeByHand(TOPOLOGY);
  }
}

async function netlabK8s(policy: 'Cluster' | 'Local'): Promise<string[]> {
  let text = withoutProcess(withPeer(readFileSync('labs/k8s-flat.yaml', 'utf8')), 'http');
  if (policy === 'Local') text = text.replace('node_port: 30080,', 'node_port: 30080, external_traffic_policy: Local,');
  const file = labFile('k8s', text);
  const ns = (h: string) => `k8s-${h}`;
  try {
    const applied = await netlab(['apply', file]);
    expect(applied.code, applied.all).toBe(0);
    await startServers(ns);
    return await observeAll(ns, FLOWS);
  } finally {
    await stopServers();
    const destroyed = await netlab(['destroy', file]);
    expect(destroyed.code, destroyed.all).toBe(0);
  }
}

describe.skipIf(sandboxSkipReason !== null)('k8s-flat against kube-proxy (iptables mode)', () => {
  afterAll(async () => {
    await stopServers();
  });

  for (const policy of ['Cluster', 'Local'] as const) {
    it(`answers every flow as kube-proxy does with externalTrafficPolicy ${policy}`, async () => {
      const real = await realKubeProxy(policy);
      const lab = await netlabK8s(policy);
      expectSameFlows(`k8s-flat, externalTrafficPolicy ${policy}`, FLOWS, real, lab, `kube-proxy (${policy})`);
    });
  }
});
