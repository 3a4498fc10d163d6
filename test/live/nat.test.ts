// NAT and policy through the engine: the docker-bridge and k8s-flat labs applied by netlab,
// proven with real TCP connections between the lab's namespaces.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { labFile, netlab, withoutProcess } from './cli.js';
import { inNs, sandboxSkipReason } from './sandbox.js';
import { addressOf, connect, reply, startServer, stopServers } from './tcp.js';

interface PlanDoc {
  labs: { steps: { op: string; title: string }[] }[];
}

describe.skipIf(sandboxSkipReason !== null)('NAT and policy through the engine', () => {
  afterAll(async () => {
    await stopServers();
  });

  it('docker-bridge: masquerade out, a published port in, hairpin, and the host itself', async () => {
    // The test's own servers stand in for the lab's web servers: they answer with the address they see.
    const file = labFile('docker', withoutProcess(readFileSync('labs/docker-bridge.yaml', 'utf8'), 'http'));
    const applied = await netlab(['apply', file]);
    expect(applied.code, applied.all).toBe(0);
    await startServer('docker-internet', 'internet', [9000]);
    await startServer('docker-web', 'web', [80]);

    // Outbound: the internet sees the host's uplink address, not the container's.
    const out = await reply('docker-web', '203.0.113.254:9000');
    expect(addressOf(out.peer)).toBe('203.0.113.1');
    // Inbound: the published port reaches web, which sees the real client.
    const inbound = await reply('docker-internet', '203.0.113.1:8080');
    expect(inbound.name).toBe('web');
    expect(addressOf(inbound.peer)).toBe('203.0.113.254');
    // Hairpin: a container (and web itself) reach the host's published port.
    expect((await reply('docker-db', '203.0.113.1:8080')).name).toBe('web');
    expect((await reply('docker-web', '203.0.113.1:8080')).name).toBe('web');
    // From the host namespace itself (output chain).
    expect((await reply('docker-host', '203.0.113.1:8080')).name).toBe('web');
    // The unpublished port is not reachable from outside.
    const closed = await connect('docker-internet', '203.0.113.1:8081', 1, 800);
    expect(closed[0]!.ok).toBe(false);

    // Re-apply is 0 steps; moving the published port is one nft step, in place.
    expect((await netlab(['apply', file])).stdout).toContain('no changes');
    writeFileSync(file, readFileSync(file, 'utf8').replace('port: 8080, to: web:80', 'port: 8081, to: web:80'));
    const planned = await netlab(['plan', '--json', file]);
    expect(planned.code).toBe(2);
    const steps = (JSON.parse(planned.stdout) as PlanDoc).labs[0]!.steps;
    expect(steps.map((s) => `${s.op} ${s.title}`)).toEqual(['modify nft table inet netlab_docker in docker-host']);
    expect((await netlab(['apply', file])).code).toBe(0);
    expect((await reply('docker-internet', '203.0.113.1:8081')).name).toBe('web');
    expect((await connect('docker-internet', '203.0.113.1:8080', 1, 800))[0]!.ok).toBe(false);

    await stopServers();
    const destroyed = await netlab(['destroy', file]);
    expect(destroyed.code, destroyed.all).toBe(0);
    const tables = await inNs('docker-host', 'true', [], { reject: false });
    expect(tables.exitCode).not.toBe(0);
  });

  it('k8s-flat: pod to pod across nodes without NAT, a service VIP spread over every backend, a deny rule', async () => {
    const file = labFile('k8s', withoutProcess(readFileSync('labs/k8s-flat.yaml', 'utf8'), 'http'));
    const applied = await netlab(['apply', file]);
    expect(applied.code, applied.all).toBe(0);
    await startServer('k8s-pod-a1', 'pod-a1', [8080]);
    await startServer('k8s-pod-b1', 'pod-b1', [8080]);

    // Pod to pod across nodes: no NAT, the source address is the pod's own.
    const direct = await reply('k8s-pod-a2', '10.244.2.2:8080');
    expect(direct.name).toBe('pod-b1');
    expect(addressOf(direct.peer)).toBe('10.244.1.3');

    // Service: N connections to the VIP hit every backend, round-robin.
    const results = await connect('k8s-pod-a2', '10.96.0.10:80', 20);
    const hits: Record<string, number> = {};
    for (const r of results) if (r.ok) hits[r.reply.name] = (hits[r.reply.name] ?? 0) + 1;
    expect(hits).toEqual({ 'pod-a1': 10, 'pod-b1': 10 });
    // A pod on the other node reaches the service too.
    expect((await connect('k8s-pod-b1', '10.96.0.10:80', 4)).every((r) => r.ok)).toBe(true);

    // A deny rule blocks exactly what it names: pod-a2 -> pod-b1:8080 through node1.
    const text = readFileSync(file, 'utf8').replace(
      '    routes:\n      - { to: 10.244.2.0/24, via: 198.51.100.2 }',
      '    routes:\n      - { to: 10.244.2.0/24, via: 198.51.100.2 }\n    firewall:\n      rules:\n        - { action: deny, from: pod-a2, to: pod-b1, proto: tcp, port: 8080 }',
    );
    writeFileSync(file, text);
    const denied = await netlab(['apply', file]);
    expect(denied.code, denied.all).toBe(0);
    expect((await connect('k8s-pod-a2', '10.244.2.2:8080', 1, 800))[0]!.ok).toBe(false);
    expect((await reply('k8s-pod-a1', '10.244.2.2:8080')).name).toBe('pod-b1');
    expect((await reply('k8s-pod-a2', '10.244.1.2:8080')).name).toBe('pod-a1');

    await stopServers();
    expect((await netlab(['destroy', file])).code).toBe(0);
  });
});
