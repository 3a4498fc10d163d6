// Long runs of like nft rules become one map or set lookup (src/model/policy.ts, compactRules).
import { describe, expect, it } from 'vitest';
import { compactRules, MERGE_RUN, renderPolicy } from '../../src/model/policy.js';
import { starLabYaml } from '../../src/cli/gen.js';
import { loadLabText } from '../../src/lab/index.js';

const pub = (port: number, to: string, prefix = 'meta nfproto ipv4 fib daddr type local') => `${prefix} tcp dport ${port} dnat ip to ${to}`;
const run = (n: number, from = 10000) => Array.from({ length: n }, (_, i) => pub(from + i, `10.0.0.${(i % 200) + 2}:80`));

describe('compactRules', () => {
  it('leaves short runs one rule per port', () => {
    const rules = run(MERGE_RUN - 1);
    expect(compactRules(rules)).toEqual(rules);
  });

  it('merges a long run of published ports into one dnat map, in place', () => {
    const rules = ['first rule', ...run(MERGE_RUN), 'last rule'];
    const out = compactRules(rules);
    expect(out).toHaveLength(3);
    expect(out[0]).toBe('first rule');
    expect(out[1]).toBe(
      `meta nfproto ipv4 fib daddr type local dnat ip to tcp dport map { ${Array.from({ length: MERGE_RUN }, (_, i) => `${10000 + i} : 10.0.0.${i + 2} . 80`).join(', ')} }`,
    );
    expect(out[2]).toBe('last rule');
  });

  it('keeps the first of two rules for one port: a repeated key starts a new run', () => {
    const rules = [...run(MERGE_RUN), pub(10000, '10.0.0.99:80'), ...run(MERGE_RUN - 1, 20000)];
    const out = compactRules(rules);
    expect(out[0]).toMatch(/^meta nfproto ipv4 fib daddr type local dnat ip to tcp dport map \{ 10000 : 10\.0\.0\.2 \. 80, /);
    // The second run (the repeated port and what follows) is long enough on its own.
    expect(out[1]).toMatch(/^meta nfproto ipv4 fib daddr type local dnat ip to tcp dport map \{ 10000 : 10\.0\.0\.99 \. 80, 20000 : /);
    expect(out).toHaveLength(2);
  });

  it('never merges across a different rule, prefix, protocol, port range or IPv6 target form', () => {
    const mixed = [
      ...run(8),
      'ip daddr 10.96.0.10 tcp dport 80 dnat ip to numgen inc mod 2 map { 0 : 10.0.0.2 . 80, 1 : 10.0.0.3 . 80 }',
      ...run(8, 11000),
      pub(12000, '10.0.0.2:80', 'iifname "eth0" meta nfproto ipv4 fib daddr type local'),
      'meta nfproto ipv4 fib daddr type local udp dport 5000 dnat ip to 10.0.0.2:5000',
      'meta nfproto ipv4 fib daddr type local tcp dport 6000-6010 dnat ip to 10.0.0.2:6000-6010',
    ];
    expect(compactRules(mixed)).toEqual(mixed);
    const v6 = Array.from(
      { length: MERGE_RUN },
      (_, i) => `meta nfproto ipv6 fib daddr type local tcp dport ${8000 + i} dnat ip6 to [fd00::${i + 2}]:80`,
    );
    expect(compactRules(v6)).toEqual([
      `meta nfproto ipv6 fib daddr type local dnat ip6 to tcp dport map { ${Array.from({ length: MERGE_RUN }, (_, i) => `${8000 + i} : fd00::${i + 2} . 80`).join(', ')} }`,
    ]);
  });

  it('merges hairpin masquerades into one set per interface and subnet, and backends reaching themselves', () => {
    const hairpin = Array.from(
      { length: MERGE_RUN },
      (_, i) => `oifname "br0" ip saddr 10.0.0.0/16 ip daddr 10.0.0.${i + 2} ct status dnat tcp dport 80 masquerade`,
    );
    expect(compactRules(hairpin)).toEqual([
      `oifname "br0" ip saddr 10.0.0.0/16 ct status dnat ip daddr . tcp dport { ${Array.from({ length: MERGE_RUN }, (_, i) => `10.0.0.${i + 2} . 80`).join(', ')} } masquerade`,
    ]);
    const self = Array.from(
      { length: MERGE_RUN },
      (_, i) => `ip saddr 10.0.0.${i + 2} ip daddr 10.0.0.${i + 2} ct status dnat tcp dport 8080 masquerade`,
    );
    expect(compactRules(self)).toEqual([
      `ct status dnat ip saddr . ip daddr . tcp dport { ${Array.from({ length: MERGE_RUN }, (_, i) => `10.0.0.${i + 2} . 10.0.0.${i + 2} . 8080`).join(', ')} } masquerade`,
    ]);
  });

  it('renders 500 published ports and a 100-backend service as a handful of rules', () => {
    const r = loadLabText('nat.yaml', starLabYaml({ name: 'nat', hosts: 100, dnat: 500, backends: 100 }));
    const hub = r.lab!.hosts.find((h) => h.name === 'hub')!;
    const p = renderPolicy('nat', hub)!;
    // Per chain: one header digest, then prerouting 2 (map + service), output 2, postrouting 4:
    // the first hairpin, the loopback masquerade docker-proxy's 127.0.0.1 needs (written after
    // the first publish, so it splits the run), the hairpin set of the rest, the self set.
    expect(p.rules).toHaveLength(3 + 8);
    expect(p.body).toContain('dnat ip to tcp dport map { 10000 : 10.10.0.2 . 80, 10001 : 10.10.0.3 . 80,');
    expect(p.body).toContain('oifname "br0" ip saddr 10.10.0.0/16 ct status dnat ip daddr . tcp dport { 10.10.0.3 . 80, 10.10.0.4 . 80,');
  });
});
