// Live: the rendered policy loaded with nft into hand-built namespaces (docker-bridge and
// k8s-flat topologies), checked with real TCP connections. Runs only inside the sandbox.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bridgesNeedingHairpin,
  localnetInterfaces,
  deleteTableScript,
  renderPolicy,
  replaceTableScript,
  rulesFromListing,
  type RenderedPolicy,
} from '../../src/model/policy.js';
import type { Host, Policy, Service } from '../../src/lab/types.js';
import { bridge, mkHost as attachedHost, pos, veth } from '../fixtures/hosts.js';

/** A host attached to a namespace the test made by hand. */
const mkHost = (name: string, ns: string, interfaces: Host['interfaces'], p: Policy, ipv6 = false) =>
  attachedHost(name, interfaces, p, { ns, ipv6 });
import { inNs, sandboxSkipReason, sh } from './sandbox.js';
import { addressOf, connect, reply, servers, startServer, type Result } from './tcp.js';

const LAB = 'pol';
const TABLE = 'netlab_pol';
const DOCKER = ['pol-host', 'pol-web', 'pol-db', 'pol-inet'];
const K8S = ['pol-node1', 'pol-node2', 'pol-pa1', 'pol-pa2', 'pol-pb1'];

function dockerHost(extra: Partial<Policy> = {}, publish81 = false): Host {
  return mkHost(
    'host',
    'pol-host',
    [
      bridge('host', 'docker0', ['172.17.0.1/16', 'fd00:17::1/64']),
      veth('host', 'uplink', ['203.0.113.1/24', 'fd00:1::1/64'], { host: 'internet', ifname: 'eth0' }),
      veth('host', 'vweb', [], { host: 'web', ifname: 'eth0' }, 'docker0'),
      veth('host', 'vdb', [], { host: 'db', ifname: 'eth0' }, 'docker0'),
    ],
    {
      snat: [
        { from: '172.17.0.0/16', out: 'uplink', to: null, pos: pos('nat.masquerade[0]') },
        { from: 'fd00:17::/64', out: 'uplink', to: null, pos: pos('nat.masquerade[1]') },
      ],
      dnat: [
        {
          proto: 'tcp',
          port: { from: 8080, to: 8080 },
          toAddress: '172.17.0.2',
          toPort: 80,
          in: null,
          address: null,
          pos: pos('nat.publish[0]'),
        },
        {
          proto: 'tcp',
          port: { from: 8080, to: 8080 },
          toAddress: 'fd00:17::2',
          toPort: 80,
          in: null,
          address: null,
          pos: pos('nat.publish[1]'),
        },
        ...(publish81
          ? [
              {
                proto: 'tcp' as const,
                port: { from: 8081, to: 8081 },
                toAddress: '172.17.0.2',
                toPort: 81,
                in: null,
                address: null,
                pos: pos('nat.publish[2]'),
              },
            ]
          : []),
      ],
      services: [],
      defaultAction: 'allow',
      rules: [],
      ...extra,
    },
    true,
  );
}

