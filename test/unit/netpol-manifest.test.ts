// NetworkPolicies read from Kubernetes manifests (`network_policies: [{ file: PATH }]`): `---`
// documents and `kind: List`, issues at the manifest's own file:line:col, and paths that leave the
// lab's directory tree (by `..` or by a symlink) refused.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadLabText } from '../../src/lab/index.js';

let root = '';
let labDir = '';
beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'netlab-manifest-')));
  labDir = join(root, 'lab');
  mkdirSync(labDir);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function load(files: string[]) {
  const text = `name: np
hosts:
  node: { interfaces: { cbr0: { kind: bridge, addresses: [10.244.1.1/24] } } }
  a: { namespace: x, labels: { pod: a }, interfaces: { eth0: { addresses: [10.244.1.2/24] } } }
  b: { namespace: x, labels: { pod: b }, interfaces: { eth0: { addresses: [10.244.1.3/24] } } }
links: [{ a: a:eth0, b: node:cbr0 }, { a: b:eth0, b: node:cbr0 }]
network_policies:
${files.map((f) => `  - file: ${f}`).join('\n')}
`;
  return loadLabText(join(labDir, 'np.yaml'), text);
}
const where = (r: ReturnType<typeof load>) => r.issues.map((i) => `${i.file}:${i.line}:${i.col} ${i.path}: ${i.message}`);

const POLICY = (name: string, spec: string) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: ${name}, namespace: x }
spec: ${spec}
`;

describe('NetworkPolicy manifests', () => {
  it('reads every `---` document and every item of a kind: List', () => {
    writeFileSync(
      join(labDir, 'docs.yaml'),
      `${POLICY('deny', '{ podSelector: {}, policyTypes: [Ingress] }')}---\n${POLICY('egress', '{ podSelector: { matchLabels: { pod: b } }, policyTypes: [Egress] }')}---\n`,
    );
    writeFileSync(
      join(labDir, 'list.json'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'networking.k8s.io/v1',
            kind: 'NetworkPolicy',
            metadata: { name: 'from-b', namespace: 'x' },
            spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] },
          },
        ],
      }),
    );
    const r = load(['docs.yaml', 'list.json']);
    expect(where(r)).toEqual([]);
    const a = r.lab!.hosts.find((h) => h.name === 'a')!.podPolicy;
    const b = r.lab!.hosts.find((h) => h.name === 'b')!.podPolicy;
    expect(a).toEqual({ ingress: [{ peers: [{ cidr: '10.244.1.3/32', except: [] }], ports: null, policy: 'x/from-b' }], egress: null });
    expect(b).toEqual({ ingress: [], egress: [] });
    expect(r.lab!.inputs?.map((i) => i.file)).toEqual([join(labDir, 'docs.yaml'), join(labDir, 'list.json')]);
  });

  it('points its issues into the manifest, at its own lines and columns', () => {
    writeFileSync(
      join(labDir, 'bad.yaml'),
      `${POLICY('ok', '{ podSelector: {} }')}---
apiVersion: v1
kind: List
items:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: { name: bad, namespace: x }
    spec:
      podSelector: {}
      ingress:
        - ports: [{ port: 80, endPort: 70 }]
---
${POLICY('typo', '{ podSelector: {}, ingres: [] }')}---
apiVersion: v1
kind: Service
metadata: { name: web }
`,
    );
    const f = join(labDir, 'bad.yaml');
    expect(where(load(['bad.yaml']))).toEqual([
      `${f}:15:40 items[0].spec.ingress[0].ports[0].endPort: endPort 70 is below port 80`,
      `${f}:20:26 spec.ingres: unknown key "ingres" (did you mean "ingress"?)`,
      `${f}:22:13 apiVersion: apiVersion must be networking.k8s.io/v1 (a NetworkPolicy), not "v1"`,
    ]);
  });

  it('refuses a path out of the lab’s directory tree, by `..` or through a symlink', () => {
    writeFileSync(join(root, 'outside.yaml'), POLICY('p', '{ podSelector: {} }'));
    symlinkSync('../outside.yaml', join(labDir, 'link.yaml'));
    const out = join(root, 'outside.yaml');
    expect(where(load(['../outside.yaml', 'link.yaml', 'missing.yaml']))).toEqual([
      `${join(labDir, 'np.yaml')}:8:11 network_policies[0].file: manifest "../outside.yaml": it resolves to ${out}, outside the lab's directory ${labDir}: a manifest must be a file in the lab's directory tree`,
      `${join(labDir, 'np.yaml')}:9:11 network_policies[1].file: manifest "link.yaml": it resolves to ${out}, outside the lab's directory ${labDir}: a manifest must be a file in the lab's directory tree`,
      `${join(labDir, 'np.yaml')}:10:11 network_policies[2].file: manifest "missing.yaml": no such file`,
    ]);
  });

  it('follows a symlink that stays inside the tree', () => {
    mkdirSync(join(labDir, 'policies'));
    writeFileSync(join(labDir, 'policies', 'deny.yaml'), POLICY('deny', '{ podSelector: {} }'));
    symlinkSync('policies/deny.yaml', join(labDir, 'deny.yaml'));
    const r = load(['deny.yaml']);
    expect(where(r)).toEqual([]);
    expect(r.lab!.hosts.find((h) => h.name === 'a')!.podPolicy).toEqual({ ingress: [], egress: null });
  });
});
