// nft counters for `netlab ui`: every rule netlab loads carries a `counter` before its first
// statement (matches like `ct status dnat` stay matches), the rendered body and its digests are
// unchanged, and the page's reader takes each rule's packets and bytes from a listing.
import { describe, expect, it } from 'vitest';
import { parseNftListing } from '../../src/model/nft.js';
import { replaceTableScript, rulesFromListing, withCounter } from '../../src/model/policy.js';
import { nftCounters } from '../../src/ui/live.js';

const BODY = `table inet netlab_docker {
\tchain nl_prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tmeta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80 comment "nl:3802b5660f14"
\t}

\tchain nl_forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tiifname != "docker0" oifname "docker0" ct status dnat accept comment "nl:48151fc59f6d"
\t}
}
`;

describe('nft rule counters', () => {
  it('puts the counter before the first statement, never inside a match, a set or a string', () => {
    expect(withCounter('tcp dport 8080 dnat ip to 172.17.0.2:80')).toBe('tcp dport 8080 counter dnat ip to 172.17.0.2:80');
    expect(withCounter('oifname "docker0" ip daddr 172.17.0.2 ct status dnat tcp dport 80 masquerade')).toBe(
      'oifname "docker0" ip daddr 172.17.0.2 ct status dnat tcp dport 80 counter masquerade',
    );
    expect(withCounter('ct state new reject with tcp reset')).toBe('ct state new counter reject with tcp reset');
    expect(withCounter('tcp dport 30080 meta mark set meta mark | 0x00004000 dnat ip to 10.0.0.1:1')).toBe(
      'tcp dport 30080 counter meta mark set meta mark | 0x00004000 dnat ip to 10.0.0.1:1',
    );
    expect(withCounter('meta mark & 0x00004000 == 0x00004000 masquerade')).toBe('meta mark & 0x00004000 == 0x00004000 counter masquerade');
    expect(withCounter('tcp dport { 80, 443 } dnat ip to tcp dport map { 80 : 10.0.0.2 . 80, 443 : 10.0.0.2 . 443 }')).toBe(
      'tcp dport { 80, 443 } counter dnat ip to tcp dport map { 80 : 10.0.0.2 . 80, 443 : 10.0.0.2 . 443 }',
    );
    expect(withCounter('iifname "drop" accept')).toBe('iifname "drop" counter accept');
    expect(withCounter('ct state established,related accept')).toBe('ct state established,related counter accept');
    expect(withCounter('tcp dport 80 counter accept')).toBe('tcp dport 80 counter accept');
  });

  it('loads every rule with a counter, headers untouched, and the same digests', () => {
    const script = replaceTableScript({ family: 'inet', table: 'netlab_docker', body: BODY });
    expect(script.split('\n').filter((l) => l.includes('comment "nl:'))).toEqual([
      '\t\tmeta nfproto ipv4 fib daddr type local tcp dport 8080 counter dnat ip to 172.17.0.2:80 comment "nl:3802b5660f14"',
      '\t\tiifname != "docker0" oifname "docker0" ct status dnat counter accept comment "nl:48151fc59f6d"',
    ]);
    expect(script).toContain('\t\ttype nat hook prerouting priority dstnat; policy accept;\n');
    expect(rulesFromListing(script)).toEqual(rulesFromListing(BODY));
  });

  it('reads packets and bytes per rule from a listing, the rule shown without counter, comment and handle', () => {
    const listing = BODY.replace('8080 dnat', '8080 counter packets 3 bytes 180 dnat')
      .replace('dnat accept', 'dnat counter packets 0 bytes 0 accept')
      .replace(/(comment "nl:[0-9a-f]+")/g, '$1 # handle 7');
    const o = parseNftListing('docker-host', 'inet', 'netlab_docker', listing);
    expect(nftCounters('host', o)).toEqual([
      {
        host: 'host',
        table: 'inet netlab_docker',
        chain: 'nl_prerouting',
        rule: 'meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80',
        packets: 3,
        bytes: 180,
      },
      {
        host: 'host',
        table: 'inet netlab_docker',
        chain: 'nl_forward',
        rule: 'iifname != "docker0" oifname "docker0" ct status dnat accept',
        packets: 0,
        bytes: 0,
      },
    ]);
  });
});