function webService(backends: { address: string; port: number }[]): Service {
  return { name: 'web', vip: '10.96.0.10', proto: 'tcp', port: 80, backends, mode: 'round-robin', pos: pos('nat.services[0]') };
}
function k8sNode1(backends: { address: string; port: number }[]): Host {
  return mkHost(
    'node1',
    'pol-node1',
    [
      bridge('node1', 'cbr0', ['10.244.1.1/24']),
      veth('node1', 'eth0', ['198.51.100.1/24'], { host: 'node2', ifname: 'eth0' }),
      veth('node1', 'va1', [], { host: 'pod-a1', ifname: 'eth0' }, 'cbr0'),
      veth('node1', 'va2', [], { host: 'pod-a2', ifname: 'eth0' }, 'cbr0'),
    ],
    { snat: [], dnat: [], services: [webService(backends)], defaultAction: 'allow', rules: [] },
  );
}
/** Every construct the renderer has, in one host (the same as in test/unit/policy.test.ts). */
function kitchenSink(): Host {
  const P = (path: string) => pos(path);
  return mkHost(
    'sink',
    'pol-sink',
    [
      bridge('sink', 'br0', ['172.18.0.1/16', 'fd00:18::1/64']),
      veth('sink', 'up0', ['192.0.2.1/24', '2001:db8::1/64'], { host: 'x', ifname: 'eth0' }),
    ],
    {
      snat: [
        { from: '172.18.0.0/16', out: 'up0', to: null, pos: P('snat[0]') },
        { from: '10.0.0.0/24', out: null, to: '192.0.2.10', pos: P('snat[1]') },
        { from: 'fd00:18::/64', out: 'up0', to: '2001:db8::10', pos: P('snat[2]') },
      ],
      dnat: [
        {
          proto: 'tcp',
          port: { from: 8080, to: 8080 },
          toAddress: '172.18.0.2',
          toPort: 80,
          in: null,
          address: null,
          pos: P('publish[0]'),
        },
        {
          proto: 'udp',
          port: { from: 5000, to: 5010 },
          toAddress: '172.18.0.3',
          toPort: 5000,
          in: 'up0',
          address: '192.0.2.1',
          pos: P('publish[1]'),
        },
        {
          proto: 'tcp',
          port: { from: 7000, to: 7002 },
          toAddress: '172.18.0.3',
          toPort: 9000,
          in: null,
          address: '192.0.2.1',
          pos: P('publish[2]'),
        },
        {
          proto: 'tcp',
          port: { from: 8443, to: 8443 },
          toAddress: 'fd00:18::2',
          toPort: 443,
          in: null,
          address: null,
          pos: P('publish[3]'),
        },
      ],
      services: [
        {
          name: 'rr',
          vip: '10.96.0.10',
          proto: 'tcp',
          port: 80,
          backends: [
            { address: '172.18.0.5', port: 8080 },
            { address: '10.244.2.2', port: 8080 },
          ],
          mode: 'round-robin',
          pos: P('services[0]'),
        },
        {
          name: 'rnd',
          vip: '10.96.0.11',
          proto: 'udp',
          port: 53,
          backends: [
            { address: '10.244.1.2', port: 53 },
            { address: '10.244.2.2', port: 53 },
            { address: '10.244.3.2', port: 53 },
          ],
          mode: 'random',
          pos: P('services[1]'),
        },
        {
          name: 'one',
          vip: '10.96.0.12',
          proto: 'tcp',
          port: 443,
          backends: [{ address: '10.244.1.9', port: 8443 }],
          mode: 'round-robin',
          pos: P('services[2]'),
        },
        { name: 'none', vip: '10.96.0.13', proto: 'tcp', port: 80, backends: [], mode: 'round-robin', pos: P('services[3]') },
        { name: 'none-udp', vip: '10.96.0.13', proto: 'udp', port: 53, backends: [], mode: 'round-robin', pos: P('services[4]') },
        {
          name: 'v6',
          vip: 'fd00:96::10',
          proto: 'tcp',
          port: 80,
          backends: [
            { address: 'fd00:18::5', port: 8080 },
            { address: 'fd00:18::6', port: 8080 },
          ],
          mode: 'round-robin',
          pos: P('services[5]'),
        },
      ],
      defaultAction: 'deny',
      rules: [
        {
          action: 'allow',
          from: ['10.0.1.0/24', '10.0.2.0/24', 'fd00:1::/64'],
          to: ['172.18.0.2/32', 'fd00:18::2/128'],
          proto: 'tcp',
          port: { from: 80, to: 80 },
          pos: P('rules[0]'),
        },
        { action: 'deny', from: ['10.0.2.0/24'], to: [], proto: null, port: null, pos: P('rules[1]') },
        { action: 'allow', from: [], to: [], proto: 'icmp', port: null, pos: P('rules[2]') },
        { action: 'allow', from: [], to: ['172.18.0.3'], proto: 'udp', port: { from: 5000, to: 5010 }, pos: P('rules[3]') },
        { action: 'deny', from: [], to: [], proto: null, port: { from: 23, to: 23 }, pos: P('rules[4]') },
        { action: 'allow', from: ['10.9.0.0/16'], to: [], proto: null, port: null, pos: P('rules[5]') },
      ],
    },
    true,
  );
}

const POD_A1 = { address: '10.244.1.2', port: 8080 };
const POD_B1 = { address: '10.244.2.2', port: 8080 };

// ---- helpers ----

const addr = addressOf;

