// The two ways the real driver carries out a plan leave the kernel in the same state: every
// catalogue lab this kernel can build is applied once through the netlink writer and once with
// NETLAB_NETLINK=0 (every operation rendered to `ip`/`bridge`/`tc` batch lines), and what the
// driver observes of the lab afterwards is the same object for object.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { scopeOfLab } from '../../src/observe/scope.js';
import { RealDriver } from '../../src/driver/real.js';
import { desiredState } from '../../src/model/desired.js';
import { diffStates, type State } from '../../src/model/objects.js';
import { loadLabText } from '../../src/lab/index.js';
import { netlab } from './cli.js';
import { sandboxSkipReason } from './sandbox.js';

/** Needs a running container's pid (see catalogue.test.ts): refused by preflight as shipped. */
const NEEDS_CONTAINER = new Set(['container-attach.yaml']);

const labs = readdirSync('labs')
  .filter((f) => f.endsWith('.yaml') && !NEEDS_CONTAINER.has(f))
  .sort();

/** The processes the run made, from NETLAB_PROFILE's report. */
const processes = (r: { all: string }) =>
  (JSON.parse(/NETLAB_PROFILE (\{.*\})/.exec(r.all)![1]!) as { counts: { processes: number } }).counts.processes;

describe.skipIf(sandboxSkipReason !== null)('netlink writer against the ip batches, lab by lab', () => {
  for (const file of labs) {
    const path = `labs/${file}`;
    if (loadLabText(path, readFileSync(path, 'utf8')).lab?.machines) {
      const why = 'a lab across machines: its slices, not the whole file, are what a machine applies';
      it(`${file}: skipped (${why})`, (ctx) => {
        console.log(`skipped ${path}: ${why}`);
        ctx.skip(why);
      });
      continue;
    }
    it(`${file}: the same kernel state either way`, async (ctx) => {
      const loaded = loadLabText(path, readFileSync(path, 'utf8'));
      const lab = loaded.lab!;
      expect(lab, loaded.issues.map((i) => i.message).join('\n')).toBeDefined();
      const scope = scopeOfLab(lab, desiredState(lab));
      const observe = async (): Promise<State> => (await new RealDriver().observe({ lab: lab.name, namespaces: scope })).state;

      const viaIp = await netlab(['apply', path], { env: { NETLAB_NETLINK: '0', NETLAB_PROFILE: '1' } });
      // A lab this kernel cannot build (802.1Q, IPVLAN: the vm tier's) is refused before anything changes.
      if (viaIp.code === 1 && /not supported by this kernel|Unknown device type/.test(viaIp.stderr)) return ctx.skip();
      expect(viaIp.code, viaIp.all).toBe(0);
      const expected = await observe();
      const down = await netlab(['destroy', path]);
      expect(down.code, down.all).toBe(0);

      const viaNetlink = await netlab(['apply', path], { env: { NETLAB_PROFILE: '1' } });
      expect(viaNetlink.code, viaNetlink.all).toBe(0);
      const actual = await observe();
      expect(diffStates(expected, actual)).toEqual([]);
      expect(actual.size).toBe(expected.size);
      // The writer did the work: fewer processes than the batches through `ip`.
      expect(processes(viaNetlink)).toBeLessThan(processes(viaIp));
      const destroyed = await netlab(['destroy', path]);
      expect(destroyed.code, destroyed.all).toBe(0);
    });
  }
});
