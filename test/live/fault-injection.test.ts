// Fault injection on the real kernel: apply, destroy and gc of a 200-host lab with `run`
// processes and nft are SIGKILLed at many moments of a run; after `gc` nothing of the lab is left
// anywhere (namespaces, links, nft tables, mounts, processes in any namespace, state entries).
// Then SIGINT at many moments of an apply: either rolled back with exit 1 and nothing left, or
// applied and recorded whole, with a message that says which.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { labFile, netlab, NETLAB } from './cli.js';
import { sandboxSkipReason, sh } from './sandbox.js';

const LAB = 'fi';
const HOSTS = 200;
/** Sleep durations no other test uses: a process of this lab is found by its command line. */
const MARKS = ['3011', '3012'];

/** 200 hosts on a hub bridge; the hub masquerades and publishes a port (nft), every tenth host runs a process group. */
function faultLab(): string {
  const lines = [
    `name: ${LAB}`,
    'hosts:',
    '  hub:',
    '    sysctls: { net.ipv4.ip_forward: 1 }',
    '    interfaces:',
    '      br0: { kind: bridge, addresses: [10.30.0.1/16] }',
    '      up: { addresses: [192.0.2.1/24] }',
    '    nat:',
    '      masquerade: [{ from: 10.30.0.0/16, out: up }]',
    '      publish: [{ proto: tcp, port: 8080, to: h1:80 }]',
    '  out:',
    '    interfaces:',
    '      eth0: { addresses: [192.0.2.2/24] }',
  ];
  for (let i = 1; i <= HOSTS; i++) {
    lines.push(`  h${i}:`, '    interfaces:', `      eth0: { addresses: [10.30.${Math.floor(i / 250)}.${(i % 250) + 2}/16] }`);
    if (i % 10 === 1) lines.push('    run:', `      - { name: grp, command: "sh -c 'sleep ${MARKS[0]} & sleep ${MARKS[1]}; wait'" }`);
  }
  lines.push('links:', '  - { a: hub:up, b: out:eth0 }');
  for (let i = 1; i <= HOSTS; i++) lines.push(`  - { a: h${i}:eth0, b: hub:br0 }`);
  return `${lines.join('\n')}\n`;
}

function run(args: string[]): {
  child: ReturnType<typeof spawn>;
  done: Promise<{ code: number | null; signal: string | null; out: string }>;
} {
  const child = spawn('node', [NETLAB, ...args], {
    env: { ...process.env, NO_COLOR: '1', NETLAB_SERVE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; signal: string | null; out: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, out })),
  );
  return { child, done };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function timed(args: string[]): Promise<number> {
  const t = Date.now();
  const r = await run(args).done;
  expect(r.code, r.out).toBe(0);
  return Date.now() - t;
}

/** Runs `args` and SIGKILLs (or signals) it after `ms`; returns how it ended. */
async function killAfter(args: string[], ms: number, signal: NodeJS.Signals = 'SIGKILL') {
  const p = run(args);
  await sleep(ms);
  p.child.kill(signal);
  return p.done;
}

/** The lab's namespaces that exist now. */
async function labNamespaces(): Promise<string[]> {
  const all = JSON.parse((await sh('ip', ['-j', 'netns', 'list'])).stdout || '[]') as { name: string }[];
  return all.map((n) => n.name).filter((n) => n.startsWith(`${LAB}-`));
}

/** Everything of the lab that is still anywhere: empty means nothing is left. */
async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  found.push(...(await labNamespaces()).map((n) => `namespace ${n}`));
  const links = JSON.parse((await sh('ip', ['-j', 'link', 'show'])).stdout) as { ifname: string; altnames?: string[] }[];
  found.push(...links.filter((l) => (l.altnames ?? []).some((a) => a.startsWith(`netlab.${LAB}.`))).map((l) => `link ${l.ifname}`));
  const tables = (await sh('nft', ['list', 'tables'])).stdout;
  if (tables.includes(`netlab_${LAB}`)) found.push('nft table in the sandbox namespace');
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  found.push(
    ...mounts
      .split('\n')
      .filter((l) => l.includes(`/run/netns/${LAB}-`))
      .map((l) => `mount ${l.split(' ')[4]}`),
  );
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (MARKS.some((m) => cmd.includes(`sleep ${m}`)))
      found.push(`process ${pid} (${cmd.trim()}) in ${readlinkSafe(`/proc/${pid}/ns/net`)}`);
  }
  if (existsSync(`/run/netlab/${LAB}`)) found.push(`state /run/netlab/${LAB}: ${readdirSync(`/run/netlab/${LAB}`).join(', ')}`);
  return found;
}

function readlinkSafe(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return '?';
  }
}

async function gcClean(context: string): Promise<void> {
  const gc = await netlab(['gc', '--yes']);
  expect(gc.code, `${context}\n${gc.all}`).toBe(0);
  // Processes killed by destroy or rollback may take a moment to be reaped by their parent (pid 1).
  let left = await leftovers();
  for (let i = 0; i < 50 && left.some((l) => l.startsWith('process')); i++) {
    await sleep(20);
    left = await leftovers();
  }
  expect(left, `${context}\n${gc.all}`).toEqual([]);
}

