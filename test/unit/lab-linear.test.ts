// Checking a lab is linear in its hosts: counted, not timed. Every look at the lab's hosts (the
// raw hosts mapping, the context's host map, each host's interface map) is counted while a
// netlab gen star is parsed, checked and normalised; the count per host must not grow from 1k to
// 10k hosts. A rule that scans all hosts (or all ports of the hub) for each host grows it tenfold.
import { describe, expect, it } from 'vitest';
import { buildContext, type LabContext } from '../../src/lab/context.js';
import { normalise } from '../../src/lab/normalise.js';
import { assignPools } from '../../src/lab/pool.js';
import { validateSchema } from '../../src/lab/schema.js';
import { checkSemantics } from '../../src/lab/semantic.js';
import { parseLabYaml } from '../../src/lab/yaml.js';
import { starLabYaml } from '../../src/cli/gen.js';

type Counter = { n: number };

/** Counts each lookup in `map` and each item its iterators give. */
function countLooks(map: Map<string, unknown>, c: Counter): void {
  const m = map as unknown as Record<string | symbol, (...args: unknown[]) => unknown>;
  for (const name of ['get', 'has'] as const) {
    const own = m[name]!.bind(map);
    m[name] = (...args) => (c.n++, own(...args));
  }
  for (const name of ['entries', 'keys', 'values', Symbol.iterator] as const) {
    const own = m[name]!.bind(map) as () => Iterable<unknown>;
    m[name] = function* () {
      for (const item of own()) {
        c.n++;
        yield item;
      }
    };
  }
  const forEach = map.forEach.bind(map);
  map.forEach = (fn, self) => forEach((v, k, mm) => (c.n++, fn.call(self, v, k, mm)));
}

/** Counts every read of the raw hosts mapping: its members and its list of names. */
function countedHosts<T extends object>(hosts: T, c: Counter): T {
  return new Proxy(hosts, {
    get: (t, k, r) => (c.n++, Reflect.get(t, k, r)),
    has: (t, k) => (c.n++, Reflect.has(t, k)),
    ownKeys: (t) => {
      const keys = Reflect.ownKeys(t);
      c.n += keys.length;
      return keys;
    },
    getOwnPropertyDescriptor: (t, k) => (c.n++, Reflect.getOwnPropertyDescriptor(t, k)),
  });
}

/** Looks at hosts per host while checking a gen star of `hosts` hosts. */
function looksPerHost(hosts: number): number {
  const text = starLabYaml({ name: 'linear', hosts });
  const { parsed } = parseLabYaml('star.yaml', text);
  const schema = validateSchema(parsed!.data, parsed!.locator);
  expect(schema.issues).toEqual([]);
  const c: Counter = { n: 0 };
  const raw = { ...schema.lab!, hosts: countedHosts(schema.lab!.hosts, c) };
  const ctx: LabContext = buildContext(raw, parsed!.locator);
  countLooks(ctx.hosts, c);
  for (const host of ctx.hosts.values()) countLooks(host.ifaces, c);
  assignPools(ctx);
  checkSemantics(ctx);
  expect(ctx.issues).toEqual([]);
  const lab = normalise(ctx);
  expect(lab.hosts).toHaveLength(hosts + 1);
  return c.n / hosts;
}

describe('checking a big lab', () => {
  it('looks at hosts and interfaces a constant number of times per host, from 1k to 10k hosts', () => {
    const small = looksPerHost(1000);
    const big = looksPerHost(10000);
    // Constant up to the few hub-only steps; a per-host scan would multiply it by ten.
    expect(small).toBeGreaterThan(10);
    expect(big / small).toBeLessThan(1.2);
  });
});
