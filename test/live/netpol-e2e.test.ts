// The truth tables of the upstream Kubernetes NetworkPolicy e2e tests, run against labs.
//
// Source: kubernetes/kubernetes test/e2e/network/netpol/network_policy.go at commit
// 9db638c0807a720aa050ebcef69c32e4d4cce280; each case below is named by its exact `f.It("...")`
// string and the line that call is on in that file. The three cases of the context "NetworkPolicy
// between server and client using UDP" repeat names of the TCP context: their `udp` field says
// so. The SCTP context (feature.SCTPConnectivity) is left out: labs do not probe SCTP. As
// upstream: namespaces x, y, z with pods a, b, c (label pod=NAME), each serving
// TCP and UDP on 80 and 81 under the named ports serve-80-tcp, serve-81-tcp, serve-80-udp,
// serve-81-udp; each case lists the pods it uses (initializeResources) and builds its
// expectation with the same Reachability calls (ExpectPeer, ExpectAllIngress, ...).
//
// One base topology (one node, a bridge, nine pods) is applied once per lane (three labs of that
// topology under different names, so that three cases run at once: a step spends most of its time
// waiting for probes that must time out); each step of a case re-applies its lane's lab with other
// policies (only nft tables change) and runs `netlab test` on matrix assertions. Upstream ignores a pod's traffic to itself (ignoreLoopback: CNIs differ there); a
// lab always allows it (it goes over lo), so the diagonal is `.`.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netlab } from './cli.js';
import { sandboxSkipReason } from './sandbox.js';

const LAB = 'npe';
/** Labs of the same topology, each running one case at a time. */
const LANES = 3;
const NAMESPACES = ['x', 'y', 'z'] as const;
const POD_NAMES = ['a', 'b', 'c'] as const;
const NS_LABEL = 'kubernetes.io/metadata.name';

interface Pod {
  id: string; // x/a
  ns: string;
  pod: string;
  host: string; // x-a
  ip: string;
}
const PODS: Pod[] = NAMESPACES.flatMap((ns, i) =>
  POD_NAMES.map((pod, j) => ({ id: `${ns}/${pod}`, ns, pod, host: `${ns}-${pod}`, ip: `10.244.1.${2 + i * 3 + j}` })),
);
const pod = (id: string) => PODS.find((p) => p.id === id)!;

// ---------------------------------------------------------------------------------------------
// Upstream's Reachability, over the pods a case lists.

interface Peer {
  ns?: string;
  pod?: string;
}
const matches = (peer: Peer, p: Pod) => (peer.ns === undefined || peer.ns === p.ns) && (peer.pod === undefined || peer.pod === p.pod);
const peerOf = (id: string): Peer => ({ ns: pod(id).ns, pod: pod(id).pod });

class Reachability {
  private readonly cells = new Map<string, boolean>();
  constructor(readonly pods: Pod[]) {
    for (const a of pods) for (const b of pods) this.cells.set(`${a.id}>${b.id}`, true);
  }
  expectPeer(from: Peer, to: Peer, ok: boolean): this {
    for (const a of this.pods) for (const b of this.pods) if (matches(from, a) && matches(to, b)) this.cells.set(`${a.id}>${b.id}`, ok);
    return this;
  }
  expect(from: string, to: string, ok: boolean): this {
    return this.expectPeer(peerOf(from), peerOf(to), ok);
  }
  expectAllIngress(to: string, ok: boolean): this {
    return this.expectPeer({}, peerOf(to), ok);
  }
  expectAllEgress(from: string, ok: boolean): this {
    return this.expectPeer(peerOf(from), {}, ok);
  }
  /** Rows as `want` strings; the diagonal always `.` (see the top of the file). */
  want(): string[] {
    return this.pods.map((a) => this.pods.map((b) => (a === b || this.cells.get(`${a.id}>${b.id}`) ? '.' : 'X')).join(''));
  }
}

// ---------------------------------------------------------------------------------------------
// Policies, as upstream's helpers build them.

