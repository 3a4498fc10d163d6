// `netlab link LAB HOST:IF ...` of a lab across machines, on its coordinator: the change is made on
// the machine that holds the host, by its `netlab machine watch` responder (the one `netlab ui`
// keeps open), which runs the same change as `netlab link` there, under that machine's lock.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { MachineError, UsageError } from '../errors.js';
import { openSession } from '../machines/coordinator.js';
import { netlabVersion } from '../machines/version.js';
import { recordedMachines } from './across.js';
import { locate } from './across-view.js';
import type { LinkOptions } from './link.js';

const CONDITIONS = ['rate', 'burst', 'delay', 'jitter', 'loss', 'duplicate', 'reorder', 'corrupt', 'limit'] as const;

export interface AcrossLinkResult {
  machine: string;
  changed: boolean;
  up: boolean;
  said: string[];
}

export async function linkAcross(lab: string, endpoint: string, state: string | undefined, o: LinkOptions): Promise<AcrossLinkResult> {
  const colon = endpoint.indexOf(':');
  if (colon < 1 || colon === endpoint.length - 1) throw new UsageError(`"${endpoint}" is not HOST:IF (e.g. web:eth0)`);
  if (state === undefined && !o.clear && !CONDITIONS.some((k) => o[k] !== undefined))
    throw new UsageError(`lab "${lab}" spans machines: give a state (up, down) or conditions to change`);
  const conditions = Object.fromEntries(CONDITIONS.flatMap((k) => (o[k] !== undefined ? [[k, o[k]]] : [])));
  const session = await openSession((await recordedMachines(lab))!, netlabVersion());
  try {
    const t = await locate(session, lab, endpoint.slice(0, colon));
    const [cmd, args] = t.command(['machine', 'watch', '--lab', lab]);
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    const request = {
      id: 1,
      op: 'link',
      host: endpoint.slice(0, colon),
      interface: endpoint.slice(colon + 1),
      state,
      conditions,
      clear: Boolean(o.clear),
    };
    child.stdin.write(`${JSON.stringify(request)}\n`);
    const line = await new Promise<string>((resolve) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('close', () => resolve(''));
    });
    child.stdin.end();
    let a: { ok?: boolean; message?: string; changed?: boolean; up?: boolean; said?: string[] } = {};
    try {
      a = JSON.parse(line) as typeof a;
    } catch {
      // No answer: the connection or netlab there failed.
    }
    if (!a.ok) throw new MachineError(`${t.label}: link: ${a.message ?? (stderr.trim().split('\n').pop() || 'no answer')}`);
    return { machine: t.label, changed: Boolean(a.changed), up: Boolean(a.up), said: a.said ?? [] };
  } finally {
    await session.close();
  }
}
