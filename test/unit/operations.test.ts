// The effect of an operation is derived from it (effectOf), so the fake kernel applies what the
// real driver is sent: a plan's operations, applied one by one, take the fake kernel from the
// live state to exactly the desired one, for links changed in place as for everything made or
// removed; and an operation on a device that is not there fails, as in the kernel.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FakeDriver } from '../../src/driver/fake.js';
import { KernelError } from '../../src/errors.js';
import { desiredState } from '../../src/model/desired.js';
import { diffStates, type State } from '../../src/model/objects.js';
import { effectOf, PHASE } from '../../src/model/operations.js';
import { plan } from '../../src/plan/plan.js';
import { labOf } from './helpers.js';

async function applied(from: State, to: State): Promise<State> {
  const d = new FakeDriver(from.values());
  for (const s of plan(to, from).steps) await d.execute(s.commands);
  return d.snapshot();
}

const CHANGES = `name: ch
hosts:
  a:
    interfaces:
      eth0: { addresses: [10.0.0.1/24], mtu: 1500 }
      br0: { kind: bridge, stp: false }
      p1: { bridge: br0, conditions: { rate: 5mbit, delay: 5ms } }
  b:
    interfaces:
      eth0: { addresses: [10.0.0.2/24] }
  d:
    interfaces:
      eth0: { link: a:p1, addresses: [10.0.1.3/24] }
links:
  - { a: a:eth0, b: b:eth0 }
`;
const changed = CHANGES.replace('mtu: 1500', 'mtu: 1400, up: false')
  .replace('stp: false', 'stp: true, ageing: 120')
  .replace('p1: { bridge: br0, conditions: { rate: 5mbit, delay: 5ms } }', 'p1: { mtu: 1400, conditions: { rate: 10mbit, delay: 5ms } }');

describe('effects derived from operations', () => {
  it("takes the fake kernel to the desired state, whichever way a lab's links change in place", async () => {
    const before = desiredState(labOf('ch.yaml', CHANGES));
    const after = desiredState(labOf('ch.yaml', changed));
    expect(plan(after, before).steps.some((s) => s.op === 'modify' && s.objects[0]!.startsWith('link:'))).toBe(true);
    expect(diffStates(after, await applied(before, after))).toEqual([]);
    expect(diffStates(before, await applied(after, before))).toEqual([]);
  });

  it('builds and removes every catalogue lab exactly', async () => {
    for (const f of readdirSync('labs').filter((x) => x.endsWith('.yaml'))) {
      const s = desiredState(labOf(`labs/${f}`, readFileSync(`labs/${f}`, 'utf8')));
      expect(diffStates(s, await applied(new Map(), s)), f).toEqual([]);
      // A sysctl with no value recorded from before the lab keeps its value (releaseSysctl).
      const left = [...(await applied(s, new Map())).keys()];
      expect(
        left.filter((id) => !id.startsWith('sysctl:')),
        f,
      ).toEqual([]);
    }
  });

  it('leaving a bridge turns hairpin off, as the kernel does', () => {
    const e = effectOf({ op: 'link.set', ns: 'n', dev: 'p0', changes: { master: null }, phase: PHASE.linkSet });
    expect(e.patch).toEqual({ id: 'link:n/p0', ns: 'n', ifname: 'p0', fields: { master: null, hairpin: false } });
  });

  it('fails a change of a device that is not there', async () => {
    const d = new FakeDriver();
    const err = await d
      .execute([{ op: 'link.set', ns: 'n', dev: 'nosuch', changes: { up: true }, phase: PHASE.linkSet }])
      .catch((x: unknown) => x);
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).detail.stderr).toBe('Cannot find device "nosuch"');
  });
});