type Selector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
type PolicyPeer = { podSelector?: Selector; namespaceSelector?: Selector; ipBlock?: { cidr: string; except?: string[] } };
type PolicyPort = { protocol?: 'TCP' | 'UDP' | 'SCTP'; port?: number | string; endPort?: number };
type IngressRule = { from?: PolicyPeer[]; ports?: PolicyPort[] };
type EgressRule = { to?: PolicyPeer[]; ports?: PolicyPort[] };
interface Policy {
  name: string;
  namespace: string;
  podSelector: Selector;
  policyTypes: ('Ingress' | 'Egress')[];
  ingress?: IngressRule[];
  egress?: EgressRule[];
}

/** GenNetworkPolicyWithNameAndPodSelector with SetSpecIngressRules / SetSpecEgressRules. */
function policy(namespace: string, name: string, podSelector: Selector, rules: { ingress?: IngressRule[]; egress?: EgressRule[] }): Policy {
  const types: Policy['policyTypes'] = [];
  if (rules.ingress) types.push('Ingress');
  if (rules.egress) types.push('Egress');
  return { name, namespace, podSelector, policyTypes: types, ...rules };
}
const labels = (l: Record<string, string>): Selector => ({ matchLabels: l });
const podA = labels({ pod: 'a' });
const all: Selector = {};
const nsIs = (ns: string): Selector => labels({ [NS_LABEL]: ns });
const nsExpr = (operator: string, values: string[]): Selector => ({ matchExpressions: [{ key: NS_LABEL, operator, values }] });

// ---------------------------------------------------------------------------------------------
// Cases

interface Check {
  port: 80 | 81;
  protocol?: 'tcp' | 'udp';
  reach: Reachability;
}
interface Step {
  policies: Policy[];
  /** Extra labels on pods (by id) or namespaces (by name) for this step. */
  podLabels?: Record<string, Record<string, string>>;
  nsLabels?: Record<string, Record<string, string>>;
  checks: Check[];
}
interface Case {
  name: string;
  /** Line of the case's f.It in the upstream file. */
  line: number;
  /** The case is in upstream's UDP context (same names as the TCP one). */
  udp?: boolean;
  pods: string[];
  steps: (r: () => Reachability) => Step[];
}

