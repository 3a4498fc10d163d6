// Reachability assertions (`expect:`): the grammar, normalisation (host names to addresses,
// positions), schema-level errors, and where `netlab test` puts its responders.
import { describe, expect, it } from 'vitest';
import { destinations, responders } from '../../src/assert/targets.js';
import { parseExpectation } from '../../src/lab/expect.js';
import { loadLabs, loadLabText } from '../../src/lab/index.js';
import type { Lab } from '../../src/lab/types.js';

async function lab(file: string): Promise<Lab> {
  const { labs, issues } = await loadLabs([file]);
  expect(issues).toEqual([]);
  return labs[0]!;
}

describe('parseExpectation', () => {
  it.each([
    [
      'web -> db:5432 tcp reachable',
      { from: 'web', proto: 'tcp', verdict: 'reachable', target: { host: 'db', address: null, port: 5432 } },
    ],
    ['web -> db:5432 reachable', { proto: 'tcp' }],
    ['web -> internet unreachable', { proto: 'icmp', verdict: 'unreachable', target: { host: 'internet', address: null, port: null } }],
    ['web -> internet ping reachable', { proto: 'icmp' }],
    ['web -> internet icmp reachable', { proto: 'icmp' }],
    ['web -> 203.0.113.254 reachable', { target: { host: null, address: '203.0.113.254', port: null } }],
    ['web->203.0.113.254:53 udp reachable', { from: 'web', proto: 'udp', target: { host: null, address: '203.0.113.254', port: 53 } }],
    ['web -> FD00::1 reachable', { target: { host: null, address: 'fd00::1', port: null } }],
    ['web -> [fd00::1]:80 reachable', { proto: 'tcp', target: { host: null, address: 'fd00::1', port: 80 } }],
    // Without brackets an IPv6 address takes no port: fd00::1:80 is an address.
    ['web -> fd00::1:80 reachable', { proto: 'icmp', target: { host: null, address: 'fd00::1:80', port: null } }],
    ['client -> 10.96.0.10:80 reaches [pod1, pod2]', { verdict: 'reaches', backends: ['pod1', 'pod2'], proto: 'tcp' }],
    ['client -> 10.96.0.10:80 udp reaches [pod1]', { verdict: 'reaches', backends: ['pod1'], proto: 'udp' }],
  ])('%s', (text, want) => {
    expect(parseExpectation(text)).toMatchObject(want);
  });

  it.each([
    ['web db reachable', 'an assertion reads "SRC -> TARGET'],
    [' -> db reachable', 'the source host is missing'],
    ['Web -> db reachable', 'source "Web" must be a host name'],
    ['web -> ', 'the target is missing'],
    ['web -> db', 'the verdict is missing'],
    ['web -> db:http reachable', 'port "http" must be a number'],
    ['web -> [10.0.0.1]:80 reachable', 'must be an IPv6 address'],
    ['web -> db_1 reachable', '"db_1" is neither a host name nor an IP address'],
    ['web -> db reachable now', 'unexpected "now" after "reachable"'],
    ['web -> db:80 reachable [a]', 'a list in brackets only follows "reaches"'],
    ['web -> db:80 reaches []', 'reaches [] names no host'],
    ['web -> db:80 reaches [a, a]', 'names a host twice'],
    ['web -> db:80 reaches [a, B]', '"B" in reaches [...] must be a host name'],
    ['web -> db:80 reaches a', 'reaches needs the hosts that must answer, in brackets'],
    ['web -> db udp reachable', 'udp needs a port'],
  ])('rejects %j', (text, message) => {
    const r = parseExpectation(text);
    expect(typeof r).toBe('string');
    expect(r).toContain(message);
  });
});

