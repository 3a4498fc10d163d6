// Link conditions: units, the lab language (merging, rules, positions), the qdisc model against
// real `tc -raw -j qdisc show` output (so a re-apply is 0 steps), the plan's in-place changes, and
// the engine with the fake kernel, with a fault injected at every command.
import { describe, expect, it } from 'vitest';
import { applyLab, planLab } from '../../src/apply/engine.js';
import { store } from '../../src/apply/store.js';
import { FakeDriver } from '../../src/driver/fake.js';
import { ApplyFailedError } from '../../src/errors.js';
import { operationText } from '../../src/driver/render.js';
import { diffStates, sameObject, type QdiscObj } from '../../src/model/objects.js';
import {
  burstGrid,
  conditionsOf,
  createQdisc,
  deleteQdisc,
  modifyQdisc,
  NO_CONDITIONS,
  parseQdiscs,
  qdiscObject,
  type Conditions,
  type RawQdisc,
} from '../../src/model/qdisc.js';
import { loadLabText } from '../../src/lab/index.js';
import { useTempStateDir } from './helpers.js';
import type { Lab } from '../../src/lab/types.js';
import { formatDuration, formatRate, formatSize, parseDuration, parsePercent, parseRate, parseSize } from '../../src/lab/units.js';

function load(text: string) {
  return loadLabText('lab.yaml', text);
}