const CASES: Case[] = [
  {
    name: "should support a 'default-deny-ingress' policy",
    line: 120,
    pods: ['x/a', 'x/b', 'y/a', 'y/b'],
    steps: (r) => [
      {
        policies: [policy('x', 'deny-ingress', all, { ingress: [] })],
        checks: [{ port: 80, reach: r().expectPeer({}, { ns: 'x' }, false) }],
      },
    ],
  },
  {
    name: "should support a 'default-deny-all' policy",
    line: 147,
    pods: ['x/a', 'x/b', 'y/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'deny-all', all, { ingress: [], egress: [] })],
        checks: [{ port: 80, reach: r().expectPeer({}, { ns: 'x' }, false).expectPeer({ ns: 'x' }, {}, false) }],
      },
    ],
  },
  {
    name: 'should enforce policy to allow traffic from pods within server namespace based on PodSelector',
    line: 162,
    pods: ['x/a', 'x/b', 'x/c', 'y/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'x-a-allows-x-b', podA, { ingress: [{ from: [{ podSelector: labels({ pod: 'b' }) }] }] })],
        checks: [{ port: 80, reach: r().expectAllIngress('x/a', false).expect('x/b', 'x/a', true) }],
      },
    ],
  },
  {
    name: 'should enforce policy to allow ingress traffic for a target',
    line: 185,
    pods: ['x/a', 'x/b', 'y/a'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'deny-all', all, { ingress: [] }),
          policy('x', 'allow-all-to-a', podA, { ingress: [{ from: [{ podSelector: {}, namespaceSelector: {} }] }] }),
        ],
        checks: [{ port: 80, reach: r().expectAllIngress('x/a', true).expectAllIngress('x/b', false) }],
      },
    ],
  },
  {
    name: 'should enforce policy to allow ingress traffic from pods in all namespaces',
    line: 210,
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'allow-from-another-ns', podA, { ingress: [{ from: [{ namespaceSelector: labels({}) }] }] })],
        checks: [{ port: 80, reach: r() }],
      },
    ],
  },
  {
    name: 'should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector',
    line: 224,
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'allow-client-a-via-ns-selector', podA, { ingress: [{ from: [{ namespaceSelector: nsIs('y') }] }] })],
        checks: [
          {
            port: 80,
            reach: r().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false),
          },
        ],
      },
    ],
  },
  {
    name: 'should enforce policy based on PodSelector with MatchExpressions',
    line: 242,
    pods: ['x/a', 'x/b', 'y/a'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'x-a-allows-x-b', podA, {
            ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] } }] }],
          }),
        ],
        checks: [{ port: 80, reach: r().expectAllIngress('x/a', false).expect('x/b', 'x/a', true) }],
      },
    ],
  },
  {
    name: 'should enforce policy based on NamespaceSelector with MatchExpressions',
    line: 267,
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'allow-ns-y-match-selector', podA, { ingress: [{ from: [{ namespaceSelector: nsExpr('In', ['y']) }] }] })],
        checks: [
          {
            port: 80,
            reach: r().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false),
          },
        ],
      },
    ],
  },
  {
    name: 'should enforce policy based on PodSelector or NamespaceSelector',
    line: 292,
    pods: ['x/a', 'x/b', 'x/c', 'y/a'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-ns-y-match-selector', podA, {
            ingress: [{ from: [{ namespaceSelector: nsExpr('NotIn', ['x']) }, { podSelector: labels({ pod: 'b' }) }] }],
          }),
        ],
        checks: [{ port: 80, reach: r().expect('x/a', 'x/a', false).expect('x/c', 'x/a', false) }],
      },
    ],
  },
  {
    name: 'should enforce policy based on PodSelector and NamespaceSelector',
    line: 321,
    pods: ['x/a', 'x/b', 'y/a', 'y/b', 'z/b'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-ns-y-podselector-and-nsselector', podA, {
            ingress: [{ from: [{ namespaceSelector: nsExpr('NotIn', ['x']), podSelector: labels({ pod: 'b' }) }] }],
          }),
        ],
        checks: [{ port: 80, reach: r().expectAllIngress('x/a', false).expect('y/b', 'x/a', true).expect('z/b', 'x/a', true) }],
      },
    ],
  },
  {
    name: 'should enforce policy based on Multiple PodSelectors and NamespaceSelectors',
    line: 351,
    pods: ['x/a', 'x/b', 'y/a', 'y/b', 'y/c'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-ns-y-z-pod-b-c', podA, {
            ingress: [
              {
                from: [
                  {
                    namespaceSelector: nsExpr('NotIn', ['x']),
                    podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }] },
                  },
                ],
              },
            ],
          }),
        ],
        checks: [{ port: 80, reach: r().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expect('y/a', 'x/a', false) }],
      },
    ],
  },
  {
    name: 'should enforce policy based on any PodSelectors',
    line: 384,
    pods: ['x/a', 'x/b', 'x/c'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-ns-x-pod-b-c', podA, {
            ingress: [{ from: [{ podSelector: labels({ pod: 'b' }) }, { podSelector: labels({ pod: 'c' }) }] }],
          }),
        ],
        checks: [{ port: 80, reach: r().expectAllIngress('x/a', false).expect('x/b', 'x/a', true).expect('x/c', 'x/a', true) }],
      },
    ],
  },
  {
    name: 'should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector',
    line: 406,
    pods: ['x/a', 'x/b', 'y/a', 'y/b', 'z/a'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-ns-y-pod-a-via-namespace-pod-selector', podA, {
            ingress: [{ from: [{ namespaceSelector: nsIs('y'), podSelector: podA }] }],
          }),
        ],
        checks: [{ port: 80, reach: r().expectAllIngress('x/a', false).expect('y/a', 'x/a', true) }],
      },
    ],
  },
  {
    name: 'should enforce policy based on Ports',
    line: 433,
    pods: ['x/a', 'x/b', 'y/a', 'y/b', 'z/a'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-client-a-via-ns-selector', podA, {
            ingress: [{ from: [{ namespaceSelector: nsIs('y') }], ports: [{ port: 81, protocol: 'TCP' }] }],
          }),
        ],
        checks: [
          {
            port: 81,
            reach: r()
              .expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false)
              .expectPeer({ ns: 'y' }, { ns: 'x', pod: 'a' }, true)
              .expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false),
          },
        ],
      },
    ],
  },
  {
    name: 'should enforce multiple, stacked policies with overlapping podSelectors',
    line: 458,
    pods: ['x/a', 'x/b', 'y/a', 'y/b', 'z/a'],
    steps: (r) => {
      const p81 = policy('x', 'allow-client-a-via-ns-selector', podA, {
        ingress: [{ from: [{ namespaceSelector: nsIs('y') }], ports: [{ port: 81, protocol: 'TCP' }] }],
      });
      const p80 = policy('x', 'allow-client-a-via-ns-selector-80', podA, {
        ingress: [{ from: [{ namespaceSelector: nsIs('y') }], ports: [{ port: 80, protocol: 'TCP' }] }],
      });
      const allow = () =>
        r()
          .expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false)
          .expectPeer({ ns: 'y' }, { ns: 'x', pod: 'a' }, true)
          .expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false);
      return [
        {
          policies: [p81],
          checks: [
            { port: 81, reach: allow() },
            { port: 80, reach: r().expectAllIngress('x/a', false) },
          ],
        },
        { policies: [p81, p80], checks: [{ port: 80, reach: allow() }] },
      ];
    },
  },
  {
    name: 'should support allow-all policy',
    line: 500,
    pods: ['x/a', 'x/b', 'y/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'allow-all', labels({}), { ingress: [{}] })],
        checks: [
          { port: 80, reach: r() },
          { port: 81, reach: r() },
        ],
      },
    ],
  },
  {
    name: 'should allow ingress access on one named port',
    line: 515,
    pods: ['x/a', 'x/b', 'y/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'allow-all', labels({}), { ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] })],
        checks: [
          { port: 81, reach: r() },
          { port: 80, reach: r().expectPeer({}, { ns: 'x' }, false) },
        ],
      },
    ],
  },
  {
    name: 'should allow ingress access from namespace on one named port',
    line: 536,
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-client-a-via-ns-selector-80', podA, {
            ingress: [{ from: [{ namespaceSelector: nsIs('y') }], ports: [{ port: 'serve-80-tcp', protocol: 'TCP' }] }],
          }),
        ],
        checks: [
          {
            port: 80,
            reach: r().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false),
          },
          { port: 81, reach: r().expectAllIngress('x/a', false) },
        ],
      },
    ],
  },
  {
    name: 'should allow egress access on one named port',
    line: 566,
    pods: ['x/a', 'y/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'allow-egress', labels({}), { egress: [{ ports: [{ port: 'serve-80-tcp' }] }] })],
        checks: [
          { port: 80, reach: r() },
          { port: 81, reach: r().expectPeer({ ns: 'x' }, {}, false) },
        ],
      },
    ],
  },
  {
    name: 'should enforce updated policy',
    line: 587,
    pods: ['x/a', 'y/a'],
    steps: (r) => [
      { policies: [policy('x', 'allow-all-mutate-to-deny-all', labels({}), { ingress: [{}] })], checks: [{ port: 81, reach: r() }] },
      {
        policies: [policy('x', 'allow-all-mutate-to-deny-all', labels({}), { ingress: [] })],
        checks: [{ port: 81, reach: r().expectPeer({}, { ns: 'x' }, false) }],
      },
    ],
  },
  {
    name: 'should allow ingress access from updated namespace',
    line: 609,
    pods: ['x/a', 'y/a'],
    steps: (r) => {
      const p = policy('x', 'allow-client-a-via-ns-selector', podA, {
        ingress: [{ from: [{ namespaceSelector: labels({ ns2: 'updated' }) }] }],
      });
      return [
        { policies: [p], checks: [{ port: 80, reach: r().expectAllIngress('x/a', false) }] },
        {
          policies: [p],
          nsLabels: { y: { ns2: 'updated' } },
          checks: [{ port: 80, reach: r().expectAllIngress('x/a', false).expectPeer({ ns: 'y' }, {}, true) }],
        },
      ];
    },
  },
  {
    name: 'should allow ingress access from updated pod',
    line: 640,
    pods: ['x/a', 'x/b'],
    steps: (r) => {
      const p = policy('x', 'allow-client-a-via-pod-selector', podA, {
        ingress: [{ from: [{ podSelector: labels({ pod: 'b', pod2: 'updated' }) }] }],
      });
      return [
        { policies: [p], checks: [{ port: 80, reach: r().expectAllIngress('x/a', false) }] },
        {
          policies: [p],
          podLabels: { 'x/b': { pod2: 'updated' } },
          checks: [{ port: 80, reach: r().expectAllIngress('x/a', false).expect('x/b', 'x/a', true) }],
        },
      ];
    },
  },
  {
    name: 'should deny ingress from pods on other namespaces',
    line: 669,
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'deny-empty-policy', all, { ingress: [{ from: [{ podSelector: labels({}) }] }] })],
        checks: [{ port: 80, reach: r().expectPeer({ ns: 'y' }, { ns: 'x' }, false).expectPeer({ ns: 'z' }, { ns: 'x' }, false) }],
      },
    ],
  },
  {
    name: 'should deny ingress access to updated pod',
    line: 686,
    pods: ['x/a', 'y/a'],
    steps: (r) => {
      const p = policy('x', 'deny-ingress-via-label-selector', labels({ target: 'isolated' }), { ingress: [] });
      return [
        { policies: [p], checks: [{ port: 80, reach: r() }] },
        { policies: [p], podLabels: { 'x/a': { target: 'isolated' } }, checks: [{ port: 80, reach: r().expectAllIngress('x/a', false) }] },
      ];
    },
  },
  {
    name: 'should deny egress from pods based on PodSelector',
    line: 708,
    pods: ['x/a', 'x/b', 'y/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'deny-egress-pod-a', podA, { egress: [] })],
        checks: [{ port: 80, reach: r().expectAllEgress('x/a', false) }],
      },
    ],
  },
  {
    name: 'should deny egress from all pods in a namespace',
    line: 722,
    pods: ['x/a', 'x/b', 'y/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'deny-egress-ns-x', all, { egress: [] })],
        checks: [{ port: 80, reach: r().expectPeer({ ns: 'x' }, {}, false) }],
      },
    ],
  },
  {
    name: 'should work with Ingress, Egress specified together',
    line: 736,
    pods: ['x/a', 'x/b', 'x/c', 'y/a'],
    steps: (r) => [
      {
        policies: [
          {
            ...policy('x', 'allow-client-a-via-pod-selector', podA, {
              ingress: [{ from: [{ podSelector: labels({ pod: 'b' }) }] }],
              egress: [{ ports: [{ port: 80 }] }],
            }),
            policyTypes: ['Egress', 'Ingress'],
          },
        ],
        checks: [
          { port: 80, reach: r().expectAllIngress('x/a', false).expect('x/b', 'x/a', true) },
          { port: 81, reach: r().expectAllIngress('x/a', false).expectAllEgress('x/a', false).expect('x/b', 'x/a', true) },
        ],
      },
    ],
  },
  {
    name: 'should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)',
    line: 774,
    pods: ['x/a', 'y/a', 'y/b'],
    steps: (r) => {
      const fromXa: IngressRule = { from: [{ namespaceSelector: nsIs('x'), podSelector: podA }] };
      return [
        {
          policies: [
            policy('x', 'allow-to-ns-y-pod-a', podA, { egress: [{ to: [{ namespaceSelector: nsIs('y'), podSelector: podA }] }] }),
            policy('y', 'allow-from-xa-on-ya-match-selector', podA, { ingress: [fromXa] }),
            policy('y', 'allow-from-xa-on-yb-match-selector', labels({ pod: 'b' }), { ingress: [fromXa] }),
          ],
          checks: [
            {
              port: 80,
              reach: r()
                .expectPeer({ ns: 'x', pod: 'a' }, {}, false)
                .expectPeer({}, { ns: 'y', pod: 'a' }, false)
                .expectPeer({ ns: 'x', pod: 'a' }, { ns: 'y', pod: 'a' }, true)
                .expectPeer({}, { ns: 'y', pod: 'b' }, false),
            },
          ],
        },
      ];
    },
  },
  {
    name: 'should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector',
    line: 870,
    pods: ['x/a', 'y/a', 'y/b'],
    steps: (r) => [
      {
        policies: [policy('x', 'allow-to-ns-y-pod-a', podA, { egress: [{ to: [{ namespaceSelector: nsIs('y'), podSelector: podA }] }] })],
        checks: [{ port: 80, reach: r().expectAllEgress('x/a', false).expect('x/a', 'y/a', true) }],
      },
    ],
  },
  {
    name: 'should enforce ingress policy allowing any port traffic to a server on a specific protocol',
    line: 896,
    pods: ['x/a', 'y/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'allow-ingress-by-proto', podA, { ingress: [{ ports: [{ protocol: 'TCP' }] }] })],
        checks: [
          { port: 80, reach: r() },
          { port: 80, protocol: 'udp', reach: r().expectPeer({}, { ns: 'x', pod: 'a' }, false) },
        ],
      },
    ],
  },
  {
    name: 'should enforce multiple ingress policies with ingress allow-all policy taking precedence',
    line: 914,
    pods: ['x/a', 'y/a'],
    steps: (r) => {
      const only80 = policy('x', 'allow-ingress-port-80', labels({}), { ingress: [{ ports: [{ port: 80 }] }] });
      return [
        { policies: [only80], checks: [{ port: 81, reach: r().expectPeer({}, { ns: 'x' }, false) }] },
        { policies: [only80, policy('x', 'allow-ingress', labels({}), { ingress: [{}] })], checks: [{ port: 81, reach: r() }] },
      ];
    },
  },
  {
    name: 'should enforce multiple egress policies with egress allow-all policy taking precedence',
    line: 939,
    pods: ['x/a', 'y/a'],
    steps: (r) => {
      const only80 = policy('x', 'allow-egress-port-80', labels({}), { egress: [{ ports: [{ port: 80 }] }] });
      return [
        { policies: [only80], checks: [{ port: 81, reach: r().expectPeer({ ns: 'x' }, {}, false) }] },
        { policies: [only80, policy('x', 'allow-egress', labels({}), { egress: [{}] })], checks: [{ port: 81, reach: r() }] },
      ];
    },
  },
  {
    name: 'should stop enforcing policies after they are deleted',
    line: 964,
    pods: ['x/a', 'y/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'deny-all', all, { ingress: [], egress: [] })],
        checks: [{ port: 80, reach: r().expectPeer({ ns: 'x' }, {}, false).expectPeer({}, { ns: 'x' }, false) }],
      },
      { policies: [], checks: [{ port: 80, reach: r() }] },
    ],
  },
  {
    name: 'should allow egress access to server in CIDR block',
    line: 992,
    pods: ['x/a', 'y/a', 'y/b'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-client-a-via-cidr-egress-rule', podA, { egress: [{ to: [{ ipBlock: { cidr: `${pod('y/b').ip}/32` } }] }] }),
        ],
        checks: [{ port: 80, reach: r().expectAllEgress('x/a', false).expect('x/a', 'y/b', true) }],
      },
    ],
  },
  {
    name: 'should enforce except clause while egress access to server in CIDR block',
    line: 1019,
    pods: ['x/a', 'x/b', 'x/c'],
    steps: (r) => [
      {
        // As upstream writes it: x/a's own address with prefix 4 (host bits set), except x/b.
        policies: [
          policy('x', 'allow-client-a-via-cidr-egress-rule', podA, {
            egress: [{ to: [{ ipBlock: { cidr: `${pod('x/a').ip}/4`, except: [`${pod('x/b').ip}/32`] } }] }],
          }),
        ],
        checks: [{ port: 80, reach: r().expect('x/a', 'x/b', false) }],
      },
    ],
  },
  {
    name: 'should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed',
    line: 1053,
    pods: ['x/a', 'x/b', 'x/c'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-client-a-via-cidr-egress-rule', podA, {
            egress: [{ to: [{ ipBlock: { cidr: `${pod('x/a').ip}/4`, except: [`${pod('x/b').ip}/32`] } }] }],
          }),
        ],
        checks: [{ port: 80, reach: r().expect('x/a', 'x/b', false) }],
      },
      {
        // UpdatePolicy with the same name: the policy now allows x/b's address only.
        policies: [
          policy('x', 'allow-client-a-via-cidr-egress-rule', podA, { egress: [{ to: [{ ipBlock: { cidr: `${pod('x/b').ip}/32` } }] }] }),
        ],
        checks: [{ port: 80, reach: r().expectAllEgress('x/a', false).expect('x/a', 'x/b', true) }],
      },
    ],
  },
  {
    name: 'should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector',
    line: 1102,
    pods: ['x/a', 'x/b', 'y/a'],
    steps: (r) => {
      const egress = policy('x', 'allow-egress-for-target', podA, { egress: [{}] });
      return [
        { policies: [egress], checks: [{ port: 80, reach: r() }] },
        {
          policies: [egress, policy('x', 'deny-ingress-via-label-selector', podA, { ingress: [] })],
          checks: [{ port: 80, reach: r().expectAllIngress('x/a', false) }],
        },
      ];
    },
  },
  {
    name: "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP",
    line: 1139,
    pods: ['x/a', 'y/a'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'deny-ingress', all, { ingress: [] }),
          policy('x', 'allow-only-sctp-ingress-on-port-81', podA, { ingress: [{ ports: [{ port: 81, protocol: 'SCTP' }] }] }),
        ],
        checks: [{ port: 81, reach: r().expectPeer({}, { ns: 'x' }, false) }],
      },
    ],
  },
  {
    name: "should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP",
    line: 1165,
    pods: ['x/a', 'y/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'allow-only-sctp-ingress-on-port-80', podA, { ingress: [{ ports: [{ port: 80, protocol: 'SCTP' }] }] })],
        checks: [{ port: 81, reach: r().expectAllIngress('x/a', false) }],
      },
    ],
  },
  {
    name: 'should not allow access by TCP when a policy specifies only UDP',
    line: 1182,
    pods: ['x/a', 'y/a'],
    steps: (r) => [
      {
        policies: [policy('x', 'allow-only-udp-ingress-on-port-81', podA, { ingress: [{ ports: [{ port: 81, protocol: 'UDP' }] }] })],
        checks: [{ port: 81, reach: r().expectAllIngress('x/a', false) }],
      },
    ],
  },
  {
    name: 'should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label',
    line: 1201,
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-client-a-via-ns-selector-for-immutable-ns-label', podA, {
            ingress: [{ from: [{ namespaceSelector: nsIs('y') }] }],
          }),
        ],
        checks: [
          {
            port: 80,
            reach: r().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false),
          },
        ],
      },
    ],
  },
  {
    name: 'should enforce policy based on NamespaceSelector with MatchExpressions using default ns label',
    line: 1224,
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-ns-y-match-selector-for-immutable-ns-label', podA, {
            egress: [{ to: [{ namespaceSelector: nsExpr('NotIn', ['y']) }] }],
          }),
        ],
        checks: [{ port: 80, reach: r().expectPeer({ ns: 'x', pod: 'a' }, { ns: 'y' }, false) }],
      },
    ],
  },
  {
    name: "should support a 'default-deny-ingress' policy",
    udp: true,
    line: 1260,
    pods: ['x/a', 'x/b', 'y/a', 'y/b'],
    steps: (r) => [
      {
        policies: [policy('x', 'deny-all', all, { ingress: [] })],
        checks: [{ port: 80, protocol: 'udp', reach: r().expectPeer({}, { ns: 'x' }, false) }],
      },
    ],
  },
  {
    name: 'should enforce policy based on Ports',
    udp: true,
    line: 1274,
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-ingress-on-port-81-ns-x', podA, {
            ingress: [{ from: [{ namespaceSelector: nsIs('y') }], ports: [{ port: 81, protocol: 'UDP' }] }],
          }),
        ],
        checks: [
          {
            port: 81,
            protocol: 'udp',
            reach: r().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false),
          },
        ],
      },
    ],
  },
  {
    name: 'should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector',
    udp: true,
    line: 1299,
    pods: ['x/a', 'x/b', 'y/a'],
    steps: (r) => [
      {
        policies: [
          policy('x', 'allow-ns-y-pod-a-via-namespace-pod-selector', podA, {
            ingress: [{ from: [{ namespaceSelector: nsIs('y'), podSelector: podA }] }],
          }),
        ],
        checks: [{ port: 80, protocol: 'udp', reach: r().expectAllIngress('x/a', false).expect('y/a', 'x/a', true) }],
      },
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// The lab

const CONTAINER_PORTS = [
  { name: 'serve-80-tcp', port: 80, protocol: 'TCP' },
  { name: 'serve-81-tcp', port: 81, protocol: 'TCP' },
  { name: 'serve-80-udp', port: 80, protocol: 'UDP' },
  { name: 'serve-81-udp', port: 81, protocol: 'UDP' },
];

/**
 * The base topology with a step's policies. Every other case reads its policies from a Kubernetes
 * manifest file (as `kubectl get netpol -o yaml` would give them: a List, or `---` documents).
 */
function labText(name: string, dir: string, c: Case | null, caseIndex: number, step: Step | null): string {
  const hosts: Record<string, object> = { node: { interfaces: { cbr0: { kind: 'bridge', addresses: ['10.244.1.1/24'] } } } };
  for (const p of PODS)
    hosts[p.host] = {
      namespace: p.ns,
      labels: { pod: p.pod, ...(step?.podLabels?.[p.id] ?? {}) },
      ports: CONTAINER_PORTS,
      interfaces: { eth0: { addresses: [`${p.ip}/24`] } },
      routes: [{ to: 'default', via: '10.244.1.1' }],
    };
  const namespaces = Object.fromEntries(NAMESPACES.map((ns) => [ns, { labels: { ns, ...(step?.nsLabels?.[ns] ?? {}) } }]));
  const policies = step?.policies ?? [];
  let network_policies: object[] = policies;
  if (policies.length && caseIndex % 2 === 1) {
    const manifests = policies.map(({ name, namespace, ...spec }) => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name, namespace },
      spec,
    }));
    const text =
      caseIndex % 4 === 1
        ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }, null, 2)
        : manifests.map((m) => JSON.stringify(m, null, 2)).join('\n---\n');
    writeFileSync(join(dir, 'policies.yaml'), `${text}\n`);
    network_policies = [{ file: 'policies.yaml' }];
  }
  const members = c ? c.pods.map((id) => pod(id).host) : [];
  const expect = (step?.checks ?? []).map((k) => ({
    matrix: { from: members, to: members, port: k.port, protocol: k.protocol ?? 'tcp', want: k.reach.want() },
  }));
  const lab = {
    name,
    hosts,
    links: PODS.map((p) => ({ a: `${p.host}:eth0`, b: 'node:cbr0' })),
    namespaces,
    ...(network_policies.length ? { network_policies } : {}),
    ...(expect.length ? { expect } : {}),
  };
  return `${JSON.stringify(lab, null, 2)}\n`;
}

