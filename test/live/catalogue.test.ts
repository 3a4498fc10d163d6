// The lab catalogue (docs/labs/): every lab this kernel can build passes validate, apply, its own
// `expect:` assertions, re-apply with no changes, and destroy with nothing left (no namespace, no
// `run:` process). Labs that need what this kernel lacks (802.1Q VLANs, IPVLAN) are refused by
// preflight and run in the vm tier. A lab across machines runs over real ssh to machines the
// harness starts at the file's own addresses (test/live/machines-harness.ts).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadLabText } from '../../src/lab/index.js';
import { netlab } from './cli.js';
import { startMachines } from './machines-harness.js';
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
 * The SSH hosts of a lab across machines, in the order of its `machines:` (empty for a lab on
 * this machine): the harness starts a machine at each of those addresses, so the file runs as
 * shipped over real ssh, this sandbox being its `local` machine.
 */
function remoteHosts(path: string): string[] {
  const machines = loadLabText(path, readFileSync(path, 'utf8')).lab?.machines;
  return machines?.flatMap((m) => (m.ssh ? [m.ssh.host] : [])) ?? [];
}

/** What a lab leaves in the namespaces of a machine (run there by `enter`): its namespaces, its marked links, its state. */
async function leftBy(lab: string, enter: (cmd: string, args: string[]) => Promise<{ stdout: string }>): Promise<string[]> {
  const ns = (await enter('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`${lab}-`));
  const links = (await enter('ip', ['-o', 'link', 'show'])).stdout.split('\n').filter((l) => l.includes(`netlab.${lab}.`));
  const state = (await enter('find', ['/run/netlab', '-mindepth', '1', '-path', `*${lab}*`])).stdout.split('\n').filter(Boolean);
  return [...ns, ...links, ...state];
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
    const remote = remoteHosts(path);
    if (remote.length) {
      it(`${file}: over real ssh to machines at its own addresses: apply, test, re-apply (no changes), destroy (nothing left anywhere)`, async () => {
        const h = await startMachines(remote.length, { addresses: remote, bridge: 'cat0' });
        const env = h.env;
        const name = loadLabText(path, readFileSync(path, 'utf8')).lab!.name;
        try {
          expect((await netlab(['validate', path], { env })).code).toBe(0);
          const applied = await netlab(['apply', '--yes', path], { env });
          expect(applied.code, applied.all).toBe(0);
          // What destroy must leave nothing of: here on the local machine, and on every other.
          expect(await leftBy(name, (cmd, args) => sh(cmd, args))).not.toEqual([]);
          for (const m of h.machines) expect(await leftBy(name, (cmd, args) => h.enter(m, cmd, args)), m.name).not.toEqual([]);
          const tested = await netlab(['test', '--timeout', '3s', path], { env });
          expect(tested.code, tested.all).toBe(0);
          expect(tested.stdout).toMatch(/\d+ passed, 0 failed/);
          const again = await netlab(['apply', '--yes', path], { env });
          expect(again.code, again.all).toBe(0);
          // Every machine's part, in the plan and in the apply: "a (local): no changes", "b (root@...): no changes".
          const parts = again.stdout.split('\n').filter((l) => /^[a-z][a-z0-9-]* \(/.test(l));
          expect(parts.length, again.all).toBe(2 * (remote.length + 1));
          for (const l of parts) expect(l, again.all).toMatch(/: no changes$/);
          const destroyed = await netlab(['destroy', '--yes', path], { env });
          expect(destroyed.code, destroyed.all).toBe(0);
          expect(await leftBy(name, (cmd, args) => sh(cmd, args))).toEqual([]);
          for (const m of h.machines) expect(await leftBy(name, (cmd, args) => h.enter(m, cmd, args)), m.name).toEqual([]);
        } finally {
          await netlab(['destroy', '--yes', '--lab', name], { env });
          await h.stop();
        }
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
      let destroyed = false;
      try {
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
        const gone = await netlab(['destroy', path]);
        destroyed = true;
        expect(gone.code, gone.all).toBe(0);
        expect(await labNamespaces(name)).toEqual([]);
        expect(alive(procs), 'run processes left after destroy').toEqual([]);
      } finally {
        // A failure above must not leave the lab for the tests after it, which check for leftovers.
        if (!destroyed) await netlab(['destroy', path]);
      }
    });
  }
});