function lab(text: string): Lab {
  const r = load(text);
  if (!r.lab) throw new Error(r.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`).join('\n'));
  return r.lab;
}

const twoHosts = (aIf: string, link = '') =>
  [
    'name: c',
    'hosts:',
    '  a:',
    '    interfaces:',
    `      eth0: { addresses: [10.0.0.1/24]${aIf} }`,
    '  b:',
    '    interfaces:',
    '      eth0: { addresses: [10.0.0.2/24] }',
    'links:',
    `  - { a: a:eth0, b: b:eth0${link} }`,
    '',
  ].join('\n');

const c = (x: Partial<Conditions>): Conditions => ({ ...NO_CONDITIONS, ...x });

describe('units', () => {
  it('reads rates in bit/s with tc units, and refuses bps (bytes in tc)', () => {
    expect(parseRate('10mbit')).toBe(10e6);
    expect(parseRate('1.5Mbit')).toBe(1.5e6);
    expect(parseRate('512kbit')).toBe(512e3);
    expect(parseRate('1kibit')).toBe(1024);
    expect(parseRate(2_000_000)).toBe(2e6);
    expect(parseRate('10mbps')).toBeNull();
    expect(parseRate('0')).toBeNull();
    expect(parseRate('fast')).toBeNull();
  });

  it('reads sizes (kb = 1024 bytes), durations (a bare number is ms; strings need a unit) and percentages', () => {
    expect(parseSize('32kb')).toBe(32768);
    expect(parseSize('1mb')).toBe(1048576);
    expect(parseSize(1500)).toBe(1500);
    expect(parseDuration('50ms')).toBe(50_000);
    expect(parseDuration('1.5ms')).toBe(1500);
    expect(parseDuration('200us')).toBe(200);
    expect(parseDuration('1s')).toBe(1e6);
    expect(parseDuration(50)).toBe(50_000);
    expect(parseDuration('50')).toBeNull();
    expect(parseDuration('61s')).toBeNull();
    expect(parsePercent('20%')).toBe(20);
    expect(parsePercent('0.1%')).toBe(0.1);
    expect(parsePercent(5)).toBe(5);
    expect(parsePercent('101%')).toBeNull();
    expect(parsePercent('20')).toBeNull();
  });

  it('formats in tc syntax with the largest exact unit', () => {
    expect(formatRate(10e6)).toBe('10mbit');
    expect(formatRate(1.5e6)).toBe('1500kbit');
    expect(formatSize(32768)).toBe('32kb');
    expect(formatSize(1536)).toBe('1536b');
    expect(formatDuration(50_000)).toBe('50ms');
    expect(formatDuration(1500)).toBe('1500us');
    expect(formatDuration(2e6)).toBe('2s');
  });
});

describe('conditions in the lab language', () => {
  it("puts a link's conditions on both ends, an end's own conditions winning key by key", () => {
    const l = lab(twoHosts(', conditions: { rate: 5mbit, loss: 0% }', ', conditions: { rate: 10mbit, delay: 50ms, jitter: 5ms }'));
    const a = l.hosts.find((h) => h.name === 'a')!.interfaces[0]!;
    const b = l.hosts.find((h) => h.name === 'b')!.interfaces[0]!;
    expect(a.conditions).toMatchObject({ rate: 5e6, delay: 50_000, jitter: 5000, loss: null, burst: null, limit: null });
    expect(a.conditions!.pos).toMatchObject({ line: 5, path: 'hosts.a.interfaces.eth0.conditions' });
    expect(b.conditions).toMatchObject({ rate: 10e6, delay: 50_000, jitter: 5000 });
    expect(b.conditions!.pos).toMatchObject({ line: 10, path: 'links[0].conditions' });
  });

  it('has no conditions without the key, or when every value is 0', () => {
    expect(lab(twoHosts('')).hosts[0]!.interfaces[0]!.conditions).toBeNull();
    expect(lab(twoHosts(', conditions: { loss: 0%, delay: 0ms }')).hosts[0]!.interfaces[0]!.conditions).toBeNull();
  });

  it('reports bad units at their position, in words', () => {
    const r = load(twoHosts(', conditions: { rate: 10mbps, loss: 120%, delay: "50", limit: 0 }'));
    expect(r.issues.map((i) => [i.line, i.path, i.message])).toEqual([
      [5, 'hosts.a.interfaces.eth0.conditions.rate', expect.stringContaining('must be a rate in bits per second like 10mbit')],
      [5, 'hosts.a.interfaces.eth0.conditions.loss', expect.stringContaining('must be a percentage like 20%')],
      [5, 'hosts.a.interfaces.eth0.conditions.delay', expect.stringContaining('must be a duration like 50ms')],
      [5, 'hosts.a.interfaces.eth0.conditions.limit', 'must be >= 1'],
    ]);
    expect(load(twoHosts(', conditions: { speed: 1mbit }')).issues[0]?.message).toContain('unknown key "speed"');
  });

  it('reports keys that need another one, once, where they were written', () => {
    const r = load(twoHosts(', conditions: { jitter: 5ms }', ', conditions: { reorder: 5%, burst: 32kb }'));
    expect(r.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`)).toEqual([
      expect.stringMatching(/^5:55 hosts\.a\.interfaces\.eth0\.conditions\.jitter: jitter needs a delay/),
      expect.stringMatching(/^10:43 links\[0\]\.conditions\.reorder: reorder needs a delay/),
      expect.stringMatching(/^10:56 links\[0\]\.conditions\.burst: burst only applies with a rate/),
    ]);
  });

  it('refuses a burst smaller than one full packet of the interface', () => {
    const r = load(twoHosts(', mtu: 9000, conditions: { rate: 1gbit, burst: 8kb }'));
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]!.message).toContain('burst 8kb is less than one full packet of a:eth0 (MTU 9000 + 14 bytes of Ethernet header)');
  });
});

