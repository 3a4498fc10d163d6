// NetworkPolicies in the lab language: every semantic error at its file:line:col, which pods a
// policy selects and what it allows (Kubernetes' rules), and the nft the pods' chains become.
import { describe, expect, it } from 'vitest';
import { loadLabText } from '../../src/lab/index.js';
import type { Lab, PodPolicy } from '../../src/lab/types.js';
import { renderPolicy } from '../../src/model/policy.js';
import { labOf } from './helpers.js';

const FILE = 'np.yaml';

/** Issues as `line:col path: message`. */
function issues(text: string): string[] {
  return loadLabText(FILE, text).issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
}

describe('NetworkPolicy semantic errors', () => {
  const BAD = `name: np
hosts:
  node: { interfaces: { cbr0: { kind: bridge, addresses: [10.244.1.1/24] } } }
  a:
    namespace: x
    labels: { pod: a }
    ports: [{ name: http, port: 80 }]
    interfaces: { eth0: { addresses: [10.244.1.2/24] } }
links: [{ a: a:eth0, b: node:cbr0 }]
network_policies:
  - name: p
    namespace: x
    podSelector: { matchExpressions: [{ key: pod, operator: In }] }
    ingress:
      - ports: [{ port: htp }, { endPort: 90 }, { port: 90, endPort: 80 }, { port: http, endPort: 81 }]
        from:
          - ipBlock: { cidr: 10.0.0.0 }
          - ipBlock: { cidr: 10.0.0.0/16, except: [10.1.0.0/24, 10.0.0.0/8, 10.0.1.0] }
          - podSelector: { matchExpressions: [{ key: pod, operator: Exists, values: [a] }] }
          - { ipBlock: { cidr: 10.0.0.0/8 }, podSelector: {} }
  - name: p
    namespace: x
    podSelector: {}
`;

  it('reports each one where it is written, saying what to do', () => {
    expect(issues(BAD)).toEqual([
      '13:39 network_policies[0].podSelector.matchExpressions[0]: operator In needs at least one value in values',
      `15:25 network_policies[0].ingress[0].ports[0].port: named port "htp" is not a port name of any host: add it to a host's ports ({ name: htp, port: N }) or write the number`,
      '15:43 network_policies[0].ingress[0].ports[1].endPort: endPort needs port: the first port of the range',
      '15:70 network_policies[0].ingress[0].ports[2].endPort: endPort 80 is below port 90',
      '15:99 network_policies[0].ingress[0].ports[3].endPort: endPort needs a numeric port, not a named one',
      '17:30 network_policies[0].ingress[0].from[0].ipBlock.cidr: "10.0.0.0" is not a CIDR (an address with a prefix length, e.g. 10.0.0.0/16)',
      "18:52 network_policies[0].ingress[0].from[1].ipBlock.except[0]: except 10.1.0.0/24 is not inside the block's cidr 10.0.0.0/16: an except must be a strict part of the cidr",
      "18:65 network_policies[0].ingress[0].from[1].ipBlock.except[1]: except 10.0.0.0/8 is not inside the block's cidr 10.0.0.0/16: an except must be a strict part of the cidr",
      '18:77 network_policies[0].ingress[0].from[1].ipBlock.except[2]: "10.0.1.0" is not a CIDR (an address with a prefix length, e.g. 10.0.1.0/24)',
      '19:85 network_policies[0].ingress[0].from[2].podSelector.matchExpressions[0].values: operator Exists takes no values: drop values',
      '20:13 network_policies[0].ingress[0].from[3]: ipBlock cannot be combined with podSelector or namespaceSelector in one peer: write them as two peers',
      '21:11 network_policies[1].name: NetworkPolicy x/p is defined twice: a name is unique in its namespace',
    ]);
  });

  it('accepts the same lab once the errors are fixed', () => {
    const good = BAD.replace('operator: In }', 'operator: In, values: [a] }')
      .replace(
        '{ port: htp }, { endPort: 90 }, { port: 90, endPort: 80 }, { port: http, endPort: 81 }',
        '{ port: http }, { port: 90, endPort: 95 }',
      )
      .replace('cidr: 10.0.0.0 }', 'cidr: 10.0.0.0/8 }')
      .replace('except: [10.1.0.0/24, 10.0.0.0/8, 10.0.1.0]', 'except: [10.0.1.0/24]')
      .replace('operator: Exists, values: [a] }', 'operator: Exists }')
      .replace('{ ipBlock: { cidr: 10.0.0.0/8 }, podSelector: {} }', '{ podSelector: {} }')
      .replace(/ {2}- name: p\n {4}namespace: x\n {4}podSelector: \{\}\n$/, '');
    expect(issues(good)).toEqual([]);
  });

  it('names a selector operator Kubernetes does not have at its position', () => {
    const text = `name: np
hosts:
  a: { namespace: x, labels: { pod: a } }
network_policies:
  - name: p
    namespace: x
    podSelector: { matchExpressions: [{ key: pod, operator: Near, values: [a] }] }
`;
    expect(issues(text)).toEqual([
      '7:61 network_policies[0].podSelector.matchExpressions[0].operator: must be one of "In", "NotIn", "Exists", "DoesNotExist" (got "Near")',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Selection and what is allowed

const POD_IPS: Record<string, string> = {
  'x-a': '10.244.1.2',
  'x-b': '10.244.1.3',
  'x-c': '10.244.1.4',
  'y-a': '10.244.1.5',
  'y-b': '10.244.1.6',
};

/** Pods x/a, x/b, x/c, y/a, y/b on one node, with the given policies (YAML flow text, one per line). */
function podsLab(policies: string[], node = ''): Lab {
  const pods = Object.entries(POD_IPS).map(([host, ip]) => {
    const [ns, pod] = host.split('-');
    return `  ${host}: { namespace: ${ns}, labels: { pod: ${pod} }, ports: [{ name: web, port: 8080 }], interfaces: { eth0: { addresses: [${ip}/24] } } }`;
  });
  const text = [
    'name: np',
    'hosts:',
    `  node: { interfaces: { cbr0: { kind: bridge, addresses: [10.244.1.1/24] } }${node} }`,
    ...pods,
    'links:',
    ...Object.keys(POD_IPS).map((h) => `  - { a: ${h}:eth0, b: node:cbr0 }`),
    'network_policies:',
    ...policies.map((p) => `  - ${p}`),
  ].join('\n');
  return labOf(FILE, `${text}\n`);
}

const policyOf = (lab: Lab, host: string): PodPolicy | undefined => lab.hosts.find((h) => h.name === host)!.podPolicy;
const peersOf = (p: PodPolicy | undefined, dir: 'ingress' | 'egress') => p?.[dir]?.map((r) => r.peers?.map((b) => b.cidr) ?? null);
const ip = (host: string) => `${POD_IPS[host]}/32`;

describe('which pods a policy isolates', () => {
  it('selects pods of its own namespace by podSelector only', () => {
    const lab = podsLab(['{ name: p, namespace: x, podSelector: { matchLabels: { pod: a } }, ingress: [] }']);
    expect(policyOf(lab, 'x-a')).toEqual({ ingress: [], egress: null });
    // y/a has the same labels but another namespace; x/b is in the namespace but not selected.
    expect(policyOf(lab, 'y-a')).toBeUndefined();
    expect(policyOf(lab, 'x-b')).toBeUndefined();
  });

  it('an empty podSelector selects every pod of the namespace', () => {
    const lab = podsLab(['{ name: p, namespace: y, podSelector: {}, ingress: [] }']);
    expect(['x-a', 'y-a', 'y-b'].map((h) => policyOf(lab, h) !== undefined)).toEqual([false, true, true]);
  });

  it('policyTypes default to Ingress, plus Egress when the policy has egress rules', () => {
    const onlyIngress = podsLab(['{ name: p, namespace: x, podSelector: {}, ingress: [{}] }']);
    expect(policyOf(onlyIngress, 'x-a')).toEqual({ ingress: [{ peers: null, ports: null, policy: 'x/p' }], egress: null });
    const withEgress = podsLab(['{ name: p, namespace: x, podSelector: {}, egress: [{}] }']);
    expect(policyOf(withEgress, 'x-a')).toEqual({ ingress: [], egress: [{ peers: null, ports: null, policy: 'x/p' }] });
    const egressOnly = podsLab(['{ name: p, namespace: x, podSelector: {}, policyTypes: [Egress] }']);
    expect(policyOf(egressOnly, 'x-a')).toEqual({ ingress: null, egress: [] });
  });

  it('policies selecting one pod add up: each allows what it allows', () => {
    const lab = podsLab([
      '{ name: from-b, namespace: x, podSelector: { matchLabels: { pod: a } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: b } } }] }] }',
      '{ name: from-c, namespace: x, podSelector: { matchLabels: { pod: a } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: c } } }] }] }',
      '{ name: deny, namespace: x, podSelector: {}, ingress: [] }',
    ]);
    expect(peersOf(policyOf(lab, 'x-a'), 'ingress')).toEqual([[ip('x-b')], [ip('x-c')]]);
    expect(policyOf(lab, 'x-b')).toEqual({ ingress: [], egress: null });
  });

  it('namespaceSelector and podSelector in one peer are AND; in two peers, OR', () => {
    const and = podsLab([
      '{ name: p, namespace: x, podSelector: { matchLabels: { pod: a } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: y } }, podSelector: { matchLabels: { pod: b } } }] }] }',
    ]);
    expect(peersOf(policyOf(and, 'x-a'), 'ingress')).toEqual([[ip('y-b')]]);
    const or = podsLab([
      '{ name: p, namespace: x, podSelector: { matchLabels: { pod: a } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: y } } }, { podSelector: { matchLabels: { pod: b } } }] }] }',
    ]);
    // y's pods, then pod=b of the policy's own namespace (a podSelector alone never leaves it).
    expect(peersOf(policyOf(or, 'x-a'), 'ingress')).toEqual([[ip('y-a'), ip('y-b'), ip('x-b')]]);
  });

  it('a rule whose peers select no pod allows nothing, and one without peers allows everyone', () => {
    const lab = podsLab([
      '{ name: p, namespace: x, podSelector: { matchLabels: { pod: a } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: zz } } }] }, { ports: [{ port: 80 }] }] }',
    ]);
    expect(policyOf(lab, 'x-a')!.ingress).toEqual([{ peers: null, ports: [{ proto: 'tcp', port: { from: 80, to: 80 } }], policy: 'x/p' }]);
  });

  it('a named port is the selected pod’s own port for ingress, the destination’s for egress', () => {
    const lab = podsLab([
      '{ name: in, namespace: x, podSelector: { matchLabels: { pod: a } }, ingress: [{ ports: [{ port: web }] }] }',
      '{ name: out, namespace: x, podSelector: { matchLabels: { pod: b } }, policyTypes: [Egress], egress: [{ to: [{ podSelector: { matchLabels: { pod: c } } }], ports: [{ port: web }] }] }',
    ]);
    expect(policyOf(lab, 'x-a')!.ingress).toEqual([
      { peers: null, ports: [{ proto: 'tcp', port: { from: 8080, to: 8080 } }], policy: 'x/in' },
    ]);
    expect(policyOf(lab, 'x-b')!.egress).toEqual([
      { peers: [{ cidr: ip('x-c'), except: [] }], ports: [{ proto: 'tcp', port: { from: 8080, to: 8080 } }], policy: 'x/out' },
    ]);
  });

  it('a service host checks egress-isolated pods after its DNAT; the pods let its VIP through', () => {
    const lab = podsLab(
      [
        '{ name: out, namespace: x, podSelector: { matchLabels: { pod: a } }, policyTypes: [Egress], egress: [{ to: [{ podSelector: { matchLabels: { pod: b } } }] }] }',
      ],
      ', nat: { services: [{ name: web, vip: 10.96.0.10, port: 80, backends: [x-b:8080] }] }',
    );
    expect(policyOf(lab, 'x-a')!.egress!.at(-1)).toEqual({
      peers: [{ cidr: '10.96.0.10/32', except: [] }],
      ports: [{ proto: 'tcp', port: { from: 80, to: 80 } }],
      policy: 'service 10.96.0.10:80/tcp',
    });
    const node = lab.hosts.find((h) => h.name === 'node')!;
    expect(node.serviceEgress).toEqual([
      { sources: [ip('x-a')], rules: [{ peers: [{ cidr: ip('x-b'), except: [] }], ports: null, policy: 'x/out' }] },
    ]);
  });
});

describe('NetworkPolicy rendering', () => {
  it('renders a pod’s chains and a service host’s check as this nft script', async () => {
    const lab = podsLab(
      [
        '{ name: in, namespace: x, podSelector: { matchLabels: { pod: a } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: b } } }, { ipBlock: { cidr: 10.0.0.0/8, except: [10.244.0.0/16] } }], ports: [{ port: 80 }, { protocol: UDP, port: 5000, endPort: 5010 }] }] }',
        '{ name: out, namespace: x, podSelector: { matchLabels: { pod: a } }, policyTypes: [Egress], egress: [{ to: [{ namespaceSelector: {} }], ports: [{ protocol: UDP }] }] }',
      ],
      ', nat: { services: [{ name: web, vip: 10.96.0.10, port: 80, backends: [x-b:8080] }] }',
    );
    const script = ['x-a', 'node']
      .map(
        (h) =>
          `# ${h}\n${
            renderPolicy(
              lab.name,
              lab.hosts.find((x) => x.name === h)!,
            )!.body
          }`,
      )
      .join('\n');
    await expect(script).toMatchFileSnapshot('golden/netpol.nft');
  });
});