async function nft(ns: string, script: string) {
  return sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script });
}
async function listing(ns: string): Promise<string> {
  return (await inNs(ns, 'nft', ['list', 'table', 'inet', TABLE])).stdout;
}
/** Loads the host's policy and checks the kernel's listing gives back the rendered digests. */
async function apply(host: Host): Promise<RenderedPolicy> {
  const r = renderPolicy(LAB, host)!;
  await nft(host.ns, replaceTableScript(r));
  expect(rulesFromListing(await listing(host.ns))).toEqual(r.rules);
  return r;
}
async function run(ns: string, ...cmds: string[][]) {
  for (const c of cmds) await sh('ip', ['-n', ns, ...c]);
}
async function sysctl(ns: string, key: string, value: string) {
  await inNs(ns, 'sysctl', ['-qw', `${key}=${value}`]);
}
/** Ports of a bridge, by kernel name. */
async function portsOf(ns: string, br: string): Promise<string[]> {
  const r = await inNs(ns, 'ip', ['-j', 'link', 'show', 'master', br]);
  return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname);
}
async function setHairpin(ns: string, host: Host, on: boolean) {
  for (const br of bridgesNeedingHairpin(host))
    for (const port of await portsOf(ns, br)) await inNs(ns, 'bridge', ['link', 'set', 'dev', port, 'hairpin', on ? 'on' : 'off']);
}
async function ourNamespaces(): Promise<string[]> {
  const r = await sh('ip', ['-j', 'netns', 'list']);
  const list = r.stdout.trim() ? (JSON.parse(r.stdout) as { name: string }[]) : [];
  return list.map((n) => n.name).filter((n) => n.startsWith('pol-'));
}

