// netlab's state directory: per lab a record of the last apply, the journal of a run in
// progress (its checkpoint), and a lock. Written crash-safe: write, fsync, rename.
import { open, readdir, rename, unlink } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { LockBusyError, StateDirError } from '../errors.js';
import { LAB_NAME_PATTERN } from '../lab/names.js';
import type { NsQuery } from '../driver/driver.js';
import { procStat } from '../driver/procfs.js';
import type { Obj } from '../model/objects.js';
import {
  appendStateFile,
  checkLabName,
  labDir,
  labNames,
  labPath,
  readStateFile,
  readStateJson,
  removeLabDir,
  removeLabDirIfEmpty,
  stateFileExists,
  stateSubdir,
  writeStateFile,
} from '../state/files.js';

export { stateDir } from '../state/dir.js';

/**
 * Where checked labs are cached (see src/lab/cache.ts). Null when the state directory cannot be
 * trusted: a cached lab planted there would be taken as checked. (The commands that change the
 * kernel then refuse with the reason.)
 */
export async function labCacheDir(): Promise<string | null> {
  return stateSubdir('.lab-cache').catch(() => null);
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
  /** The run's start time (see processStart): with the pid, tells a live run from a reused pid. */
  pidStart?: string;
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
  /**
   * An apply done and verified but held for the coordinator of a lab across machines: the
   * record to write when it commits. Until then the run counts as unfinished (rolled back by
   * `machine rollback`, or by the next apply, destroy or gc).
   */
  held?: LabRecord;
  /** A destroy held the same way (a host or machine left a lab across machines): its commit forgets the lab here. */
  heldDestroy?: boolean;
}

/** The coordinator's record of a lab across machines: where its slices went, so destroy needs no file. */
export interface MachinesRecord {
  lab: string;
  machines: RecordedMachine[];
  /**
   * Where the transaction across machines stands (absent in older records: committed). While
   * `applying`, an interrupted run is rolled back on every machine; once `committing`, every
   * machine had its part applied and held, and the held parts are committed.
   */
  phase?: 'applying' | 'committing' | 'committed';
  /** While not committed: the machines of the last committed apply, or null when there was none. */
  previous?: RecordedMachine[] | null;
  /** The lab file of the last apply (absent in older records): what `netlab ui` draws. */
  file?: string;
}

export interface RecordedMachine {
  name: string;
  ssh: { user: string | null; host: string; port: number | null; identity: string | null } | null;
}

async function writeRecordFile(lab: string, name: string, data: unknown): Promise<void> {
  const dir = await labDir(lab, true);
  await writeStateFile(join(dir!, name), JSON.stringify(data));
}

/** A record or journal, believed only when it names the lab whose directory holds it. */
async function readLabJson<T extends { lab: string }>(lab: string, name: string): Promise<T | null> {
  if (!(await labDir(lab, false))) return null;
  const path = labPath(lab, name);
  const data = await readStateJson<T>(path);
  if (data && data.lab !== lab) throw new StateDirError(`${path} is for lab ${JSON.stringify(data.lab)}, not "${lab}": refusing to use it`);
  return data;
}

export const store = {
  readRecord: (lab: string) => readLabJson<LabRecord>(lab, 'state.json'),
  // Whether there is a record or a journal, without reading it: a big lab's files are megabytes.
  hasRecord: async (lab: string) => (await labDir(lab, false)) !== null && (await stateFileExists(labPath(lab, 'state.json'))),
  hasJournal: async (lab: string) => (await labDir(lab, false)) !== null && (await stateFileExists(labPath(lab, 'journal.json'))),
  writeRecord: (r: LabRecord) => writeRecordFile(r.lab, 'state.json', r),
  readJournal: (lab: string) => readLabJson<Journal>(lab, 'journal.json'),
  writeJournal: (j: Journal) => writeRecordFile(j.lab, 'journal.json', { ...j, pidStart: processStart(j.pid) ?? undefined }),
  removeJournal: async (lab: string) => {
    if (await labDir(lab, false)) await unlink(labPath(lab, 'journal.json')).catch(() => undefined);
  },
  // Beside the labs' directories, not in one: the local machine's slice of the lab has its own
  // directory there, which its destroy removes while other machines may still hold their part.
  readMachines: async (lab: string) => {
    const dir = await stateSubdir('.machines');
    const r = dir ? await readStateJson<MachinesRecord>(join(dir, `${checkLabName(lab)}.json`)) : null;
    return r && r.lab === lab ? r : null;
  },
  writeMachines: async (r: MachinesRecord) =>
    writeStateFile(join((await stateSubdir('.machines'))!, `${checkLabName(r.lab)}.json`), JSON.stringify(r)),
  /** The labs across machines this machine coordinates (names that pass the lab-name rule only). */
  machineLabs: async () => {
    const dir = await stateSubdir('.machines');
    const files = dir ? await readdir(dir) : [];
    return files.flatMap((f) => (f.endsWith('.json') && LAB_NAME_PATTERN.test(f.slice(0, -5)) ? [f.slice(0, -5)] : [])).sort();
  },
  removeMachines: async (lab: string) => {
    const dir = await stateSubdir('.machines');
    if (dir) await unlink(join(dir, `${checkLabName(lab)}.json`)).catch(() => undefined);
  },
  /** Forget a destroyed lab entirely. */
  removeLab: (lab: string) => removeLabDir(lab),
  /** The labs with a directory (names that pass the lab-name rule only). */
  labs: () => labNames(),
};