/** Moments spread over a run of `total` ms, from its start to a little after its end. */
function moments(count: number, total: number): number[] {
  return Array.from({ length: count }, (_, k) => Math.round((k * total * 1.1) / (count - 1)));
}

describe.skipIf(sandboxSkipReason !== null)('fault injection on the real kernel', () => {
  const file = labFile(LAB, faultLab());

  it('SIGKILL of apply, destroy and gc at 52 moments: after gc nothing is left anywhere', { timeout: 900_000 }, async () => {
    expect(await leftovers()).toEqual([]);
    const applyMs = await timed(['apply', '--yes', file]);
    const destroyMs = await timed(['destroy', '--yes', '--lab', LAB]);
    expect(await leftovers()).toEqual([]);

    for (const ms of moments(24, applyMs)) {
      const r = await killAfter(['apply', '--yes', file], ms);
      // A moment past the end finds the apply done: the lab is applied and recorded, as it said.
      if (r.code === 0) expect(r.out).toContain(`${LAB}: applied`);
      // A kill after the record was written but before the process said so leaves the lab applied
      // whole: recorded, no journal, every namespace there. It is destroyed like any applied lab.
      if (existsSync(`/run/netlab/${LAB}/state.json`) && !existsSync(`/run/netlab/${LAB}/journal.json`)) {
        expect(await labNamespaces(), `apply killed after ${ms} ms left a record`).toHaveLength(HOSTS + 2);
        expect((await netlab(['destroy', '--yes', '--lab', LAB])).code).toBe(0);
      } else expect(r.code, r.out).not.toBe(0);
      await gcClean(`apply killed after ${ms} ms (${r.signal ?? r.code})`);
    }
    for (const ms of moments(14, destroyMs)) {
      expect((await run(['apply', '--yes', file]).done).code).toBe(0);
      const r = await killAfter(['destroy', '--yes', '--lab', LAB], ms);
      // destroy of a lab that keeps its record: gc undoes the interrupted destroy, then destroy
      // removes the lab; either way nothing may be left of it.
      const gc = await netlab(['gc', '--yes']);
      expect(gc.code, gc.all).toBe(0);
      expect((await netlab(['destroy', '--yes', '--lab', LAB])).code).toBe(0);
      await gcClean(`destroy killed after ${ms} ms (${r.signal ?? r.code})`);
    }
    // gc killed while it undoes an apply that was itself killed once it had begun changing the kernel.
    const killedApply = async () => {
      const p = run(['apply', '--yes', file]);
      const deadline = Date.now() + 60_000;
      while (!existsSync(`/run/netlab/${LAB}/journal.json`) && Date.now() < deadline) await sleep(5);
      await sleep(50);
      p.child.kill('SIGKILL');
      await p.done;
    };
    await killedApply();
    const gcMs = await timed(['gc', '--yes']);
    for (const ms of moments(14, gcMs)) {
      await killedApply();
      const r = await killAfter(['gc', '--yes'], ms);
      await gcClean(`gc killed after ${ms} ms (${r.signal ?? r.code}) while undoing an apply killed midway`);
    }
  });

  it(
    'SIGINT of apply at 12 moments: rolled back (exit 1, nothing left) or applied whole, and the message says which',
    { timeout: 600_000 },
    async () => {
      const applyMs = await timed(['apply', '--yes', file]);
      expect((await netlab(['destroy', '--yes', '--lab', LAB])).code).toBe(0);
      for (const ms of moments(12, applyMs)) {
        const r = await killAfter(['apply', '--yes', file], ms, 'SIGINT');
        const context = `SIGINT after ${ms} ms: exit ${r.code} signal ${r.signal}\n${r.out}`;
        const recorded = existsSync(`/run/netlab/${LAB}/state.json`);
        if (recorded) {
          // Applied whole: every namespace is there, and the message does not claim a rollback.
          expect(await labNamespaces(), context).toHaveLength(HOSTS + 2);
          expect(existsSync(`/run/netlab/${LAB}/journal.json`), context).toBe(false);
          if (r.code === 0 && r.out.includes('stopping at the next step boundary'))
            expect(r.out, context).toContain('kept, not rolled back');
          expect(r.out, context).not.toMatch(/failed and was rolled back/);
          expect((await netlab(['destroy', '--yes', '--lab', LAB])).code).toBe(0);
        } else {
          // Stopped: rolled back with exit 1 and the reason, or ended by the signal before it changed anything.
          if (r.signal === null) {
            expect(r.code, context).toBe(1);
            expect(r.out, context).toContain('interrupted by SIGINT');
            expect(r.out, context).toContain('rolled back');
          }
          expect(await leftovers(), context).toEqual([]);
        }
      }
      await gcClean('after the SIGINT runs');
    },
  );
});