async function buildDocker() {
  for (const ns of DOCKER) {
    await sh('ip', ['netns', 'add', ns]);
    await run(ns, ['link', 'set', 'lo', 'up']);
  }
  await run(
    'pol-host',
    ['link', 'add', 'name', 'docker0', 'type', 'bridge'],
    ['addr', 'add', '172.17.0.1/16', 'dev', 'docker0'],
    ['addr', 'add', 'fd00:17::1/64', 'dev', 'docker0', 'nodad'],
    ['link', 'set', 'docker0', 'up'],
  );
  for (const [ns, port, v4, v6] of [
    ['pol-web', 'vweb', '172.17.0.2/16', 'fd00:17::2/64'],
    ['pol-db', 'vdb', '172.17.0.3/16', 'fd00:17::3/64'],
  ] as const) {
    await sh('ip', ['link', 'add', 'name', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', 'pol-host']);
    await run('pol-host', ['link', 'set', port, 'master', 'docker0', 'up']);
    await run(
      ns,
      ['addr', 'add', v4, 'dev', 'eth0'],
      ['addr', 'add', v6, 'dev', 'eth0', 'nodad'],
      ['link', 'set', 'eth0', 'up'],
      ['route', 'add', 'default', 'via', '172.17.0.1'],
      ['-6', 'route', 'add', 'default', 'via', 'fd00:17::1'],
    );
  }
  await sh('ip', ['link', 'add', 'name', 'uplink', 'netns', 'pol-host', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'pol-inet']);
  await run(
    'pol-host',
    ['addr', 'add', '203.0.113.1/24', 'dev', 'uplink'],
    ['addr', 'add', 'fd00:1::1/64', 'dev', 'uplink', 'nodad'],
    ['link', 'set', 'uplink', 'up'],
  );
  await run(
    'pol-inet',
    ['addr', 'add', '203.0.113.254/24', 'dev', 'eth0'],
    ['addr', 'add', 'fd00:1::254/64', 'dev', 'eth0', 'nodad'],
    ['link', 'set', 'eth0', 'up'],
  );
  await sysctl('pol-host', 'net.ipv4.ip_forward', '1');
  await sysctl('pol-host', 'net.ipv6.conf.all.forwarding', '1');
  // What the engine must set when a lab depends on it (design notes, section 5).
  await sysctl('pol-host', 'net.bridge.bridge-nf-call-iptables', '1');
  await sysctl('pol-host', 'net.bridge.bridge-nf-call-ip6tables', '1');
  await startServer('pol-web', 'web', [80, 81]);
  await startServer('pol-db', 'db', [5432]);
  await startServer('pol-inet', 'internet', [9000]);
}

async function buildK8s() {
  for (const ns of K8S) {
    await sh('ip', ['netns', 'add', ns]);
    await run(ns, ['link', 'set', 'lo', 'up']);
  }
  for (const [node, cidr] of [
    ['pol-node1', '10.244.1.1/24'],
    ['pol-node2', '10.244.2.1/24'],
  ] as const) {
    await run(node, ['link', 'add', 'name', 'cbr0', 'type', 'bridge'], ['addr', 'add', cidr, 'dev', 'cbr0'], ['link', 'set', 'cbr0', 'up']);
    await sysctl(node, 'net.ipv4.ip_forward', '1');
    await sysctl(node, 'net.bridge.bridge-nf-call-iptables', '1');
  }
  await sh('ip', ['link', 'add', 'name', 'eth0', 'netns', 'pol-node1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'pol-node2']);
  await run(
    'pol-node1',
    ['addr', 'add', '198.51.100.1/24', 'dev', 'eth0'],
    ['link', 'set', 'eth0', 'up'],
    ['route', 'add', '10.244.2.0/24', 'via', '198.51.100.2'],
    // A node has a default route: without one, its own connections to the VIP fail before the output chain.
    ['route', 'add', 'default', 'via', '198.51.100.2'],
  );
  await run(
    'pol-node2',
    ['addr', 'add', '198.51.100.2/24', 'dev', 'eth0'],
    ['link', 'set', 'eth0', 'up'],
    ['route', 'add', '10.244.1.0/24', 'via', '198.51.100.1'],
  );
  for (const [pod, node, port, cidr, gw] of [
    ['pol-pa1', 'pol-node1', 'va1', '10.244.1.2/24', '10.244.1.1'],
    ['pol-pa2', 'pol-node1', 'va2', '10.244.1.3/24', '10.244.1.1'],
    ['pol-pb1', 'pol-node2', 'vb1', '10.244.2.2/24', '10.244.2.1'],
  ] as const) {
    await sh('ip', ['link', 'add', 'name', 'eth0', 'netns', pod, 'type', 'veth', 'peer', 'name', port, 'netns', node]);
    await run(node, ['link', 'set', port, 'master', 'cbr0', 'up']);
    await run(pod, ['addr', 'add', cidr, 'dev', 'eth0'], ['link', 'set', 'eth0', 'up'], ['route', 'add', 'default', 'via', gw]);
  }
  await startServer('pol-pa1', 'pod-a1', [8080]);
  await startServer('pol-pb1', 'pod-b1', [8080]);
}

async function cleanup() {
  for (const p of servers.splice(0)) {
    p.stdin?.end();
    const t = setTimeout(() => p.kill('SIGKILL'), 3000);
    await p;
    clearTimeout(t);
  }
  for (const ns of await ourNamespaces()) await sh('ip', ['netns', 'del', ns]);
}

function counts(results: Result[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const r of results) {
    const k = r.ok ? r.reply.name : `error:${r.error}`;
    c[k] = (c[k] ?? 0) + 1;
  }
  return c;
}

describe.skipIf(sandboxSkipReason !== null)('policy rendered to nft, live', () => {
  beforeAll(async () => {
    expect(await ourNamespaces()).toEqual([]);
    await buildDocker();
    await buildK8s();
  });
  afterAll(async () => {
    await cleanup();
    expect(await ourNamespaces()).toEqual([]);
  });

  describe('docker bridge model', () => {
    const host = dockerHost();
    beforeAll(async () => {
      await apply(host);
    });

    it('(a) a container reaches the internet, seen as the host uplink address (masquerade)', async () => {
      for (const ns of ['pol-web', 'pol-db']) {
        const r = await reply(ns, '203.0.113.254:9000');
        expect(r.name).toBe('internet');
        expect(addr(r.peer)).toBe('203.0.113.1');
      }
      // And over IPv6.
      expect(addr((await reply('pol-web', '[fd00:1::254]:9000')).peer)).toBe('fd00:1::1');
    });

    it('(b) the internet reaches the published port: web:80, client address preserved', async () => {
      const r = await reply('pol-inet', '203.0.113.1:8080');
      expect(r).toMatchObject({ name: 'web', local: '172.17.0.2:80' });
      expect(addr(r.peer)).toBe('203.0.113.254');
      const r6 = await reply('pol-inet', '[fd00:1::1]:8080');
      expect(r6).toMatchObject({ name: 'web', local: 'fd00:17::2:80' });
      expect(addr(r6.peer)).toBe('fd00:1::254');
    });

    it('(c) hairpin: containers reach their own host published port (needs hairpin mode on the bridge ports)', async () => {
      expect(bridgesNeedingHairpin(host)).toEqual(['docker0']);
      expect(await inNs('pol-host', 'cat', ['/proc/sys/net/bridge/bridge-nf-call-iptables']).then((r) => r.stdout)).toBe('1');
      // With br_netfilter the DNATed frame is bridged back out of the port it came in on:
      // without hairpin mode the bridge drops it.
      await setHairpin('pol-host', host, false);
      const [without] = await connect('pol-web', '203.0.113.1:8080', 1, 1500);
      expect(without?.ok).toBe(false);
      await setHairpin('pol-host', host, true);
      // web to its own published port (through the host's uplink address and the bridge address).
      for (const to of ['203.0.113.1:8080', '172.17.0.1:8080']) {
        const r = await reply('pol-web', to);
        expect(r).toMatchObject({ name: 'web', local: '172.17.0.2:80' });
        expect(addr(r.peer)).toBe('172.17.0.1'); // masqueraded, else web would get a packet from itself
      }
      // db to web's published port.
      const r = await reply('pol-db', '203.0.113.1:8080');
      expect(r).toMatchObject({ name: 'web', local: '172.17.0.2:80' });
      expect(addr(r.peer)).toBe('172.17.0.1');
      // IPv6 hairpin.
      const r6 = await reply('pol-web', '[fd00:1::1]:8080');
      expect(r6).toMatchObject({ name: 'web', local: 'fd00:17::2:80' });
      expect(addr(r6.peer)).toBe('fd00:17::1');
    });

    it('(d) the host itself reaches its own address:8080 (output chain), and 127.0.0.1:8080 as with Docker', async () => {
      const r = await reply('pol-host', '203.0.113.1:8080');
      expect(r).toMatchObject({ name: 'web', local: '172.17.0.2:80' });
      expect(addr(r.peer)).toBe('203.0.113.1');
      expect((await reply('pol-host', '[fd00:1::1]:8080')).local).toBe('fd00:17::2:80');
      // Loopback is DNATed too; the kernel lets a 127.0.0.1 source out of docker0 only with route_localnet.
      expect(localnetInterfaces(host)).toEqual(['docker0']);
      const [dropped] = await connect('pol-host', '127.0.0.1:8080', 1, 1500);
      expect(dropped?.ok).toBe(false);
      await sysctl('pol-host', 'net.ipv4.conf.docker0.route_localnet', '1');
      const lo = await reply('pol-host', '127.0.0.1:8080');
      expect(lo).toMatchObject({ name: 'web', local: '172.17.0.2:80' });
      expect(addr(lo.peer)).toBe('172.17.0.1'); // masqueraded out of the bridge, as docker-proxy's own connection
      // IPv6 has no route_localnet: ::1 is not published.
      const [lo6] = await connect('pol-host', '[::1]:8080', 1, 1500);
      expect(lo6).toEqual({ ok: false, error: 'ECONNREFUSED' });
    });

    it('(f) a deny rule blocks exactly what it names (one port), another port still works', async () => {
      const deny: FilterRule = {
        action: 'deny',
        from: ['203.0.113.254/32'],
        to: ['172.17.0.2/32'],
        proto: 'tcp',
        port: { from: 81, to: 81 },
        pos: pos('firewall.rules[0]'),
      };
      const h = dockerHost({ rules: [deny] }, true);
      try {
        await apply(h);
        expect((await reply('pol-inet', '203.0.113.1:8080')).local).toBe('172.17.0.2:80');
        const [blocked] = await connect('pol-inet', '203.0.113.1:8081', 1, 1500);
        expect(blocked).toEqual({ ok: false, error: 'ETIMEDOUT' });
        // Port 81 of web from someone the rule does not name (bridged, through the forward chain).
        expect((await reply('pol-db', '172.17.0.2:81')).local).toBe('172.17.0.2:81');

        // Default deny: only what is allowed passes, and neighbour discovery keeps IPv6 working.
        const allow: FilterRule = {
          action: 'allow',
          from: ['203.0.113.0/24', 'fd00:1::/64'],
          to: ['172.17.0.2', 'fd00:17::2'],
          proto: 'tcp',
          port: { from: 80, to: 80 },
          pos: pos('firewall.rules[0]'),
        };
        await apply(dockerHost({ rules: [allow], defaultAction: 'deny' }, true));
        await run('pol-host', ['neigh', 'flush', 'all']);
        await run('pol-inet', ['neigh', 'flush', 'all']);
        expect((await reply('pol-inet', '203.0.113.1:8080')).local).toBe('172.17.0.2:80');
        expect((await reply('pol-inet', '[fd00:1::1]:8080')).local).toBe('fd00:17::2:80');
        const blockedNow = await Promise.all([
          connect('pol-inet', '203.0.113.1:8081', 1, 1500), // published, but port 81 is not allowed
          connect('pol-web', '203.0.113.254:9000', 1, 1500), // outbound not allowed
          connect('pol-db', '172.17.0.2:80', 1, 1500), // bridged db -> web not allowed
        ]);
        for (const [r] of blockedNow) expect(r).toEqual({ ok: false, error: 'ETIMEDOUT' });
      } finally {
        await apply(host);
      }
      expect((await reply('pol-inet', '203.0.113.1:8080')).local).toBe('172.17.0.2:80');
    });

    it('(g) rulesFromListing of the kernel table equals the rendered rules; re-rendering is identical', async () => {
      const r = renderPolicy(LAB, host)!;
      expect(renderPolicy(LAB, dockerHost())).toEqual(r);
      const text = await listing('pol-host');
      expect(rulesFromListing(text)).toEqual(r.rules);
      // Handles (`nft -a`) do not matter.
      expect(rulesFromListing((await inNs('pol-host', 'nft', ['-a', 'list', 'table', 'inet', TABLE])).stdout)).toEqual(r.rules);
      // Every rule in the kernel carries its digest.
      for (const line of text.split('\n').filter((l) => /^\t\t(?!type )\S/.test(l))) expect(line).toMatch(/comment "nl:[0-9a-f]{12}"$/);
      // A rule added by hand shows up as a difference.
      await inNs('pol-host', 'nft', ['add', 'rule', 'inet', TABLE, 'nl_postrouting', 'ip', 'saddr', '10.9.9.9', 'masquerade']);
      const drifted = rulesFromListing(await listing('pol-host'));
      expect(drifted).not.toEqual(r.rules);
      expect(drifted.filter((x) => !r.rules.includes(x))).toEqual([expect.stringMatching(/^nl_postrouting\/\?[0-9a-f]{12}$/)]);
      await apply(host);
    });

    it('(h) replaceTableScript twice leaves one table; deleteTableScript works with and without the table', async () => {
      const r = renderPolicy(LAB, host)!;
      await nft('pol-host', replaceTableScript(r));
      await nft('pol-host', replaceTableScript(r));
      const tables = (await inNs('pol-host', 'nft', ['list', 'tables'])).stdout.trim().split('\n');
      expect(tables).toEqual([`table inet ${TABLE}`]);
      expect(rulesFromListing(await listing('pol-host'))).toEqual(r.rules);
      // A failing transaction leaves the old table in place.
      const broken = replaceTableScript({ ...r, body: r.body.replace('masquerade', 'masquerad') });
      const bad = await sh('ip', ['netns', 'exec', 'pol-host', 'nft', '-f', '-'], { input: broken, reject: false });
      expect(bad.exitCode).not.toBe(0);
      expect(rulesFromListing(await listing('pol-host'))).toEqual(r.rules);

      await nft('pol-host', deleteTableScript('inet', TABLE));
      expect((await inNs('pol-host', 'nft', ['list', 'tables'])).stdout.trim()).toBe('');
      await nft('pol-host', deleteTableScript('inet', TABLE)); // missing: still succeeds
      await sh('ip', ['netns', 'add', 'pol-empty']);
      await nft('pol-empty', deleteTableScript('inet', TABLE)); // a namespace that never had nft state
      await sh('ip', ['netns', 'del', 'pol-empty']);
      // Back to the lab's policy.
      await apply(host);
      expect((await reply('pol-inet', '203.0.113.1:8080')).name).toBe('web');
    });
  });

  it('(g) every construct loads into nft 1.0.6 and its listing gives back the rendered digests', async () => {
    await sh('ip', ['netns', 'add', 'pol-sink']);
    try {
      const r = await apply(kitchenSink());
      // The dedicated chain-header digests make a policy change visible too.
      const allow = await apply({ ...kitchenSink(), policy: { ...kitchenSink().policy!, defaultAction: 'allow' } });
      expect(allow.rules.filter((x) => !r.rules.includes(x))).toHaveLength(2);
      await nft('pol-sink', replaceTableScript(r));
      if (process.env.POLICY_PRINT_LISTINGS) console.log(await listing('pol-sink'));
    } finally {
      await sh('ip', ['netns', 'del', 'pol-sink']);
    }
  });

  describe('k8s service model', () => {
    beforeAll(async () => {
      await apply(k8sNode1([POD_A1, POD_B1]));
    });

    it('(e) a pod reaches the VIP and round-robin hits every backend equally over 20 connections', async () => {
      const results = await connect('pol-pa2', '10.96.0.10:80', 20);
      expect(counts(results)).toEqual({ 'pod-a1': 10, 'pod-b1': 10 });
      // Alternating, and the client address is preserved (no masquerade for other pods).
      const names = results.map((r) => (r.ok ? r.reply.name : r.error));
      for (let i = 1; i < names.length; i++) expect(names[i]).not.toBe(names[i - 1]);
      for (const r of results) if (r.ok) expect(addr(r.reply.peer)).toBe('10.244.1.3');
      // From the node itself (output chain).
      expect(counts(await connect('pol-node1', '10.96.0.10:80', 4))).toEqual({ 'pod-a1': 2, 'pod-b1': 2 });
    });

    it('(e) a backend reaching its own service lands on itself too (kube-proxy hairpin)', async () => {
      const node = k8sNode1([POD_A1, POD_B1]);
      expect(bridgesNeedingHairpin(node)).toEqual(['cbr0']);
      await setHairpin('pol-node1', node, true);
      const results = await connect('pol-pa1', '10.96.0.10:80', 20);
      expect(counts(results)).toEqual({ 'pod-a1': 10, 'pod-b1': 10 });
      for (const r of results) {
        if (!r.ok) continue;
        // To itself: masqueraded to the node's bridge address; to another pod: its own address.
        expect(addr(r.reply.peer)).toBe(r.reply.name === 'pod-a1' ? '10.244.1.1' : '10.244.1.2');
      }
    });

    it('(e) backend membership changes are one new rule set applied in one transaction', async () => {
      const both = renderPolicy(LAB, k8sNode1([POD_A1, POD_B1]))!;
      try {
        await membership(both);
      } finally {
        await apply(k8sNode1([POD_A1, POD_B1]));
      }
    });

    async function membership(both: RenderedPolicy) {
      const one = await apply(k8sNode1([POD_A1]));
      expect(one.rules).not.toEqual(both.rules);
      expect(counts(await connect('pol-pa2', '10.96.0.10:80', 6))).toEqual({ 'pod-a1': 6 });
      const none = await apply(k8sNode1([]));
      const [refused] = await connect('pol-pa2', '10.96.0.10:80', 1, 1500);
      expect(refused).toEqual({ ok: false, error: 'ECONNREFUSED' }); // reject with tcp reset
      expect(none.rules).not.toEqual(one.rules);
      // Order of backends in the spec does not matter.
      const back = await apply(k8sNode1([POD_B1, POD_A1]));
      expect(back.rules).toEqual(both.rules);
      expect(counts(await connect('pol-pa2', '10.96.0.10:80', 20))).toEqual({ 'pod-a1': 10, 'pod-b1': 10 });
    }

    it('(g) listing of the k8s table gives back the rendered digests', async () => {
      const r = renderPolicy(LAB, k8sNode1([POD_A1, POD_B1]))!;
      expect(rulesFromListing(await listing('pol-node1'))).toEqual(r.rules);
      if (process.env.POLICY_PRINT_LISTINGS) {
        console.log(await listing('pol-node1'));
        console.log(await listing('pol-host'));
      }
    });
  });
});
