// `netlab test` across machines: every assertion (reaches [...] and truth tables too) runs on the
// machine of its source host, responders wanted by other machines' probes are the coordinator's
// to start, and what a machine is sent is checked against its slice.
import { describe, expect, it } from 'vitest';
import { loadLabText } from '../../src/lab/index.js';
import type { Lab } from '../../src/lab/types.js';
import { parseTestRequest, testsByMachine } from '../../src/machines/assertions.js';
import { spanLab, UNREACHED_MACHINES } from '../fixtures/span-lab.js';

const MATRIX = `  - matrix:
      from: [a1, a2, a3]
      to: [a1, a2, a3]
      port: 80
      want: ["X..", ".X.", "..X"]
`;

const LAB = `${spanLab(UNREACHED_MACHINES, {
  expect: ['a2 -> a3 reachable', 'a1 -> a3:80 reaches [a2, a3]', 'a3 -> r3:9 tcp reachable'],
})}${MATRIX}`;

function load(text: string): Lab {
  const r = loadLabText('span.yaml', text);
  if (!r.lab) throw new Error(r.issues.map((i) => `${i.line}:${i.col} ${i.message}`).join('\n'));
  return r.lab;
}

/** A machine's slice as the machine loads it: only its hosts. */
function sliceOf(lab: Lab, machine: string): Lab {
  return { ...lab, machines: undefined, hosts: lab.hosts.filter((h) => h.machine === machine) };
}

describe('assertions of a lab across machines', () => {
  it('runs each assertion on its source host’s machine, a truth table cut into the rows of each', () => {
    const lab = load(LAB);
    const t = testsByMachine(lab);
    expect([...t.keys()].sort()).toEqual(['m1', 'm2', 'm3']);
    // Indexes into the lab's expect:, so the results come back where they were written.
    expect(t.get('m1')!.expectAt).toEqual([1]);
    expect(t.get('m2')!.expectAt).toEqual([0]);
    expect(t.get('m3')!.expectAt).toEqual([2]);
    // reaches [...] towards backends on other machines is run, its backends kept by name.
    expect(t.get('m1')!.request.expect[0]).toMatchObject({ from: 'a1', verdict: 'reaches', backends: ['a2', 'a3'] });
    for (const [m, row] of [
      ['m1', 0],
      ['m2', 1],
      ['m3', 2],
    ] as const) {
      expect(t.get(m)!.matrixAt).toEqual([{ at: 0, rows: [row] }]);
      const sub = t.get(m)!.request.matrices[0]!;
      expect(sub.from).toEqual([lab.matrices![0]!.from[row]]);
      expect(sub.want).toEqual([lab.matrices![0]!.want[row]]);
      expect(sub.to).toEqual(lab.matrices![0]!.to);
    }
  });

  it('leaves a responder to its machine’s own run unless another machine’s probes need it', () => {
    const t = testsByMachine(load(LAB));
    // a1..a3 answer the table's probes from every machine: the coordinator starts them first.
    expect(t.get('m1')!.forOthers).toEqual([{ host: 'a1', tcp: [80], udp: [] }]);
    expect(t.get('m2')!.forOthers).toEqual([{ host: 'a2', tcp: [80], udp: [] }]);
    expect(t.get('m3')!.forOthers).toEqual([{ host: 'a3', tcp: [80], udp: [] }]);
    // r3:9 is probed from m3 alone.
    expect(t.get('m3')!.request.responders).toEqual([{ host: 'r3', tcp: [9], udp: [] }]);
    expect(t.get('m1')!.request.responders).toEqual([]);
    // Without the table, a1 answers nobody.
    const plain = testsByMachine(load(LAB.replace(MATRIX, '')));
    expect(plain.get('m1')!.forOthers).toEqual([]);
    expect(plain.get('m2')!.forOthers).toEqual([{ host: 'a2', tcp: [80], udp: [] }]);
  });

  it('checks what a machine is sent against its slice', () => {
    const lab = load(LAB);
    const slice = sliceOf(lab, 'm1');
    const request = JSON.parse(JSON.stringify(testsByMachine(lab).get('m1')!.request)) as Record<string, unknown>;
    const parsed = parseTestRequest(request, slice);
    expect(parsed.expect.map((e) => [e.from, e.to.address, e.backends])).toEqual([['a1', '10.0.0.3', ['a2', 'a3']]]);
    expect(parsed.matrices[0]!.want).toEqual([[false, true, true]]);
    const bad = (change: (r: { expect: Record<string, unknown>[]; responders: Record<string, unknown>[] }) => void) => {
      const r = structuredClone(request) as { expect: Record<string, unknown>[]; responders: Record<string, unknown>[] };
      change(r);
      return () => parseTestRequest(r, slice);
    };
    expect(bad((r) => (r.expect[0]!.from = 'a2'))).toThrow(/expect\[0\]\.from "a2" is not a host of this slice/);
    expect(bad((r) => ((r.expect[0]!.to as Record<string, unknown>).address = '10.0.0.3; reboot'))).toThrow(
      /expect\[0\]\.to\.address is not valid/,
    );
    expect(bad((r) => (r.expect[0]!.backends = ['../x']))).toThrow(/backends\[0\] is not valid/);
    expect(bad((r) => r.responders.push({ host: 'a3', tcp: [80], udp: [] }))).toThrow(/responders\[0\]\.host "a3" is not a host/);
    expect(bad((r) => r.responders.push({ host: 'a1', tcp: [0], udp: [] }))).toThrow(/responders\[0\]\.tcp is not valid/);
    expect(() => parseTestRequest(null, slice)).toThrow(/not valid/);
  });
});
