// A `run:` process survives no crash of netlab: apply is SIGKILLed (NETLAB_FAULT) between each
// pair of the steps of a start (intent written, process spawned, entry confirmed), then gc (and
// destroy) or destroy alone must leave no process of the lab anywhere (by its token, and by the
// lab namespace it ran in, even once that is gone from /run/netns), no namespace, no record.
// The process is the issue's: `sh -c 'sleep 301 & sleep 302; wait'`, whose children inherit the token.
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { labFile, NETLAB, netlab } from './cli.js';
import { sandboxSkipReason } from './sandbox.js';

const LAB = 'pfault';
const COMMAND = `sh -c 'sleep 301 & sleep 302; wait'`;

interface Record {
  entries: { name: string; pid: number; token?: string }[];
  intents?: { name: string; token: string }[];
}

function processRecord(): Record | null {
  const path = `/run/netlab/${LAB}/processes.json`;
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record) : null;
}

function environ(pid: string): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function netnsOf(pid: string): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return null;
  }
}

/** Live processes (not zombies) of the lab: carrying one of `tokens`, its NETLAB_LAB, or in namespace `ns` (readlink form). */
function labProcesses(tokens: string[], ns: string | null): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .filter((p) => {
      try {
        if (readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) return false;
      } catch {
        return false;
      }
      const env = environ(p);
      return (
        env.includes(`NETLAB_LAB=${LAB}`) || tokens.some((t) => env.includes(`NETLAB_RUN_TOKEN=${t}`)) || (ns !== null && netnsOf(p) === ns)
      );
    });
}

function labNamespaces(): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(`${LAB}-`)) : [];
}

async function waitFor(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; !ok(); i++) {
    if (i > 200) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const file = labFile(
  LAB,
  `name: ${LAB}
hosts:
  a:
    run:
      - { name: leak, command: "${COMMAND}" }
`,
);

afterAll(async () => {
  await netlab(['destroy', '--yes', '--lab', LAB]);
});

describe.skipIf(sandboxSkipReason !== null)('a run process and a netlab killed while starting it', () => {
  for (const point of ['proc-after-intent', 'proc-after-spawn', 'proc-after-confirm'] as const)
    for (const cleanup of [['gc'], ['destroy']])
      it(`killed at ${point}: ${cleanup.join(' then ')}${cleanup[0] === 'gc' ? ' then destroy' : ''} leaves no process, namespace or record`, async () => {
        const r = await execa('node', [NETLAB, 'apply', file], { reject: false, env: { NO_COLOR: '1', NETLAB_FAULT: point } });
        expect(r.signal, `${r.stdout}\n${r.stderr}`).toBe('SIGKILL');
        const ns = netnsOf('self') && existsSync(`/run/netns/${LAB}-a`) ? `net:[${statSync(`/run/netns/${LAB}-a`).ino}]` : null;
        expect(ns, 'the namespace the process runs in').not.toBeNull();
        const rec = processRecord()!;
        const tokens = [...(rec.intents ?? []).map((i) => i.token), ...rec.entries.flatMap((e) => (e.token ? [e.token] : []))];
        // What the kill left: an intent only, an intent and the process it spawned, or an entry.
        if (point === 'proc-after-confirm') expect(rec.entries.map((e) => e.name)).toEqual(['leak']);
        else {
          expect(rec.entries).toEqual([]);
          expect(rec.intents?.map((i) => i.name)).toEqual(['leak']);
        }
        if (point !== 'proc-after-intent') {
          // sh and both sleeps: the children run with the token too.
          await waitFor('sh and both sleeps', () => labProcesses(tokens, null).length >= 3);
          expect(labProcesses([], ns).length).toBeGreaterThanOrEqual(3);
        }

        if (cleanup[0] === 'gc') {
          const g = await netlab(['gc', '--yes']);
          expect(g.code, g.all).toBe(0);
          expect(labProcesses(tokens, ns)).toEqual([]);
          expect(labNamespaces()).toEqual([]);
          const after = processRecord();
          expect(after?.entries ?? []).toEqual([]);
          expect(after?.intents ?? []).toEqual([]);
          expect(existsSync(`/run/netlab/${LAB}/journal.json`)).toBe(false);
        }
        const d = await netlab(['destroy', '--yes', '--lab', LAB]);
        expect(d.code, d.all).toBe(0);
        expect(d.all).not.toContain('did not start');
        expect(labProcesses(tokens, ns)).toEqual([]);
        expect(labNamespaces()).toEqual([]);
        expect(existsSync(`/run/netlab/${LAB}`)).toBe(false);
      });

  it('destroy also ends a descendant that left the process group (its own session), by its token', async () => {
    const own = labFile(
      LAB,
      `name: ${LAB}\nhosts:\n  a:\n    run:\n      - { name: daemon, command: "setsid sleep 303 & sleep 304; wait" }\n`,
    );
    const r = await netlab(['apply', own]);
    expect(r.code, r.all).toBe(0);
    const ns = `net:[${statSync(`/run/netns/${LAB}-a`).ino}]`;
    const tokens = processRecord()!.entries.flatMap((e) => (e.token ? [e.token] : []));
    const sessionOf = (pid: string) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3];
    await waitFor(
      'both sleeps',
      () => labProcesses(tokens, null).filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep')).length === 2,
    );
    const sessions = new Set(labProcesses(tokens, null).map(sessionOf));
    expect(sessions.size, 'setsid made a second session').toBe(2);
    const d = await netlab(['destroy', '--yes', '--lab', LAB]);
    expect(d.code, d.all).toBe(0);
    expect(d.all).not.toContain('did not start');
    expect(labProcesses(tokens, ns)).toEqual([]);
    expect(labNamespaces()).toEqual([]);
  });
});