// What `tc -raw -j qdisc show` printed on this machine (tbf) and in the VM (netem, Debian 6.1).
const TBF_10MBIT: RawQdisc[] = [
  { kind: 'noqueue', handle: '0:', dev: 'lo', root: true, options: {} },
  {
    kind: 'tbf',
    handle: '1:',
    dev: 'eth0',
    root: true,
    options: { rate: 1250000, burst: 32767, burst_raw: '64000', lat: 53786, limit: 100000 },
  },
];
const TBF_PFIFO: RawQdisc[] = [
  { kind: 'tbf', handle: '1:', dev: 'eth0', root: true, options: { rate: 125000000, burst: 1048500, lat: 50000, limit: 7298576 } },
  { kind: 'pfifo', handle: '2:', dev: 'eth0', parent: '1:1', options: { limit: 100 } },
];
const NETEM_TBF: RawQdisc[] = [
  {
    kind: 'netem',
    handle: '1:',
    dev: 'eth0',
    root: true,
    options: {
      limit: 1000,
      delay: { delay: 0.05, jitter: 0.005, correlation: 0 },
      'loss-random': { loss: 0.2, correlation: 0 },
      duplicate: { duplicate: 0.01, correlation: 0 },
      reorder: { reorder: 0.05, correlation: 0 },
      corrupt: { corrupt: 0.001, correlation: 0 },
      ecn: false,
      gap: 1,
    },
  },
  { kind: 'tbf', handle: '2:', dev: 'eth0', parent: '1:1', options: { rate: 1250000, burst: 32767, lat: 53786, limit: 100000 } },
];
const NETEM_ODD: RawQdisc[] = [
  {
    kind: 'netem',
    handle: '8001:',
    dev: 'eth0',
    root: true,
    options: {
      limit: 500,
      delay: { delay: 0.001499, jitter: 9.9e-5 },
      'loss-random': { loss: 1.00001e-6 },
      duplicate: { duplicate: 0.999999 },
    },
  },
];

describe('qdisc model: desired and observed agree after a round trip through the kernel', () => {
  const desired = (x: Partial<Conditions>) => qdiscObject('ns', 'eth0', c(x), 'desired')!;
  const observed = (raw: RawQdisc[]) => parseQdiscs('ns', raw);

  it('tbf: rate in bytes/s, a burst reported a byte short', () => {
    const [o] = observed(TBF_10MBIT);
    expect(o).toMatchObject({ rate: '10mbit', burst: '32kb', limit: null, kinds: ['tbf'], handle: '1:' });
    expect(sameObject(o!, desired({ rate: 10e6, burst: 32768 }))).toBe(true);
  });

  it('tbf with a packet queue under it; a 1 MiB burst at 1gbit reported 76 bytes short', () => {
    const [o] = observed(TBF_PFIFO);
    expect(o).toMatchObject({ rate: '1gbit', burst: '1mb', limit: 100, kinds: ['tbf', 'pfifo'] });
    expect(sameObject(o!, desired({ rate: 1e9, burst: 1048576, limit: 100 }))).toBe(true);
  });

  it("netem with a token bucket under it: seconds and fractions back to the lab's units", () => {
    const [o] = observed(NETEM_TBF);
    expect(o).toMatchObject({
      delay: '50ms',
      jitter: '5ms',
      loss: '20%',
      duplicate: '1%',
      reorder: '5%',
      corrupt: '0.1%',
      limit: 1000,
      rate: '10mbit',
      burst: '32kb',
      kinds: ['netem', 'tbf'],
    });
    const d = desired({ rate: 10e6, burst: 32768, delay: 50_000, jitter: 5000, loss: 20, duplicate: 1, reorder: 5, corrupt: 0.1 });
    expect(sameObject(o!, d)).toBe(true);
  });

  it('netem values tc prints truncated (1.5ms as 0.001499 s) still match', () => {
    const [o] = observed(NETEM_ODD);
    expect(sameObject(o!, desired({ delay: 1500, jitter: 100, loss: 0.0001, duplicate: 99.9999, limit: 500 }))).toBe(true);
    expect(o!.handle).toBe('8001:');
  });

  it('the default root qdisc and foreign kinds are no conditions', () => {
    expect(observed([{ kind: 'noqueue', handle: '0:', dev: 'eth0', root: true }])).toEqual([]);
    expect(observed([{ kind: 'fq_codel', handle: '0:', dev: 'tap0', root: true }])).toEqual([]);
  });

  it('rounds a desired burst up to its grid (never below what was asked), by rate', () => {
    expect(burstGrid(10e6)).toBe(256);
    expect(burstGrid(10e9)).toBe(8192);
    expect(desired({ rate: 10e6, burst: 1600 }).burst).toBe('1792b');
    expect(desired({ rate: 10e6 }).burst).toBe('16kb');
    expect(desired({ rate: 1e9 }).burst).toBe('1221kb');
  });

  it('reads back as plain units (what netlab link changes)', () => {
    expect(conditionsOf(parseQdiscs('ns', NETEM_TBF)[0])).toEqual({
      rate: 10e6,
      burst: 32768,
      delay: 50_000,
      jitter: 5000,
      loss: 20,
      duplicate: 1,
      reorder: 5,
      corrupt: 0.1,
      limit: 1000,
    });
  });
});