describe('expect in a lab', () => {
  it('normalises: host names become their first address (IPv4 preferred), text and positions are kept', async () => {
    const l = await lab('test/fixtures/good/expect.yaml');
    expect(l.expect.map((e) => [e.text, e.from, e.to.address, e.to.port, e.proto, e.verdict, e.backends])).toEqual([
      ['web -> api2 reachable', 'web', '10.1.0.3', null, 'icmp', 'reachable', []],
      ['web -> api2:22 tcp unreachable', 'web', '10.1.0.3', 22, 'tcp', 'unreachable', []],
      ['out -> 192.0.2.1:8080 reaches [web]', 'out', '192.0.2.1', 8080, 'tcp', 'reaches', ['web']],
      ['web -> 10.96.0.1:443 reaches [web, api2]', 'web', '10.96.0.1', 443, 'tcp', 'reaches', ['web', 'api2']],
      ['out -> 192.0.2.1:5301 udp reachable', 'out', '192.0.2.1', 5301, 'udp', 'reachable', []],
      ['web -> [fd00::2]:80 reachable', 'web', 'fd00::2', 80, 'tcp', 'reachable', []],
      ['web -> 198.51.100.7 ping unreachable', 'web', '198.51.100.7', null, 'icmp', 'unreachable', []],
    ]);
    expect(l.expect[0]!.to.host).toBe('api2');
    expect(l.expect[2]!.pos).toEqual({ file: 'test/fixtures/good/expect.yaml', line: 34, col: 5, path: 'expect[2]' });
  });

  it('a lab without expect has none', async () => {
    expect((await lab('test/fixtures/good/links.yaml')).expect).toEqual([]);
  });

  it('the example labs carry assertions', async () => {
    expect((await lab('labs/docker-bridge.yaml')).expect.length).toBeGreaterThan(0);
    expect((await lab('labs/k8s-flat.yaml')).expect.map((e) => e.text)).toContain('pod-a2 -> 10.96.0.10:80 reaches [pod-a1, pod-b1]');
  });

  it('schema: expect is a list of strings', () => {
    const text = 'name: t\nhosts:\n  a:\n    interfaces:\n      br: { kind: bridge }\nexpect: a -> a reachable\n';
    const { issues } = loadLabText('t.yaml', text);
    expect(issues.map((i) => `${i.line}:${i.col}: ${i.path}: ${i.message}`)).toEqual([
      '6:9: expect: must be a list (got "a -> a reachable")',
    ]);
    const { issues: items } = loadLabText('t.yaml', text.replace('expect: a -> a reachable', 'expect:\n  - { a: 1 }'));
    expect(items.map((i) => `${i.line}:${i.col}: ${i.path}`)).toEqual(['7:5: expect[0]']);
  });
});

describe('responders for netlab test', () => {
  it('a NodePort on any address of the node leads to the service backends', async () => {
    const l = await lab('labs/k8s-flat.yaml');
    const at = (to: string) => destinations(l, { ...l.expect[0]!, proto: 'tcp', to: { ...l.expect[0]!.to, address: to, port: 30080 } });
    const backends = [
      { host: 'pod-a1', proto: 'tcp', port: 8080 },
      { host: 'pod-b1', proto: 'tcp', port: 8080 },
    ];
    expect(at('198.51.100.2')).toEqual(backends);
    expect(at('10.244.1.1')).toEqual(backends);
  });

  it('go where the traffic lands: the address owner, DNAT targets of a published port, the backends of a VIP', async () => {
    const l = await lab('test/fixtures/good/expect.yaml');
    const d = (i: number) => destinations(l, l.expect[i]!);
    expect(d(0)).toEqual([]); // ping needs none
    expect(d(1)).toEqual([{ host: 'api2', proto: 'tcp', port: 22 }]);
    expect(d(2)).toEqual([{ host: 'web', proto: 'tcp', port: 80 }]);
    expect(d(3)).toEqual([
      { host: 'web', proto: 'tcp', port: 8443 },
      { host: 'api2', proto: 'tcp', port: 8443 },
    ]);
    // 5301 is the second port of the published range 5300-5301 -> dns:53 + 1.
    expect(d(4)).toEqual([{ host: 'dns', proto: 'udp', port: 54 }]);
    expect(d(5)).toEqual([{ host: 'web', proto: 'tcp', port: 80 }]);
    expect([...responders(l)]).toEqual([
      ['api2', { tcp: [22, 8443], udp: [] }],
      ['dns', { tcp: [], udp: [54] }],
      ['web', { tcp: [80, 8443], udp: [] }],
    ]);
  });
});
