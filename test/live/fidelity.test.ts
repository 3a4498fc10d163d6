// The k8s-flat and docker-bridge labs behave as kube-proxy (iptables mode) and Docker do on the
// flows their own assertions do not look at: NodePort from a pod to another node, NodePort on every
// node address, the source a backend sees, externalTrafficPolicy Local, Docker's hairpin with and
// without its userland proxy.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { labFile, netlab, withoutProcess } from './cli.js';
import { sandboxSkipReason } from './sandbox.js';
import { addressOf, connect, reply, startServer, stopServers, type Result } from './tcp.js';

/** Backend name -> source addresses it saw, over every connection (each must succeed). */
function seen(results: Result[]): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const r of results) {
    expect(r.ok, r.ok ? '' : r.error).toBe(true);
    if (r.ok) (out[r.reply.name] ??= new Set()).add(addressOf(r.reply.peer));
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]));
}

describe.skipIf(sandboxSkipReason !== null)('kube-proxy and Docker fidelity', () => {
  afterAll(async () => {
    await stopServers();
  });

  it('k8s-flat: NodePort traffic is masqueraded to the node and answers on every node address', async () => {
    const file = labFile('k8s', withoutProcess(readFileSync('labs/k8s-flat.yaml', 'utf8'), 'http'));
    const applied = await netlab(['apply', file]);
    expect(applied.code, applied.all).toBe(0);
    await startServer('k8s-pod-a1', 'pod-a1', [8080]);
    await startServer('k8s-pod-b1', 'pod-b1', [8080]);

    // A pod to the NodePort of the other node: every connection answers (no reply from the pod's
    // own address), and each backend sees the node that forwarded it, as with kube-proxy.
    expect(seen(await connect('k8s-pod-a2', '198.51.100.2:30080', 10))).toEqual({
      'pod-a1': ['198.51.100.2'],
      'pod-b1': ['10.244.2.1'],
    });
    // An external client through a node port: the same-node backend sees the node, not the client.
    expect(seen(await connect('k8s-client', '198.51.100.1:30080', 10))).toEqual({
      'pod-a1': ['10.244.1.1'],
      'pod-b1': ['198.51.100.1'],
    });
    // Every local address of the node: its pod bridge address too.
    expect(Object.keys(seen(await connect('k8s-pod-a2', '10.244.1.1:30080', 4))).sort()).toEqual(['pod-a1', 'pod-b1']);
    // A ClusterIP keeps the pod's address (no masquerade) except for a pod reaching itself.
    expect(seen(await connect('k8s-pod-a2', '10.96.0.10:80', 4))).toEqual({ 'pod-a1': ['10.244.1.3'], 'pod-b1': ['10.244.1.3'] });
    expect(seen(await connect('k8s-pod-a1', '10.96.0.10:80', 4))).toEqual({ 'pod-a1': ['10.244.1.1'], 'pod-b1': ['10.244.1.2'] });

    // externalTrafficPolicy Local: the client's own address, only the node's own backend.
    writeFileSync(file, readFileSync(file, 'utf8').replace('node_port: 30080,', 'node_port: 30080, external_traffic_policy: Local,'));
    const local = await netlab(['apply', file]);
    expect(local.code, local.all).toBe(0);
    expect(seen(await connect('k8s-client', '198.51.100.1:30080', 4))).toEqual({ 'pod-a1': ['198.51.100.100'] });
    expect(seen(await connect('k8s-client', '198.51.100.2:30080', 4))).toEqual({ 'pod-b1': ['198.51.100.100'] });

    await stopServers();
    expect((await netlab(['destroy', file])).code).toBe(0);
  });

  it('docker-bridge: hairpin source with the userland proxy (default) and with userland_proxy: false', async () => {
    const file = labFile('docker', withoutProcess(readFileSync('labs/docker-bridge.yaml', 'utf8'), 'http'));
    expect((await netlab(['apply', file])).code).toBe(0);
    await startServer('docker-web', 'web', [80]);
    // Isolation: the internet host has a route to the containers, yet only the published port enters.
    expect((await connect('docker-internet', '172.17.0.2:80', 1, 800))[0]!.ok).toBe(false);
    expect((await reply('docker-internet', '203.0.113.1:8080')).name).toBe('web');
    expect(addressOf((await reply('docker-host', '172.17.0.2:80')).peer)).toBe('172.17.0.1'); // the host itself may
    // docker-proxy opens its own connection: every container is seen from the bridge's address.
    expect(addressOf((await reply('docker-db', '203.0.113.1:8080')).peer)).toBe('172.17.0.1');
    expect(addressOf((await reply('docker-web', '203.0.113.1:8080')).peer)).toBe('172.17.0.1');

    writeFileSync(file, readFileSync(file, 'utf8').replace('    nat:\n', '    nat:\n      userland_proxy: false\n'));
    const applied = await netlab(['apply', file]);
    expect(applied.code, applied.all).toBe(0);
    // Without it: other containers keep their address, a container reaching itself is masqueraded.
    expect(addressOf((await reply('docker-db', '203.0.113.1:8080')).peer)).toBe('172.17.0.3');
    expect(addressOf((await reply('docker-web', '203.0.113.1:8080')).peer)).toBe('172.17.0.1');
    expect(addressOf((await reply('docker-internet', '203.0.113.1:8080')).peer)).toBe('203.0.113.254');

    await stopServers();
    expect((await netlab(['destroy', file])).code).toBe(0);
  });
});