describe('qdisc commands', () => {
  const text = (cmds: ReturnType<typeof createQdisc>) => cmds.map(operationText);
  const q = (x: Partial<Conditions>, handle?: string): QdiscObj => {
    const o = qdiscObject('lab-a', 'eth0', c(x), 'desired')!;
    return handle ? { ...o, handle } : o;
  };

  it('builds the tree at the root with explicit handles, every netem option written', () => {
    expect(text(createQdisc(q({ delay: 50_000, rate: 10e6 })))).toEqual([
      'tc -n lab-a qdisc replace dev eth0 root handle 1: netem limit 1000 delay 50ms 0us loss 0% duplicate 0% reorder 0% corrupt 0%',
      'tc -n lab-a qdisc replace dev eth0 parent 1:1 handle 2: tbf rate 10mbit burst 16kb limit 78884',
    ]);
    expect(text(createQdisc(q({ limit: 50 })))).toEqual(['tc -n lab-a qdisc replace dev eth0 root handle 1: pfifo limit 50']);
  });

  it('changes in place when the shape stays, touching only what changed', () => {
    expect(text(modifyQdisc(q({ delay: 50_000, rate: 10e6 }), q({ delay: 80_000, rate: 10e6 })))).toEqual([
      'tc -n lab-a qdisc change dev eth0 root netem limit 1000 delay 80ms 0us loss 0% duplicate 0% reorder 0% corrupt 0%',
    ]);
    expect(text(modifyQdisc(q({ delay: 50_000, rate: 10e6 }, '8001:'), q({ delay: 50_000, rate: 20e6 })))).toEqual([
      'tc -n lab-a qdisc change dev eth0 parent 8001:1 tbf rate 20mbit burst 25kb limit 150600',
    ]);
  });

  it('sets a fifo under a tbf again after changing the tbf (the kernel resets its limit)', () => {
    expect(text(modifyQdisc(q({ rate: 10e6, limit: 100 }), q({ rate: 20e6, limit: 100 })))).toEqual([
      'tc -n lab-a qdisc change dev eth0 root tbf rate 20mbit burst 25kb limit 150600',
      'tc -n lab-a qdisc change dev eth0 parent 1:1 pfifo limit 100',
    ]);
  });

  it('replaces the tree when its shape changes, and deletes the root to remove it', () => {
    expect(text(modifyQdisc(q({ rate: 10e6, limit: 100 }), q({ rate: 10e6 })))).toEqual([
      'tc -n lab-a qdisc del dev eth0 root',
      'tc -n lab-a qdisc replace dev eth0 root handle 1: tbf rate 10mbit burst 16kb limit 78884',
    ]);
    expect(text(deleteQdisc(q({ rate: 10e6 })))).toEqual(['tc -n lab-a qdisc del dev eth0 root']);
  });
});