interface Lane {
  name: string;
  dir: string;
  file: string;
}

describe.skipIf(sandboxSkipReason !== null)('upstream NetworkPolicy e2e truth tables', () => {
  const lanes: Lane[] = Array.from({ length: LANES }, (_, k) => {
    const dir = mkdtempSync(join(tmpdir(), 'netlab-netpol-'));
    return { name: `${LAB}${k}`, dir, file: join(dir, 'netpol-e2e.yaml') };
  });
  const free = [...lanes];
  const waiting: ((lane: Lane) => void)[] = [];
  const take = () => (free.length ? Promise.resolve(free.pop()!) : new Promise<Lane>((resolve) => waiting.push(resolve)));
  const give = (lane: Lane) => (waiting.length ? waiting.shift()!(lane) : free.push(lane));

  beforeAll(async () => {
    const applied = await Promise.all(
      lanes.map((l) => {
        writeFileSync(l.file, labText(l.name, l.dir, null, 0, null));
        return netlab(['apply', '--yes', l.file]);
      }),
    );
    for (const r of applied) expect(r.code, r.all).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(lanes.map((l) => netlab(['destroy', '--yes', l.file])));
  }, 120_000);

  it('has at least 25 upstream cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
  });

  CASES.forEach((c, i) => {
    it.concurrent(
      `${c.udp ? 'UDP: ' : ''}${c.name} (network_policy.go:${c.line})`,
      async () => {
        const r = () => new Reachability(c.pods.map(pod));
        const lane = await take();
        try {
          for (const [s, step] of c.steps(r).entries()) {
            writeFileSync(lane.file, labText(lane.name, lane.dir, c, i, step));
            const applied = await netlab(['apply', '--yes', lane.file]);
            expect(applied.code, `step ${s + 1}: apply\n${applied.all}`).toBe(0);
            const tested = await netlab(['test', lane.file]);
            expect(tested.code, `step ${s + 1}: ${c.name}\n${tested.all}`).toBe(0);
          }
        } finally {
          give(lane);
        }
      },
      120_000,
    );
  });
});
