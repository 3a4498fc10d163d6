// netlab's state directory: per lab a record of the last apply, the journal of a run in
// progress (its checkpoint), and a lock. Written crash-safe: write, fsync, rename.
import { appendFileSync, readFileSync } from 'node:fs';
import { access, mkdir, open, readFile, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LockBusyError } from '../errors.js';
import type { NsQuery } from '../driver/driver.js';
import type { Obj } from '../model/objects.js';
import { stateDir } from './state-dir.js';

export { stateDir } from './state-dir.js';

/** Where checked labs are cached (see src/spec/cache.ts). */
export function specCacheDir(): string {
  return join(stateDir(), '.spec-cache');
}

function labDir(lab: string): string {
  return join(stateDir(), lab);
}

/** What the last successful apply left: enough to destroy the lab when its file is gone. */
export interface LabRecord {
  lab: string;
  file: string | null;
  owner: string | null;
  appliedAt: string;
  /** Where the lab's objects live and what to read there. */
  scope: NsQuery[];
  /** The desired state of the last apply, to report drift. */
  desired: Obj[];
  /** Values sysctls had in shared namespaces before the lab changed them, by object id. */
  sysctlOriginals: Record<string, string>;
  /** Each host's namespace key ('' = the machine's own), for exec/shell/inspect (absent in older records). */
  hosts?: { name: string; ns: string }[];
}

/** The checkpoint of a run in progress. Its presence means the run did not finish. */
export interface Journal {
  lab: string;
  operation: 'apply' | 'destroy';
  pid: number;
  startedAt: string;
  /** Namespaces to observe to find everything the run may have touched. */
  scope: NsQuery[];
  /** Observed state of the scope before the run changed anything. */
  checkpoint: Obj[];
  sysctlOriginals: Record<string, string>;
  /** Namespaces the plan creates: adopted by rollback even if a crash came before their mark. */
  creates: string[];
  /** The links the plan makes in each of them (absent in older journals): see NsQuery.adoptLinks. */
  createsLinks?: Record<string, string[]>;
  /** The plan, for humans reading the journal. */
  steps: string[];
}

async function writeAtomic(path: string, data: unknown): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(data));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

export const store = {
  readRecord: (lab: string) => readJson<LabRecord>(join(labDir(lab), 'state.json')),
  hasRecord: (lab: string) =>
    access(join(labDir(lab), 'state.json')).then(
      () => true,
      () => false,
    ),
  writeRecord: (r: LabRecord) => writeAtomic(join(labDir(r.lab), 'state.json'), r),
  readJournal: (lab: string) => readJson<Journal>(join(labDir(lab), 'journal.json')),
  writeJournal: (j: Journal) => writeAtomic(join(labDir(j.lab), 'journal.json'), j),
  removeJournal: (lab: string) => rm(join(labDir(lab), 'journal.json'), { force: true }),
  /** Forget a destroyed lab entirely. */
  removeLab: (lab: string) => rm(labDir(lab), { recursive: true, force: true }),
  async labs(): Promise<string[]> {
    try {
      return (
        (await readdir(stateDir(), { withFileTypes: true }))
          // Dot directories are netlab's own (the spec cache), never labs.
          .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
          .map((d) => d.name)
          .sort()
      );
    } catch {
      return [];
    }
  },
};

/** Start time of a process (clock ticks since boot), so a reused pid is never mistaken for ours. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * Child processes (ip -batch, nft) a run started. A killed netlab leaves them running the lines
 * they already have, so recovery waits for them to end (and ends them, by pid, if they hang).
 */
export const children = {
  record(lab: string, pid: number): void {
    const start = startTime(pid);
    if (start) appendFileSync(join(labDir(lab), 'children'), `${pid} ${start}\n`);
  },
  async settle(lab: string, timeoutMs = 5000): Promise<void> {
    const path = join(labDir(lab), 'children');
    const rows = (await readFile(path, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' '))
      .map(([pid, start]) => ({ pid: Number(pid), start: start ?? '' }));
    const ours = (r: { pid: number; start: string }) => startTime(r.pid) === r.start;
    const deadline = Date.now() + timeoutMs;
    while (rows.some(ours) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const r of rows.filter(ours)) process.kill(r.pid, 'SIGKILL');
    await rm(path, { force: true });
  },
};

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A per-lab lock: a file created exclusively, holding the owner's pid. A dead owner's lock is taken over. */
export async function lockLab(lab: string): Promise<() => Promise<void>> {
  const path = join(labDir(lab), 'lock');
  await mkdir(labDir(lab), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => {
        await rm(path, { force: true });
        // A lab that never got a record (refused by preflight, rolled back on its first apply)
        // leaves nothing behind: status and gc would list an empty directory as a lab.
        await rmdir(labDir(lab)).catch(() => undefined);
      };
    } catch (e) {
      // The directory went with another process's unlock in between: make it again.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        await mkdir(labDir(lab), { recursive: true });
        continue;
      }
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (holder && alive(holder) && holder !== process.pid) {
        const err = new LockBusyError(`lab "${lab}" is locked by another netlab process (pid ${holder})`);
        err.hints.push('wait for it to finish; nothing was changed by this run');
        throw err;
      }
      await rm(path, { force: true });
    }
  }
  throw new LockBusyError(`lab "${lab}": could not take the lock at ${path}`);
}