/** Start time of a process (clock ticks since boot), so a reused pid is never mistaken for ours. */
export function processStart(pid: number): string | null {
  return procStat(pid)?.start ?? null;
}

/** Whether the process that wrote `pid` (and `start`, when known) still runs. */
export function stillRunning(pid: number, start: string | null | undefined): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const now = processStart(pid);
  return now !== null && (!start || now === start);
}

/**
 * Child processes (ip -batch, nft) a run started. A killed netlab leaves them running the lines
 * they already have, so recovery waits for them to end (and ends them, by pid, if they hang).
 */
export const children = {
  record(lab: string, pid: number): void {
    const start = processStart(pid);
    // The lab's directory exists: the run's journal was written there before any child started.
    if (start) appendStateFile(labPath(lab, 'children'), `${pid} ${start}\n`);
  },
  async settle(lab: string, timeoutMs = 5000): Promise<void> {
    if (!(await labDir(lab, false))) return;
    const path = labPath(lab, 'children');
    const rows = ((await readStateFile(path)) ?? '')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' '))
      .map(([pid, start]) => ({ pid: Number(pid), start: start ?? '' }))
      .filter((r) => Number.isInteger(r.pid) && r.pid > 0 && r.start);
    const ours = (r: { pid: number; start: string }) => processStart(r.pid) === r.start;
    const deadline = Date.now() + timeoutMs;
    while (rows.some(ours) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const r of rows.filter(ours)) process.kill(r.pid, 'SIGKILL');
    await unlink(path).catch(() => undefined);
  },
};

/** Labs this process holds the lock of: a second run in one process (netlab serve) waits its turn like any other. */
const held = new Set<string>();

/** The lock's holder, as its file says: pid and start time (older locks: pid only). */
function parseHolder(text: string | null): { pid: number; start: string | null } {
  const [pid, start] = (text ?? '').trim().split(' ');
  return { pid: Number(pid), start: start || null };
}

function busy(lab: string, pid: number): LockBusyError {
  const err = new LockBusyError(`lab "${lab}" is locked by another netlab process (pid ${pid})`);
  err.hints.push('wait for it to finish; nothing was changed by this run');
  return err;
}

/**
 * A per-lab lock: a file created exclusively, holding the owner's pid and start time. Only a
 * lock whose owner is dead is taken over (moved aside first, so two takers cannot both win).
 */
export async function lockLab(lab: string): Promise<() => Promise<void>> {
  checkLabName(lab);
  if (held.has(lab)) throw busy(lab, process.pid);
  const path = labPath(lab, 'lock');
  const me = `${process.pid} ${processStart(process.pid) ?? ''}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    await labDir(lab, true);
    try {
      const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      await fh.writeFile(me);
      await fh.close();
      held.add(lab);
      return async () => {
        held.delete(lab);
        // A lab that never got a record (refused by preflight, rolled back on its first apply)
        // leaves nothing behind, not even the logs and process record of its rolled-back
        // processes: status and gc would list the directory as a lab. A journal (an undo that
        // did not complete) keeps everything for the next run.
        const orphan = !(await store.hasRecord(lab).catch(() => true)) && !(await store.hasJournal(lab).catch(() => true));
        // Removed with the lock still in it: no other run can have begun in the directory.
        if (orphan) await removeLabDir(lab).catch(() => undefined);
        else {
          await unlink(path).catch(() => undefined);
          await removeLabDirIfEmpty(lab);
        }
      };
    } catch (e) {
      // The directory went with another process's unlock in between: make it again.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const seen = await readStateFile(path).catch(() => null);
    const holder = parseHolder(seen);
    if (stillRunning(holder.pid, holder.start)) throw busy(lab, holder.pid);
    // A dead owner's lock: move it aside and make sure it is the one we judged (another taker
    // may have replaced it meanwhile); a fresh lock moved by mistake is put back.
    const aside = `${path}.stale-${process.pid}`;
    if (
      await rename(path, aside).then(
        () => true,
        () => false,
      )
    ) {
      const moved = await readStateFile(aside).catch(() => null);
      if (moved !== seen) await rename(aside, path).catch(() => undefined);
      else await unlink(aside).catch(() => undefined);
    }
  }
  throw new LockBusyError(`lab "${lab}": could not take the lock at ${path}`);
}

/** Whether the run that wrote a journal is still going (its pid alive with the same start time), and not this process. */
export function journalOwnerAlive(j: Journal): boolean {
  return j.pid !== process.pid && stillRunning(j.pid, j.pidStart);
}
