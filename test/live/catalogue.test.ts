// The lab catalogue (docs/labs/): every lab this kernel can build passes validate, apply, its own
// `expect:` assertions, re-apply with no changes, and destroy with nothing left (no namespace, no
// `run:` process). Labs that need what this kernel lacks (802.1Q VLANs, IPVLAN) are refused by
// preflight and run in the vm tier.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadLabText } from '../../src/lab/index.js';
import { netlab } from './cli.js';
import { sandboxSkipReason, sh } from './sandbox.js';

/** Built in the vm tier (test/vm/scenarios), refused here by preflight. */
const VM_TIER = new Set(['vlan-trunk.yaml', 'macvlan-ipvlan.yaml']);
/**
 * Attach a running container by pid: the file holds a placeholder pid no process can have, and
 * test/live/container.test.ts applies it with a real podman container's. Here: as shipped, preflight
 * refuses it before anything changes.
 */
const NEEDS_CONTAINER = new Set(['container-attach.yaml']);

const labs = readdirSync('labs')
  .filter((f) => f.endsWith('.yaml'))
  .sort();

/**
 * A lab across machines reaches its other machines over SSH, which this one sandbox does not
 * have: applied here as shipped, it would try to reach them. Skipped with the reason printed.
 */
function acrossMachines(path: string): string | null {
  const machines = loadLabText(path, readFileSync(path, 'utf8')).lab?.machines;
  const remote = machines?.filter((m) => m.ssh !== null).map((m) => m.name) ?? [];
  return remote.length ? `a lab across machines: ${remote.join(', ')} reached over SSH, which this sandbox does not have` : null;
}

async function labNamespaces(lab: string): Promise<string[]> {
  const all = JSON.parse((await sh('ip', ['-j', 'netns', 'list'])).stdout || '[]') as { name: string }[];
  return all.map((n) => n.name).filter((n) => n.startsWith(`${lab}-`));
}

/** The lab's recorded `run` processes: pid and start time (field 22 of /proc/PID/stat). */
function runProcesses(lab: string): { pid: number; start: string }[] {
  const file = `/run/netlab/${lab}/processes.json`;
  if (!existsSync(file)) return [];
  const record = JSON.parse(readFileSync(file, 'utf8')) as { entries: { mode: string; pid: number; start: string }[] };
  return record.entries.filter((e) => e.mode === 'run').map(({ pid, start }) => ({ pid, start }));
}

/** Those of `procs` still alive (same pid and start time, not a zombie). */
function alive(procs: { pid: number; start: string }[]): number[] {
  return procs
    .filter(({ pid, start }) => {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        return false;
      }
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return fields[0] !== 'Z' && fields[19] === start;
    })
    .map((p) => p.pid);
}

describe.skipIf(sandboxSkipReason !== null)('lab catalogue', () => {
  for (const file of labs) {
    const path = `labs/${file}`;
    if (VM_TIER.has(file)) {
      it(`${file}: preflight refuses it on this kernel before anything changes`, async () => {
        const r = await netlab(['apply', path]);
        if (r.code === 0) {
          // A kernel with VLAN and IPVLAN support: then it must pass like any other lab.
          expect((await netlab(['test', path])).code).toBe(0);
          expect((await netlab(['destroy', path])).code).toBe(0);
          return;
        }
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/not supported by this kernel|Unknown device type/);
        expect(await sh('ip', ['netns', 'list']).then((x) => x.stdout)).toBe('');
      });
      continue;
    }
    const across = acrossMachines(path);
    if (across) {
      it(`${file}: skipped (${across})`, (ctx) => {
        console.log(`skipped ${path}: ${across}`);
        ctx.skip(across);
      });
      continue;
    }
    if (NEEDS_CONTAINER.has(file)) {
      it(`${file}: without a container's pid, preflight refuses it before anything changes`, async () => {
        expect((await netlab(['validate', path])).code).toBe(0);
        const r = await netlab(['apply', '--yes', path]);
        expect(r.code, r.all).toBe(1);
        expect(r.stderr).toMatch(/netns \{ pid: \d+ \}: no process \d+; needed by host \w+/);
        expect(await sh('ip', ['netns', 'list']).then((x) => x.stdout)).toBe('');
      });
      continue;
    }
    it(`${file}: validate, apply, test, re-apply (no changes), destroy (nothing left)`, async () => {
      expect((await netlab(['validate', path])).code).toBe(0);
      const applied = await netlab(['apply', path]);
      expect(applied.code, applied.all).toBe(0);
      const tested = await netlab(['test', '--timeout', '3s', path]);
      expect(tested.code, tested.all).toBe(0);
      expect(tested.stdout).toMatch(/\d+ passed, 0 failed/);
      const again = await netlab(['apply', path]);
      expect(again.stdout, again.all).toContain('no changes');
      const name = (JSON.parse((await netlab(['validate', '--json', path])).stdout) as { labs: { name: string }[] }).labs[0]!.name;
      const procs = runProcesses(name);
      expect(alive(procs), 'run processes are up before destroy').toEqual(procs.map((p) => p.pid));
      const destroyed = await netlab(['destroy', path]);
      expect(destroyed.code, destroyed.all).toBe(0);
      expect(await labNamespaces(name)).toEqual([]);
      expect(alive(procs), 'run processes left after destroy').toEqual([]);
    });
  }
});
