// The one comparator every kind shares: sameObject agrees with comparing canonical JSON texts
// (the plan's fingerprint), on equal and unequal objects alike.
import { describe, expect, it } from 'vitest';
import { canonicalJson, ids, sameObject, type Obj } from '../../src/model/objects.js';

const link = (over: Record<string, unknown> = {}): Obj =>
  ({
    kind: 'link',
    id: ids.link('ns', 'eth0'),
    ns: 'ns',
    ifname: 'eth0',
    type: 'veth',
    mtu: 1500,
    mac: '02:00:00:00:00:01',
    up: true,
    master: null,
    hairpin: false,
    altname: null,
    alias: null,
    peer: { ns: 'other', ifname: 'eth0' },
    attrs: {},
    ...over,
  }) as Obj;

const route = (over: Record<string, unknown> = {}): Obj =>
  ({
    kind: 'route',
    id: ids.route('ns', 254, '10.0.0.0/24', 0),
    ns: 'ns',
    family: 4,
    dst: '10.0.0.0/24',
    via: '10.1.0.1',
    dev: null,
    metric: 0,
    onlink: false,
    table: 254,
    ...over,
  }) as Obj;

describe('sameObject', () => {
  const pairs: [Obj, Obj][] = [
    [link(), link()],
    [link(), link({ mtu: 1400 })],
    [link(), link({ peer: { ifname: 'eth0', ns: 'other' } })], // key order never matters
    [link(), link({ peer: { ns: 'other', ifname: 'eth1' } })],
    [link(), link({ attrs: { extra: undefined } })], // undefined members are absent members
    [link({ attrs: { mode: 'bridge' } }), link({ attrs: {} })],
    [link({ attrs: {} }), link({ attrs: { mode: 'bridge' } })], // a member only the second has
    [route({ via: undefined }), route({ via: null })], // absent is not null
    [route(), route({ nexthops: undefined })],
    [
      route({ nexthops: [{ via: '10.1.0.1', dev: null, weight: 1, onlink: false }] }),
      route({ nexthops: [{ via: '10.1.0.1', dev: null, weight: 2, onlink: false }] }),
    ],
    [route({ nexthops: [] }), route()],
    [route({ via: null }), route({ via: undefined })],
  ];
  it('agrees with canonical JSON on every pair', () => {
    const results = pairs.map(([a, b]) => {
      const byText = canonicalJson(a) === canonicalJson(b);
      expect(sameObject(a, b), `${canonicalJson(a)} vs ${canonicalJson(b)}`).toBe(byText);
      return byText;
    });
    // Both outcomes are exercised.
    expect(results.filter(Boolean).length).toBeGreaterThan(2);
    expect(results.filter((x) => !x).length).toBeGreaterThan(2);
  });

  it('canonical JSON sorts keys at every depth and drops undefined members like JSON.stringify', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, undefined], c: undefined } })).toBe('{"a":{"d":[1,null]},"b":1}');
    expect(JSON.parse(canonicalJson(link()))).toEqual(JSON.parse(JSON.stringify(link())));
  });
});
