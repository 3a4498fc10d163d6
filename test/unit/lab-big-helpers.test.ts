// Helpers that keep a big lab small (src/lab/cache.ts jsonWithin, src/lab/small-map.ts): each
// must give what the plain form gives (JSON.stringify, a Map), at every size.
import { describe, expect, it } from 'vitest';
import { jsonWithin } from '../../src/lab/cache.js';
import { loadLabText } from '../../src/lab/index.js';
import { SMALL, SmallMap } from '../../src/lab/small-map.js';
import { starLabYaml } from '../../src/cli/gen.js';

describe('jsonWithin', () => {
  const samples: unknown[] = [
    {},
    [],
    { a: 1, b: 'x', c: null, d: true, e: [1, 2, [3, { f: 'g' }]] },
    // Deeper than it writes piecewise, so both ways of writing are used.
    { l1: { l2: { l3: { l4: { l5: { l6: [1, { l7: 'deep' }] } } } } } },
    // Members JSON.stringify leaves out or turns into null, at every depth.
    { u: undefined, f: () => 1, s: Symbol('x'), list: [undefined, () => 1, Symbol('y')], d: { e: { f: { u: undefined, g: 1 } } } },
    // Key order: integer-like keys first, then in insertion order, as JSON.stringify has it.
    { b: 1, 2: 'two', a: 2, 1: 'one', '-1': 'neg' },
    { text: 'quotes " and \\ and \n and \u2028 and ünïcode', nan: NaN, inf: -Infinity, neg0: -0 },
    { when: new Date(0), nested: { when: new Date(86_400_000), custom: { toJSON: () => ({ replaced: true }) } } },
  ];

  it('gives exactly JSON.stringify when the text fits', () => {
    for (const v of samples) expect(jsonWithin(v, Number.MAX_SAFE_INTEGER)).toBe(JSON.stringify(v));
  });

  it('gives a normalised lab exactly as JSON.stringify does', () => {
    const { lab } = loadLabText('star.yaml', starLabYaml({ name: 'json', hosts: 40 }));
    expect(jsonWithin(lab, Number.MAX_SAFE_INTEGER)).toBe(JSON.stringify(lab));
  });

  it('gives the text at exactly the budget, and null one character under it', () => {
    for (const v of samples) {
      const text = JSON.stringify(v);
      expect(jsonWithin(v, text.length)).toBe(text);
      expect(jsonWithin(v, text.length - 1)).toBeNull();
    }
  });

  it('stops writing once over the budget, however big the value', () => {
    const huge = { hosts: Array.from({ length: 200_000 }, (_, i) => ({ name: `h${i}`, interfaces: [{ name: 'eth0' }] })) };
    expect(jsonWithin(huge, 1000)).toBeNull();
  });
});

/** The same operations on a SmallMap and a Map, then everything each tells compared. */
function compare(ops: [op: 'set' | 'delete', key: string, value?: number][]): void {
  const small = new SmallMap<number>();
  const real = new Map<string, number>();
  for (const [op, key, value] of ops) {
    if (op === 'set') {
      expect(small.set(key, value!)).toBe(small);
      real.set(key, value!);
    } else expect(small.delete(key)).toBe(real.delete(key));
    expect(small.size).toBe(real.size);
  }
  expect([...small]).toEqual([...real]);
  expect([...small.entries()]).toEqual([...real.entries()]);
  expect([...small.keys()]).toEqual([...real.keys()]);
  expect([...small.values()]).toEqual([...real.values()]);
  for (const key of [...real.keys(), 'absent', '']) {
    expect(small.get(key)).toBe(real.get(key));
    expect(small.has(key)).toBe(real.has(key));
  }
  const seen: [string, number][] = [];
  small.forEach((v, k, m) => (expect(m).toBe(small), seen.push([k, v])));
  expect(seen).toEqual([...real]);
}

const keys = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`);

describe('SmallMap', () => {
  it('is a Map below, at and past the size where it switches to one', () => {
    for (const n of [0, 1, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL]) compare(keys(n).map((k, i) => ['set', k, i]));
  });

  it('keeps the first place of a key set again (before and after the switch) and takes its new value', () => {
    for (const n of [SMALL - 1, SMALL, SMALL + 2]) {
      const ops = keys(n).map((k, i): ['set', string, number] => ['set', k, i]);
      compare([...ops, ['set', 'k0', 100], ['set', `k${n - 1}`, 101], ['set', 'k0', 102]]);
    }
  });

  it('a key set again at the boundary does not switch it', () => {
    const m = new SmallMap<number>();
    for (const [i, k] of keys(SMALL).entries()) m.set(k, i);
    m.set('k0', 9);
    expect((m as unknown as { big: unknown }).big).toBeNull();
    m.set('new', 9);
    expect((m as unknown as { big: unknown }).big).toBeInstanceOf(Map);
  });

  it('deletes and clears as a Map does, on either side of the switch', () => {
    for (const n of [SMALL, SMALL + 1]) {
      const ops = keys(n).map((k, i): ['set', string, number] => ['set', k, i]);
      compare([...ops, ['delete', 'k1'], ['delete', 'absent'], ['set', 'k1', 7], ['delete', `k${n - 1}`]]);
    }
    const m = new SmallMap<number>();
    for (const [i, k] of keys(SMALL + 1).entries()) m.set(k, i);
    m.clear();
    expect(m.size).toBe(0);
    m.set('a', 1);
    expect([...m]).toEqual([['a', 1]]);
  });

  it('agrees with a Map on random operations', () => {
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let round = 0; round < 200; round++) {
      const ops: ['set' | 'delete', string, number][] = [];
      for (let i = random(3 * SMALL); i > 0; i--) ops.push([random(4) === 0 ? 'delete' : 'set', `k${random(2 * SMALL)}`, i]);
      compare(ops);
    }
  });

  it('gives entries added while iterating, also across the switch, as a Map does', () => {
    for (const start of [1, SMALL - 1, SMALL]) {
      const small = new SmallMap<number>();
      const real = new Map<string, number>();
      for (const [i, k] of keys(start).entries()) {
        small.set(k, i);
        real.set(k, i);
      }
      const walk = (m: Map<string, number>) => {
        const out: string[] = [];
        for (const [k, v] of m) {
          out.push(k);
          if (v < SMALL + 2) m.set(`k${v + start}`, v + start);
        }
        return out;
      };
      expect(walk(small)).toEqual(walk(real));
    }
  });

  it('reads as a Map', () => {
    expect(Object.prototype.toString.call(new SmallMap())).toBe('[object Map]');
  });
});
