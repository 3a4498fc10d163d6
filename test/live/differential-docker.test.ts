// labs/docker-bridge.yaml against Docker's own rule set: the same topology built by hand with `ip`,
// moby's iptables rules loaded with iptables-restore (iptables-nft) into the host namespace, and
// the same flows probed on both, flow by flow: who answered and which source address it saw.
//
// The rules are moby's golden test data for a bridge network with one container publishing
// 8080 -> 80 (gateway mode nat, icc, masquerade on), addresses and bridge name substituted:
//   moby/moby daemon/libnetwork/drivers/bridge/internal/iptabler/testdata/TestIptabler/
//     hairpin=false,internal=false,icc=true,masq=true,snat=false,gwm=nat,bindlh=false__iptables.golden
//     (dockerd's default, --userland-proxy=true), and the same file with hairpin=true
//     (--userland-proxy=false).
// `hairpin` is moby's name for "no userland proxy" (bridge_linux.go: `Hairpin: !config.EnableProxy`).
// Docker also puts a DOCKER-USER chain first in FORWARD (empty unless the user fills it), sets
// hairpin mode on the containers' bridge ports and route_localnet=1 on the bridge when the proxy is
// off (bridge_linux.go setHairpinMode, setup_ipv4_linux.go setupLoopbackAddressesRouting): done here too.
//
// The userland proxy is modelled honestly: with it on, a docker-proxy stand-in (test/live/tools/
// proxy.mjs) listens on 0.0.0.0:8080 in the host namespace and relays to web:80 over its own
// connection, as docker-proxy does; the rules send it what Docker sends it (containers' own
// connections to a published port, `! -i docker0` on the DNAT rule, and the host's to 127.0.0.1).
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
import { startProxy, startServer, stopServers } from './tcp.js';

// iptabler golden, --userland-proxy=true (hairpin=false), br-dummy -> docker0, 192.168.0.0/24 -> 172.17.0.0/16.
const DOCKER_PROXY_ON = `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-BRIDGE - [0:0]
:DOCKER-CT - [0:0]
:DOCKER-FORWARD - [0:0]
:DOCKER-INTERNAL - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-FORWARD
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER ! -i docker0 -o docker0 -j DROP
-A DOCKER-BRIDGE -o docker0 -j DOCKER
-A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-FORWARD -j DOCKER-CT
-A DOCKER-FORWARD -j DOCKER-INTERNAL
-A DOCKER-FORWARD -j DOCKER-BRIDGE
-A DOCKER-FORWARD -i docker0 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
`;

// The same golden with hairpin=true (--userland-proxy=false): the raw and filter tables are equal;
// nat DNATs from the bridge too, loopback included, and masquerades hairpin and localhost traffic.
const DOCKER_PROXY_OFF = DOCKER_PROXY_ON.replace(
  /\*nat\n[\s\S]*$/,
  `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -o docker0 -m addrtype --src-type LOCAL -j MASQUERADE
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
`,
);

/** labs/docker-bridge.yaml by hand (names of the bridge-side veth ends are Docker-like, not netlab's). */
function topology(proxy: boolean): HandTopology {
  return {
    prefix: 'rd-',
    hosts: ['host', 'web', 'db', 'internet'],
    sysctls: {
      host: { 'net.ipv4.ip_forward': '1', ...(proxy ? {} : { 'net.ipv4.conf.docker0.route_localnet': '1' }) },
    },
    bridges: [{ host: 'host', name: 'docker0', address: '172.17.0.1/16' }],
    veths: [
      { a: 'web', aif: 'eth0', aaddr: '172.17.0.2/16', b: 'host', bif: 'vethweb', master: 'docker0', hairpin: !proxy },
      { a: 'db', aif: 'eth0', aaddr: '172.17.0.3/16', b: 'host', bif: 'vethdb', master: 'docker0', hairpin: !proxy },
      { a: 'host', aif: 'uplink', aaddr: '203.0.113.1/24', b: 'internet', bif: 'eth0', baddr: '203.0.113.254/24' },
    ],
    routes: [
      { host: 'web', to: 'default', via: '172.17.0.1' },
      { host: 'db', to: 'default', via: '172.17.0.1' },
      { host: 'internet', to: '172.17.0.0/16', via: '203.0.113.1' },
    ],
  };
}

const FLOWS: Flow[] = [
  { what: 'container -> container', from: 'web', to: '172.17.0.3:5432' },
  { what: 'container -> outside', from: 'web', to: '203.0.113.254:80' },
  { what: 'outside -> published port', from: 'internet', to: '203.0.113.1:8080' },
  { what: 'outside -> published port on the bridge address', from: 'internet', to: '172.17.0.1:8080' },
  { what: 'outside -> container by route', from: 'internet', to: '172.17.0.2:80' },
  { what: 'outside -> unpublished container by route', from: 'internet', to: '172.17.0.3:5432' },
  { what: 'container -> published port', from: 'db', to: '203.0.113.1:8080' },
  { what: 'container -> published port on the bridge address', from: 'db', to: '172.17.0.1:8080' },
  { what: 'container -> its own published port', from: 'web', to: '203.0.113.1:8080' },
  { what: 'host -> published port', from: 'host', to: '203.0.113.1:8080' },
  { what: 'host -> published port on the bridge address', from: 'host', to: '172.17.0.1:8080' },
  { what: 'host -> published port on localhost', from: 'host', to: '127.0.0.1:8080' },
  { what: 'host -> container', from: 'host', to: '172.17.0.2:80' },
];

async function startServers(ns: (h: string) => string): Promise<void> {
  await startServer(ns('web'), 'web', [80]);
  await startServer(ns('db'), 'db', [5432]);
  await startServer(ns('internet'), 'internet', [80]);
}

async function realDocker(proxy: boolean): Promise<string[]> {
  const t = topology(proxy);
  const ns = (h: string) => nsOf(t, h);
  try {
    await buildByHand(t);
    await iptablesRestore(ns('host'), proxy ? DOCKER_PROXY_ON : DOCKER_PROXY_OFF);
    await startServers(ns);
    if (proxy) await startProxy(ns('host'), 8080, '172.17.0.2:80');
    return await observeAll(ns, FLOWS);
  } finally {
    await stopServers();
    await removeByHand(t);
  }
}

async function netlabDocker(proxy: boolean): Promise<string[]> {
  let text = withoutProcess(readFileSync('labs/docker-bridge.yaml', 'utf8'), 'http');
  if (!proxy) text = text.replace('    nat:\n', '    nat:\n      userland_proxy: false\n');
  const file = labFile('docker', text);
  const ns = (h: string) => `docker-${h}`;
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

describe.skipIf(sandboxSkipReason !== null)('docker-bridge against moby rule sets', () => {
  afterAll(async () => {
    await stopServers();
  });

  for (const proxy of [true, false]) {
    it(`answers every flow as Docker does with userland-proxy=${proxy}`, async () => {
      const real = await realDocker(proxy);
      const lab = await netlabDocker(proxy);
      expectSameFlows(`docker-bridge, userland-proxy=${proxy}`, FLOWS, real, lab, `docker (proxy ${proxy ? 'on' : 'off'})`);
    });
  }
});
