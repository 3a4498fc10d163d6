// NetworkPolicies in a lab across machines: every machine's slice must give its pods exactly the
// policies they get with the whole lab on one machine, peers on other machines included.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLabText } from '../../src/lab/index.js';
import type { Lab } from '../../src/lab/types.js';
import { sliceLab, type Underlay } from '../../src/machines/slice.js';
import { UNREACHED_MACHINES } from '../fixtures/span-lab.js';

// Namespaces x and y; x's pod a admits only y's pods b on its named port, y is default-deny, and
// x's pod b may send only to an ipBlock with an except and to pods' named port "http"; the node on
// m1 DNATs a service VIP, which pods on every machine reach and which checks their egress.
const LAB = `name: np
${UNREACHED_MACHINES}namespaces:
  x: { labels: { team: x } }
  y: { labels: { team: y } }
network_policies:
  - file: policies.yaml
  - name: deny-all
    namespace: y
    podSelector: {}
    policyTypes: [Ingress]
  - name: b-out
    namespace: x
    podSelector: { matchLabels: { app: b } }
    policyTypes: [Egress]
    egress:
      - to: [{ ipBlock: { cidr: 10.0.0.0/24, except: [10.0.0.13/32] } }]
        ports: [{ port: 53, protocol: UDP }]
      - to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: a } } }]
        ports: [{ port: http }]
hosts:
  sw: { on: m1, interfaces: { br0: { kind: bridge } } }
  xa: { on: m1, namespace: x, labels: { app: a }, ports: [{ name: http, port: 8080 }], interfaces: { eth0: { addresses: [10.0.0.11/24] } } }
  xb: { on: m2, namespace: x, labels: { app: b }, interfaces: { eth0: { addresses: [10.0.0.12/24, fd00::12/64] } } }
  ya: { on: m3, namespace: y, labels: { app: a }, ports: [{ name: http, port: 9090 }], interfaces: { eth0: { addresses: [10.0.0.13/24] } } }
  yb: { on: m2, namespace: y, labels: { app: b }, interfaces: { eth0: { addresses: [10.0.0.14/24] } } }
  ext: { on: m3, interfaces: { eth0: { addresses: [10.0.0.99/24] } } }
  node:
    on: m1
    interfaces: { eth0: { addresses: [10.0.0.1/24] } }
    nat: { services: [{ name: web, vip: 10.96.0.10, port: 80, backends: [xa:8080, ya:9090] }] }
links:
  - { a: xa:eth0, b: sw:br0 }
  - { a: xb:eth0, b: sw:br0 }
  - { a: ya:eth0, b: sw:br0 }
  - { a: yb:eth0, b: sw:br0 }
  - { a: ext:eth0, b: sw:br0 }
  - { a: node:eth0, b: sw:br0 }
`;

const MANIFEST = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: a-from-y-b, namespace: x }
spec:
  podSelector: { matchLabels: { app: a } }
  policyTypes: [Ingress]
  ingress:
    - from: [{ namespaceSelector: { matchLabels: { team: y } }, podSelector: { matchLabels: { app: b } } }]
      ports: [{ port: http }]
`;

const underlays = new Map<string, Underlay>([
  ['m1', { address: '192.0.2.1', dev: 'eth0', mtu: 1500 }],
  ['m2', { address: '192.0.2.2', dev: 'eth0', mtu: 1500 }],
  ['m3', { address: '192.0.2.3', dev: 'eth0', mtu: 1500 }],
]);

function load(file: string, text: string) {
  const r = loadLabText(file, text);
  expect(r.issues).toEqual([]);
  return { lab: r.lab!, raw: r.raw! };
}

const policiesOf = (lab: Lab, name: string) => {
  const h = lab.hosts.find((x) => x.name === name)!;
  return { podPolicy: h.podPolicy, serviceEgress: h.serviceEgress };
};

describe('NetworkPolicies in a lab across machines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-np-'));
  writeFileSync(join(dir, 'policies.yaml'), MANIFEST);
  const full = load(join(dir, 'np.yaml'), LAB);
  const oneMachine = load(join(dir, 'one.yaml'), LAB.replace(/machines:[\s\S]*?namespaces:/, 'namespaces:').replace(/ on: m\d,?/g, ''));
  const { slices } = sliceLab(full.raw, full.lab, underlays);

  it('gives every pod on every machine the policy it gets on one machine', () => {
    const seen: string[] = [];
    for (const [machine, slice] of slices) {
      // The slice goes to its machine as text, without the manifest file beside it.
      const sliced = load(join(dir, `slice-${machine}`), JSON.stringify(slice)).lab;
      for (const h of full.lab.hosts.filter((x) => x.machine === machine)) {
        expect(policiesOf(sliced, h.name), `${h.name} on ${machine}`).toEqual(policiesOf(oneMachine.lab, h.name));
        if (h.podPolicy) seen.push(h.name);
      }
    }
    // Every pod is selected by some policy, so the comparison is not of empty policies.
    expect(seen.sort()).toEqual(['xa', 'xb', 'ya', 'yb']);
    // The peers on other machines are in the rules by address: xa admits yb (m2) on its port 8080.
    // xb (m2) may send to the VIP of a service DNATed on m1, and m1 checks xb's egress after the DNAT.
    expect(policiesOf(oneMachine.lab, 'xb').podPolicy!.egress!.at(-1)!.policy).toBe('service 10.96.0.10:80/tcp');
    expect(policiesOf(oneMachine.lab, 'node').serviceEgress!.map((e) => e.sources)).toEqual([['10.0.0.12/32', 'fd00::12/128']]);
    expect(policiesOf(oneMachine.lab, 'xa').podPolicy!.ingress).toEqual([
      { peers: [{ cidr: '10.0.0.14/32', except: [] }], ports: [{ proto: 'tcp', port: { from: 8080, to: 8080 } }], policy: 'x/a-from-y-b' },
    ]);
  });

  it('carries the pods of other machines as peers only, and no manifest file', () => {
    const m2 = slices.get('m2')!;
    expect(Object.keys(m2.hosts).sort()).toEqual(['overlay', 'xb', 'yb']);
    expect(m2.pods_elsewhere).toEqual({
      xa: { namespace: 'x', labels: { app: 'a' }, addresses: ['10.0.0.11'], ports: [{ name: 'http', port: 8080 }] },
      ya: { namespace: 'y', labels: { app: 'a' }, addresses: ['10.0.0.13'], ports: [{ name: 'http', port: 9090 }] },
    });
    expect(m2.network_policies!.map((p) => ('file' in p ? p.file : `${p.namespace}/${p.name}`))).toEqual([
      'x/a-from-y-b',
      'y/deny-all',
      'x/b-out',
    ]);
  });

  it('refuses pods_elsewhere in a lab file with machines: only slices carry it', () => {
    const r = loadLabText(join(dir, 'np.yaml'), LAB.replace('hosts:', 'pods_elsewhere: { q: { addresses: [10.0.0.5] } }\nhosts:'));
    expect(r.issues.map((i) => `${i.line}:${i.col} ${i.message}`)).toEqual([
      expect.stringMatching(/^\d+:1 pods_elsewhere is written by the coordinator/),
    ]);
  });

  it('refuses a pod elsewhere that is also a host of the slice', () => {
    const m2 = structuredClone(slices.get('m2')!);
    m2.pods_elsewhere!.xb = { addresses: ['10.0.0.5'] };
    const r = loadLabText(join(dir, 'slice'), JSON.stringify(m2));
    expect(r.issues.map((i) => i.message)).toEqual([expect.stringMatching(/pods_elsewhere names host "xb" of this lab/)]);
  });
});
