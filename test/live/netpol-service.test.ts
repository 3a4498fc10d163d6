// Egress NetworkPolicy through a service VIP, as Kubernetes defines it: the pod's egress is checked
// after the service's DNAT, against the backend pod's address and port. So allowing the backend
// allows reaching it through the VIP, while an allow naming the VIP address or the service port
// (not the backend's) does not. Pod x-a is the egress-isolated client; x-d has no policy and is
// the control that the service itself works in every step.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { netlab } from './cli.js';
import { sandboxSkipReason } from './sandbox.js';

const VIP_B = '10.96.0.10'; // service web-b: backend x-b:8080
const VIP_C = '10.96.0.11'; // service web-c: backend x-c:8080
const IP = { a: '10.244.1.2', b: '10.244.1.3', c: '10.244.1.4', d: '10.244.1.5' } as const;

function labText(egress: object[], expect: string[]): string {
  const pod = (name: keyof typeof IP) => ({
    namespace: 'x',
    labels: { pod: name },
    interfaces: { eth0: { addresses: [`${IP[name]}/24`] } },
    routes: [{ to: 'default', via: '10.244.1.1' }],
  });
  const lab = {
    name: 'npsvc',
    hosts: {
      node: {
        // Replies from a backend on the same bridge must pass the node's conntrack to be un-DNATed.
        sysctls: { 'net.ipv4.ip_forward': 1, 'net.bridge.bridge-nf-call-iptables': 1 },
        interfaces: { cbr0: { kind: 'bridge', addresses: ['10.244.1.1/24'] } },
        nat: {
          services: [
            { name: 'web-b', vip: VIP_B, port: 80, backends: ['x-b:8080'] },
            { name: 'web-c', vip: VIP_C, port: 80, backends: ['x-c:8080'] },
          ],
        },
      },
      'x-a': pod('a'),
      'x-b': pod('b'),
      'x-c': pod('c'),
      'x-d': pod('d'),
    },
    links: (['a', 'b', 'c', 'd'] as const).map((p) => ({ a: `x-${p}:eth0`, b: 'node:cbr0' })),
    network_policies: [{ name: 'client', namespace: 'x', podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress }],
    expect,
  };
  return `${JSON.stringify(lab, null, 2)}\n`;
}

const STEPS: { name: string; egress: object[]; expect: string[] }[] = [
  {
    name: 'an egress allow to the backend pods allows them through the VIP, and only them',
    egress: [{ to: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
    expect: [`x-a -> ${VIP_B}:80 reaches [x-b]`, `x-a -> ${VIP_C}:80 tcp unreachable`, `x-d -> ${VIP_C}:80 reaches [x-c]`],
  },
  {
    name: 'an ipBlock of the VIP address alone does not allow the service',
    egress: [{ to: [{ ipBlock: { cidr: `${VIP_B}/32` } }] }],
    expect: [`x-a -> ${VIP_B}:80 tcp unreachable`, `x-d -> ${VIP_B}:80 reaches [x-b]`],
  },
  {
    name: "a port allow is checked against the backend's port, not the service's",
    egress: [{ ports: [{ port: 80 }] }],
    expect: [`x-a -> ${VIP_B}:80 tcp unreachable`, `x-d -> ${VIP_B}:80 reaches [x-b]`],
  },
  {
    name: "an ipBlock covering the backend, with the backend's port, allows the service",
    egress: [{ to: [{ ipBlock: { cidr: `${IP.b}/32` } }], ports: [{ port: 8080, protocol: 'TCP' }] }],
    expect: [`x-a -> ${VIP_B}:80 reaches [x-b]`, `x-a -> ${VIP_C}:80 tcp unreachable`],
  },
];

describe.skipIf(sandboxSkipReason !== null)('NetworkPolicy egress through a service VIP', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-npsvc-'));
  const file = join(dir, 'npsvc.yaml');

  afterAll(async () => {
    await netlab(['destroy', '--yes', file]);
  }, 120_000);

  for (const step of STEPS)
    it(
      step.name,
      async () => {
        writeFileSync(file, labText(step.egress, step.expect));
        const applied = await netlab(['apply', '--yes', file]);
        expect(applied.code, applied.all).toBe(0);
        const tested = await netlab(['test', file]);
        expect(tested.code, tested.all).toBe(0);
      },
      120_000,
    );
});
