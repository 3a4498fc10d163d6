// The vm tier: boots ONE VM (see vm.ts) that runs test/vm/suite.sh, which runs every scenario in
// test/vm/scenarios/ (or those named in NETLAB_VM_SCENARIOS); then one test per scenario.
// NETLAB_VM_KEEP=1 keeps the results directory (its path is printed).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelVersion, removeResults, repoRoot, runInVm, vmSupport, type VmResult } from './vm.js';

const why = vmSupport();
const scenariosDir = join(repoRoot, 'test', 'vm', 'scenarios');
const selected = process.env.NETLAB_VM_SCENARIOS?.split(/[\s,]+/).filter((s) => s !== '');
const scenarios =
  selected && selected.length > 0
    ? selected
    : readdirSync(scenariosDir)
        .filter((f) => f.endsWith('.sh'))
        .map((f) => f.slice(0, -'.sh'.length))
        .sort();

describe.skipIf(why !== null)(`vm tier${why ? ` (skipped: ${why})` : ''}`, () => {
  let run: VmResult;
  const result = (file: string): string | null => {
    const p = join(run.results, file);
    return existsSync(p) ? readFileSync(p, 'utf8') : null;
  };

  beforeAll(async () => {
    const env: Record<string, string> = { NETLAB_VM_SCENARIOS: scenarios.join(' ') };
    if (process.env.NETLAB_VM_SCENARIO_TIMEOUT) env.NETLAB_VM_SCENARIO_TIMEOUT = process.env.NETLAB_VM_SCENARIO_TIMEOUT;
    // netlab labs under TCG: 10-30 s per netlab command on a busy 2-core machine.
    run = await runInVm('exec sh test/vm/suite.sh\n', { env, timeoutMs: 1_080_000 });
  });

  afterAll(() => {
    if (!run) return;
    const lines = [
      `vm tier: boot to script start ${run.timings.bootSeconds ?? '?'} s, whole VM run ${run.timings.totalSeconds} s`,
      ...scenarios.map((s) => `  ${s}: ${result(`${s}.secs`)?.trim() ?? '?'} s, rc ${result(`${s}.rc`)?.trim() ?? '?'}`),
    ];
    console.log(lines.join('\n'));
    if (process.env.NETLAB_VM_KEEP) console.log(`vm results kept in ${run.results}`);
    else removeResults(run.results);
  });

  it('runs the Debian kernel from /boot', () => {
    const uname = result('uname');
    expect(uname, `no uname in the results; console:\n${run.output}`).not.toBeNull();
    expect(uname?.trim()).toBe(kernelVersion());
  });

  for (const name of scenarios) {
    it(`scenario ${name}`, () => {
      const rc = result(`${name}.rc`);
      const log = result(`${name}.log`) ?? '(no log)';
      expect(rc, `${name} did not run; console:\n${run.output}`).not.toBeNull();
      expect(Number(rc?.trim()), `${name} failed (rc ${rc?.trim()}); its log:\n${log}`).toBe(0);
    });
  }
});
