// "Did you mean" and the address helpers the rules rely on.
import { describe, expect, it } from 'vitest';
import { networkText, overlaps, parseCidr, parseEndpoint, parseIp, parseMatch, parsePortRange } from '../../src/lab/addr.js';
import { formatPath } from '../../src/lab/locate.js';
import { closest, didYouMean, editDistance } from '../../src/lab/suggest.js';

describe('suggestions', () => {
  it('counts a swap of two letters as one edit', () => {
    expect(editDistance('wbe', 'web')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests close names only', () => {
    expect(closest('mtuu', ['mtu', 'mac', 'up'])).toBe('mtu');
    expect(closest('MTU', ['mtu', 'mac'])).toBe('mtu');
    expect(closest('vlan_filter', ['vlan_filtering', 'vlans'])).toBe('vlan_filtering');
    expect(closest('zzz', ['mtu', 'mac'])).toBeNull();
    expect(didYouMean('wbe', ['web', 'db'])).toBe(' (did you mean "web"?)');
    expect(didYouMean('x', [])).toBe('');
  });
});

describe('addresses', () => {
  it('is strict about IPv4 and IPv6 text', () => {
    expect(parseIp('10.0.0.1')?.toString()).toBe('10.0.0.1');
    expect(parseIp('010.0.0.1')).toBeNull();
    expect(parseIp('10.1')).toBeNull();
    expect(parseIp('fe80::1%eth0')).toBeNull();
    expect(parseIp('FD00:0::1')?.toString()).toBe('fd00::1');
    expect(parseCidr('10.0.0.1/33')).toBeNull();
    expect(parseCidr('fd00::1/129')).toBeNull();
    expect(parseCidr('10.0.0.1')).toBeNull();
  });

  it('computes networks and overlaps', () => {
    expect(networkText(parseCidr('10.1.2.3/24')!)).toBe('10.1.2.0/24');
    expect(networkText(parseCidr('fd00::1:2/112')!)).toBe('fd00::1:0/112');
    expect(networkText(parseCidr('10.1.2.3/0')!)).toBe('0.0.0.0/0');
    expect(overlaps(parseCidr('10.0.0.0/8')!, parseCidr('10.2.0.0/16')!)).toBe(true);
    expect(overlaps(parseCidr('10.0.0.0/24')!, parseCidr('10.0.1.0/24')!)).toBe(false);
    expect(overlaps(parseCidr('10.0.0.0/24')!, parseCidr('fd00::/8')!)).toBe(false);
  });

  it('parses endpoints, ports and firewall matches', () => {
    expect(parseEndpoint('web:80')).toEqual({ kind: 'host', host: 'web', port: 80 });
    expect(parseEndpoint('[fd00::2]:80')).toMatchObject({ kind: 'ip', port: 80 });
    expect(parseEndpoint('fd00::2:80')).toBeNull();
    expect(parseEndpoint('web:0')).toBeNull();
    expect(parseEndpoint('web:65536')).toBeNull();
    expect(parsePortRange('5000-5010')).toEqual({ from: 5000, to: 5010 });
    expect(parsePortRange('5010-5000')).toBeNull();
    expect(parsePortRange(0)).toBeNull();
    expect(parseMatch('web')).toEqual({ kind: 'host', host: 'web' });
    expect(parseMatch('10.0.0.5')).toMatchObject({ kind: 'cidr', cidr: { prefix: 32 } });
    expect(parseMatch('Web!')).toBeNull();
  });

  it('formats paths for messages', () => {
    expect(formatPath(['links', 2, 'a'])).toBe('links[2].a');
    expect(formatPath(['hosts', 'h', 'sysctls', 'net.ipv4.ip_forward'])).toBe('hosts.h.sysctls["net.ipv4.ip_forward"]');
    expect(formatPath([])).toBe('');
  });
});
