// Nsid hints: the namespaces a scope expects each namespace's links to point into (NsQuery.peers),
// which of them the netlink reader asks about, and how its answers name the nsids links carry.
// The kernel side (the answers themselves) is checked in test/live/netlink.test.ts.
import { describe, expect, it } from 'vitest';
import { mergeScopes, scopeOfLab, scopeOfObjects } from '../../src/observe/scope.js';
import type { NsQuery } from '../../src/driver/driver.js';
import { nsidsFromPeers, peersToAsk } from '../../src/driver/real.js';
import { desiredState } from '../../src/model/desired.js';
import { labOf } from './helpers.js';

const LAB = `
name: h
hosts:
  hub:
    interfaces:
      br0: { kind: bridge }
      up: {}
  a:
    interfaces:
      eth0: {}
      mv0: { kind: macvlan, parent: "hub:up" }
  b:
    interfaces:
      eth0: {}
  c:
    interfaces:
      eth0: {}
  d:
    interfaces:
      br1: { kind: bridge }
links:
  - { a: a:eth0, b: hub:br0 }
  - { a: b:eth0, b: hub:br0 }
  - { a: c:eth0, b: hub:up }
`;

const peersOf = (scope: NsQuery[]) => Object.fromEntries(scope.map((q) => [q.ns, q.peers]));

function query(ns: string, peers?: string[]): NsQuery {
  return { ns, mode: 'created', sysctls: [], nftTables: [], ipv6Routes: false, bridgeVlans: false, ...(peers ? { peers } : {}) };
}

describe('scopes carry the namespaces links point into', () => {
  const lab = labOf('h.yaml', LAB);
  const desired = desiredState(lab);

  it('veth peers both ways, a parent in another host, none for a host without such links', () => {
    expect(peersOf(scopeOfLab(lab, desired))).toEqual({
      'h-a': ['h-hub'],
      'h-b': ['h-hub'],
      'h-c': ['h-hub'],
      'h-d': undefined,
      // The three veths' other ends (a's macvlan's parent, up, is here too).
      'h-hub': ['h-a', 'h-b', 'h-c'],
    });
  });

  it('one end of a pair is enough for both to know, but a hint never widens the scope', () => {
    const aOnly = [...desired.values()].filter((o) => o.ns === 'h-a' || (o.ns === 'h-hub' && o.kind === 'netns'));
    expect(peersOf(scopeOfObjects(aOnly, new Map()))).toEqual({ 'h-a': ['h-hub'], 'h-hub': ['h-a'] });
    const noHub = [...desired.values()].filter((o) => o.ns === 'h-a');
    expect(peersOf(scopeOfObjects(noHub, new Map()))).toEqual({ 'h-a': ['h-hub'] });
  });

  it('merging unions them; a query without any (an older record) keeps working', () => {
    const merged = mergeScopes([query('x', ['z', 'y'])], [query('x', ['y', '']), query('w')], [query('w')]);
    expect(peersOf(merged)).toEqual({ w: undefined, x: ['', 'y', 'z'] });
    expect('peers' in merged[0]!).toBe(false);
  });
});

describe('which peers the reader asks about', () => {
  it('of two namespaces read together that expect each other, the one with fewer peers asks', () => {
    const scope = [query('hub', ['a', 'b', 'c', '']), query('a', ['hub']), query('b', ['hub']), query('d', ['hub'])];
    expect(peersToAsk(scope)).toEqual([
      // c expects nothing of the hub (or is not read): the hub asks; the root namespace is not read here.
      ['c', ''],
      ['hub'],
      ['hub'],
      // d expects the hub, which does not expect d: d asks.
      ['hub'],
    ]);
  });

  it('a hub read alone (the verify after a change) asks every peer; a tie is broken by name; itself never', () => {
    expect(peersToAsk([query('hub', ['a', 'b', 'hub']), query('a', ['hub'])])).toEqual([['b'], ['hub']]);
    expect(peersToAsk([query('x', ['y']), query('y', ['x'])])).toEqual([['y'], []]);
    expect(peersToAsk([query('x'), query('y', [])])).toEqual([[], []]);
  });
});

describe('naming nsids from the answers', () => {
  it('only nsids a link carries count; -1 and answers no link refers to are left out; the root is ""', () => {
    const named = nsidsFromPeers(new Set([0, 3, 7]), ['p', 'q', 'r', '', 's'], [0, -1, 5, 3, 0]);
    // 7 stays unnamed (for the fallback rounds); s has the same nsid as p: the first answer wins.
    expect([...named]).toEqual([
      [0, 'p'],
      [3, ''],
    ]);
    expect(nsidsFromPeers(new Set([1]), ['p'], [])).toEqual(new Map());
  });
});