describe('conditions through the engine (fake kernel)', () => {
  useTempStateDir();

  it('creates conditions after the links, re-applies as 0 steps, changes a rate in one modify step', async () => {
    const d = new FakeDriver();
    const first = await applyLab(d, lab(twoHosts('', ', conditions: { rate: 10mbit }')));
    const qsteps = first.steps.filter((s) => s.objects.some((id) => id.startsWith('qdisc:')));
    expect(qsteps.map((s) => [s.op, s.objects[0]])).toEqual([
      ['create', 'qdisc:c-a/eth0'],
      ['create', 'qdisc:c-b/eth0'],
    ]);
    expect(first.steps.at(-1)!.objects[0]).toMatch(/^qdisc:/);
    expect((await applyLab(d, lab(twoHosts('', ', conditions: { rate: 10mbit }')))).steps).toEqual([]);
    const p = await planLab(d, lab(twoHosts(', conditions: { rate: 20mbit }', ', conditions: { rate: 10mbit }')));
    expect(p.plan.steps.map((s) => [s.op, s.title, s.reason])).toEqual([
      ['modify', 'conditions on c-a/eth0', expect.stringContaining('rate: 10mbit -> 20mbit')],
    ]);
    expect(p.plan.steps[0]!.commands.map(operationText)).toEqual([
      'tc -n c-a qdisc change dev eth0 root tbf rate 20mbit burst 25kb limit 150600',
    ]);
  });

  it('removing conditions is one delete step; the record says where qdiscs are observed', async () => {
    const d = new FakeDriver();
    await applyLab(d, lab(twoHosts(', conditions: { delay: 10ms }')));
    expect((await store.readRecord('c'))!.scope.find((q) => q.ns === 'c-a')?.qdiscs).toBe(true);
    const r = await applyLab(d, lab(twoHosts('')));
    expect(r.steps.map((s) => [s.op, s.title])).toEqual([['delete', 'conditions on c-a/eth0']]);
    expect([...d.kernel.keys()].filter((id) => id.startsWith('qdisc:'))).toEqual([]);
  });

  it('a failure at any command of a run that creates, changes and removes conditions rolls back exactly', async () => {
    const before = lab(
      [
        'name: c',
        'hosts:',
        '  a:',
        '    interfaces:',
        '      eth0: { addresses: [10.0.0.1/24], conditions: { rate: 10mbit } }',
        '      eth1: { addresses: [10.0.1.1/24], conditions: { delay: 20ms } }',
        '  b:',
        '    interfaces:',
        '      eth0: { addresses: [10.0.0.2/24] }',
        '      eth1: { addresses: [10.0.1.2/24], conditions: { rate: 1mbit, limit: 10 } }',
        'links:',
        '  - { a: a:eth0, b: b:eth0 }',
        '  - { a: a:eth1, b: b:eth1 }',
        '',
      ].join('\n'),
    );
    const after = lab(
      [
        'name: c',
        'hosts:',
        '  a:',
        '    interfaces:',
        '      eth0: { addresses: [10.0.0.1/24], conditions: { rate: 20mbit, delay: 5ms } }',
        '      eth1: { addresses: [10.0.1.1/24], conditions: { delay: 30ms, loss: 1% } }',
        '  b:',
        '    interfaces:',
        '      eth0: { addresses: [10.0.0.2/24], conditions: { limit: 20 } }',
        '      eth1: { addresses: [10.0.1.2/24] }',
        'links:',
        '  - { a: a:eth0, b: b:eth0 }',
        '  - { a: a:eth1, b: b:eth1 }',
        '',
      ].join('\n'),
    );
    const base = new FakeDriver();
    await applyLab(base, before);
    const p = await planLab(base, after);
    expect(p.plan.steps.map((s) => s.op).sort()).toEqual(['create', 'delete', 'modify', 'modify']);
    const total = p.plan.steps.reduce((n, s) => n + s.commands.length, 0);
    for (let k = 0; k < total; k++) {
      const d = new FakeDriver(base.snapshot().values());
      const snapshot = d.snapshot();
      d.injectFault({ failAtCommand: k, message: `Error: injected at ${k}` });
      const err = await applyLab(d, after).catch((e: unknown) => e);
      expect(err, `fault at command ${k}`).toBeInstanceOf(ApplyFailedError);
      expect(diffStates(snapshot, d.snapshot()), `fault at command ${k}`).toEqual([]);
    }
    // And without a fault the run lands exactly on the lab.
    const d = new FakeDriver(base.snapshot().values());
    await applyLab(d, after);
    expect((await planLab(d, after)).plan.steps).toEqual([]);
  });
});
