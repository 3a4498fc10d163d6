// npm run bench -- --machines M: a lab across machines at scale, inside the bench's sandbox.
//
// M "machines" are started with the live tier's harness (test/live/machines-harness.ts: each a
// network + mount namespace of its own running a real sshd). A star of 500 x M hosts is spread
// over them: one hub bridge per machine (a bridge holds at most 1,024 ports), its 500 hosts on
// veths to it, the hubs joined by one VXLAN segment that netlab makes from the cross-machine
// links. Its apply and destroy, as the coordinator's CLI run, are printed next to the same
// figures for a 500-host star on one machine, with the ratio. The overhead of a lab across
// machines on top of each machine's own run is one SSH round trip per phase: measured here over
// an open multiplexed connection, as netlab's runs use it.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { timed } from './sandbox.mjs';

const HOSTS_PER_MACHINE = 500;
/** The coordinator's phases of an apply: connect, version, underlay, plan, apply, commit. */
const APPLY_PHASES = ['connect', 'version', 'underlay', 'plan', 'apply', 'commit'];
/** Of a destroy: connect, version, destroy. */
const DESTROY_PHASES = ['connect', 'version', 'destroy'];
const RTT_SAMPLES = 20;

/** The harness is TypeScript for vitest; the bench (plain Node) loads a transpiled copy of it. */
async function loadHarness(root, work) {
  const source = readFileSync(join(root, 'test/live/machines-harness.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  // Its one package import, resolved from this checkout (the copy lives in a temp directory).
  const js = outputText.replace(/from 'execa'/g, `from '${import.meta.resolve('execa')}'`);
  const dir = join(work, 'harness');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'machines-harness.mjs');
  writeFileSync(file, js);
  return import(pathToFileURL(file).href);
}

/** The star across machines: host i on machine ((i-1) mod M)+1, each machine's hub bridge joined to hub1's. */
export function machinesStarYaml(name, machinesYaml, m, starAddress) {
  const n = HOSTS_PER_MACHINE * m;
  const lines = [`name: ${name}`, machinesYaml.trimEnd(), 'hosts:'];
  for (let k = 1; k <= m; k++)
    lines.push(`  hub${k}: { on: m${k}, interfaces: { br0: { kind: bridge${k === 1 ? ', addresses: [10.10.0.1/16]' : ''} } } }`);
  for (let i = 1; i <= n; i++)
    lines.push(
      `  h${i}: { on: m${((i - 1) % m) + 1}, interfaces: { eth0: { addresses: [${starAddress(i)}/16] } }, routes: [{ to: default, via: 10.10.0.1 }] }`,
    );
  lines.push('links:');
  for (let k = 2; k <= m; k++) lines.push(`  - { a: hub${k}:br0, b: hub1:br0 }`);
  for (let i = 1; i <= n; i++) lines.push(`  - { a: h${i}:eth0, b: hub${((i - 1) % m) + 1}:br0 }`);
  return `${lines.join('\n')}\n`;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One SSH round trip over an open master connection: `ssh HOST true`, the median of a few. */
async function sshRoundTrip(h, m) {
  const socket = join(h.dir, 'bench-rtt.sock');
  const base = ['-F', h.sshConfig, '-o', `ControlPath=${socket}`];
  const open = await timed('ssh', [...base, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=60', '-N', '-f', '--', m.address]);
  if (open.code !== 0) throw new Error(`bench: ssh to ${m.name}: ${open.stderr}`);
  const samples = [];
  try {
    for (let i = 0; i < RTT_SAMPLES; i++) {
      const r = await timed('ssh', [...base, '-o', 'ControlMaster=no', '--', m.address, 'true']);
      if (r.code !== 0) throw new Error(`bench: ssh ${m.name} true: ${r.stderr}`);
      samples.push(r.ms);
    }
  } finally {
    await timed('ssh', [...base, '-O', 'exit', '--', m.address]);
  }
  return { rttMs: median(samples), connectMs: open.ms };
}

/**
 * Runs the machines bench; `netlab(args, env)` is the bench's timed CLI run, `fastest` picks the
 * least disturbed of `repeat` runs.
 */
export async function benchMachines({ root, work, m, repeat, netlab, log, starLabYaml, starAddress, netnsCount }) {
  const { startMachines } = await loadHarness(root, work);
  const ms = (r) => Math.round(r.ms);

  const one = { apply: [], destroy: [] };
  const single = join(work, 'one.yaml');
  writeFileSync(single, starLabYaml({ name: 'one', hosts: HOSTS_PER_MACHINE }));
  for (let k = 0; k < repeat; k++) {
    log(`bench: one machine, N=${HOSTS_PER_MACHINE}: apply, destroy`);
    one.apply.push(ms(await netlab(['apply', '--yes', single])));
    one.destroy.push(ms(await netlab(['destroy', '--yes', single])));
    if (netnsCount() !== 0) throw new Error('bench: namespaces left after destroy');
  }

  log(`bench: starting ${m} machines (namespaces with sshd)`);
  const h = await startMachines(m);
  try {
    const n = HOSTS_PER_MACHINE * m;
    const file = join(work, 'across.yaml');
    writeFileSync(file, machinesStarYaml('across', h.machinesYaml(), m, starAddress));
    const { rttMs: rtt, connectMs } = await sshRoundTrip(h, h.machines[0]);
    const across = { apply: [], destroy: [] };
    for (let k = 0; k < repeat; k++) {
      log(`bench: ${m} machines, N=${n}: apply`);
      const a = await netlab(['apply', '--yes', file], h.env);
      if (!new RegExp(`committed on ${m} machines`).test(a.stdout)) throw new Error(`bench: apply across machines:\n${a.stdout}`);
      across.apply.push(ms(a));
      log(`bench: ${m} machines, N=${n}: destroy`);
      across.destroy.push(ms(await netlab(['destroy', '--yes', '--lab', 'across'], h.env)));
    }
    const perMachine = await Promise.all(
      h.machines.map(async (x) => Number((await h.enter(x, 'sh', ['-c', 'ls /run/netns | wc -l'])).stdout.trim())),
    );
    if (perMachine.some((c) => c !== 0)) throw new Error(`bench: namespaces left on the machines: ${perMachine.join(', ')}`);
    const best = (xs) => Math.min(...xs);
    return {
      machines: m,
      hosts: n,
      hostsPerMachine: HOSTS_PER_MACHINE,
      oneMachine: { hosts: HOSTS_PER_MACHINE, applyMs: best(one.apply), destroyMs: best(one.destroy) },
      acrossMachines: { applyMs: best(across.apply), destroyMs: best(across.destroy) },
      ratios: {
        apply: best(across.apply) / best(one.apply),
        destroy: best(across.destroy) / best(one.destroy),
      },
      sshRoundTripMs: Math.round(rtt * 10) / 10,
      sshConnectMs: Math.round(connectMs),
      phases: { apply: APPLY_PHASES, destroy: DESTROY_PHASES },
      overheadMs: { apply: Math.round(rtt * APPLY_PHASES.length), destroy: Math.round(rtt * DESTROY_PHASES.length) },
    };
  } finally {
    await h.stop();
  }
}

const sec = (x) => (x / 1000).toFixed(2);

export function machinesTable(r) {
  return [
    `| lab | hosts | apply | destroy |`,
    `|---|---:|---:|---:|`,
    `| one machine | ${r.oneMachine.hosts} | ${sec(r.oneMachine.applyMs)} s | ${sec(r.oneMachine.destroyMs)} s |`,
    `| ${r.machines} machines | ${r.hosts} | ${sec(r.acrossMachines.applyMs)} s | ${sec(r.acrossMachines.destroyMs)} s |`,
    `| ratio | ${r.machines}x | ${r.ratios.apply.toFixed(2)}x | ${r.ratios.destroy.toFixed(2)}x |`,
    '',
    `SSH round trip over the open connection: ${r.sshRoundTripMs} ms (median of ${RTT_SAMPLES}); opening it: ${r.sshConnectMs} ms;`,
    `apply has ${r.phases.apply.length} phases (${r.phases.apply.join(', ')}): ~${r.overheadMs.apply} ms on top of the slowest machine;`,
    `destroy has ${r.phases.destroy.length} (${r.phases.destroy.join(', ')}): ~${r.overheadMs.destroy} ms.`,
  ].join('\n');
}
