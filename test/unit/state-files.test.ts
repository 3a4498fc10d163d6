// The state directory is untrusted until checked (issue: a root tool that can be trusted): lab
// names before they become paths, directories and files planted by another user, symlinks, and
// the lock that tells a live run from a dead one.
import { spawn, execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockBusyError, StateDirError, UsageError } from '../../src/errors.js';
import { lockLab, processStart, store, type Journal } from '../../src/apply/store.js';
import { appendStateFile, checkLabName, labDir, readStateFile, stateFileExists, stateRoot, writeStateFile } from '../../src/state/files.js';
import { recoverIfNeeded } from '../../src/apply/engine.js';
import { FakeDriver } from '../../src/driver/fake.js';

const root = process.getuid?.() === 0;
const NOBODY = 65534;
let base = '';
let state = '';
let victim = '';

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'netlab-trust-'));
  state = join(base, 'state');
  victim = join(base, 'victim');
  mkdirSync(victim);
  writeFileSync(join(victim, 'precious.txt'), 'keep me\n');
  process.env.NETLAB_STATE_DIR = state;
});
afterEach(() => {
  delete process.env.NETLAB_STATE_DIR;
  rmSync(base, { recursive: true, force: true });
});

const victimIntact = () => readFileSync(join(victim, 'precious.txt'), 'utf8') === 'keep me\n';

describe('lab names before they become paths', () => {
  it.each(['', '.', '..', '../../tmp/victimdir', 'a/b', 'Lab', '-x', 'a'.repeat(25), 'a\0b', 'x y'])('refuses %j', (name) => {
    expect(() => checkLabName(name, '--lab')).toThrow(UsageError);
  });
  it('accepts a lab name', () => {
    expect(checkLabName('docker-bridge')).toBe('docker-bridge');
  });
  it('store functions refuse a name that is not a lab name before touching the disk', async () => {
    mkdirSync(state, { mode: 0o700 });
    await expect(store.removeLab('../victim')).rejects.toThrow(UsageError);
    await expect(store.removeLab('')).rejects.toThrow(UsageError);
    await expect(store.readRecord('..')).rejects.toThrow(UsageError);
    await expect(lockLab('../victim')).rejects.toThrow(UsageError);
    expect(victimIntact()).toBe(true);
    expect(existsSync(state)).toBe(true);
  });
  it('a directory listing yields only lab names and real directories', async () => {
    mkdirSync(state, { mode: 0o700 });
    mkdirSync(join(state, 'good'));
    mkdirSync(join(state, 'Bad_name'));
    mkdirSync(join(state, '.lab-cache'));
    symlinkSync(victim, join(state, 'linked'));
    expect(await store.labs()).toEqual(['good']);
  });
});

describe('the state directory', () => {
  it('is made 0700 when missing', async () => {
    expect(await stateRoot(true)).toBe(state);
    expect(statSync(state).mode & 0o777).toBe(0o700);
  });
  it('is refused when writable by others, naming the path and the fix', async () => {
    mkdirSync(state);
    chmodSync(state, 0o1777);
    const err = await stateRoot(false).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDirError);
    expect((err as StateDirError).message).toContain(state);
    expect((err as StateDirError).message).toContain('writable by others');
    expect((err as StateDirError).hints.join('\n')).toContain(`chmod 0700 ${state}`);
    // Nothing is read from it or written to it.
    await expect(lockLab('lab')).rejects.toThrow(StateDirError);
    expect(existsSync(join(state, 'lab'))).toBe(false);
  });
  it('is refused when it is a symlink', async () => {
    symlinkSync(victim, state);
    await expect(stateRoot(true)).rejects.toThrow(/symbolic link/);
    await expect(lockLab('lab')).rejects.toThrow(StateDirError);
    expect(existsSync(join(victim, 'lab'))).toBe(false);
  });
  it.skipIf(!root)('is refused when another user owns it', async () => {
    mkdirSync(state, { mode: 0o700 });
    chownSync(state, NOBODY, NOBODY);
    await expect(store.labs()).rejects.toThrow(/owned by uid 65534/);
  });
  it('a lab directory that is a symlink is refused and its target gets nothing', async () => {
    mkdirSync(state, { mode: 0o700 });
    symlinkSync(victim, join(state, 'lab'));
    await expect(lockLab('lab')).rejects.toThrow(/symbolic link/);
    await expect(store.writeRecord({ lab: 'lab' } as never)).rejects.toThrow(StateDirError);
    await expect(store.removeLab('lab')).rejects.toThrow(StateDirError);
    expect(victimIntact()).toBe(true);
    expect(existsSync(join(victim, 'state.json'))).toBe(false);
  });
  it.skipIf(!root)('a lab directory another user owns is refused, and a record forged in it is not believed', async () => {
    mkdirSync(join(state, 'lab'), { recursive: true, mode: 0o700 });
    chmodSync(state, 0o700);
    writeFileSync(join(state, 'lab', 'state.json'), JSON.stringify({ lab: 'lab', scope: [], desired: [] }));
    chownSync(join(state, 'lab'), NOBODY, NOBODY);
    await expect(store.readRecord('lab')).rejects.toThrow(/owned by uid 65534/);
  });
  it.skipIf(!root)("a record another user owns is not believed, even in netlab's own directory", async () => {
    mkdirSync(join(state, 'lab'), { recursive: true, mode: 0o700 });
    chmodSync(state, 0o700);
    const rec = join(state, 'lab', 'state.json');
    writeFileSync(rec, JSON.stringify({ lab: 'lab', scope: [], desired: [] }));
    chownSync(rec, NOBODY, NOBODY);
    await expect(store.readRecord('lab')).rejects.toThrow(StateDirError);
  });
  it('a record that names another lab is not believed', async () => {
    await labDir('lab', true);
    await writeStateFile(join(state, 'lab', 'state.json'), JSON.stringify({ lab: 'other', scope: [], desired: [] }));
    await expect(store.readRecord('lab')).rejects.toThrow(/is for lab "other"/);
  });
});

describe('files in the state directory', () => {
  beforeEach(() => mkdirSync(state, { mode: 0o700 }));
  it('are read without following a symlink', async () => {
    const link = join(state, 'file');
    symlinkSync(join(victim, 'precious.txt'), link);
    await expect(readStateFile(link)).rejects.toThrow(/symbolic link/);
    // Asking whether it exists does not believe it either.
    await expect(stateFileExists(link)).rejects.toThrow(/not a regular file/);
    expect(await stateFileExists(join(state, 'none'))).toBe(false);
  });
  it('are appended to without following a symlink or a hard link', () => {
    const link = join(state, 'children');
    symlinkSync(join(victim, 'precious.txt'), link);
    expect(() => appendStateFile(link, 'x\n')).toThrow(/symbolic link/);
    rmSync(link);
    linkSync(join(victim, 'precious.txt'), link);
    expect(() => appendStateFile(link, 'x\n')).toThrow(/hard links/);
    expect(victimIntact()).toBe(true);
  });
  it('are written through a new temporary file: a symlink at the name is replaced, not followed', async () => {
    const path = join(state, 'state.json');
    symlinkSync(join(victim, 'precious.txt'), path);
    symlinkSync(join(victim, 'precious.txt'), `${path}.tmp-${process.pid}`);
    await writeStateFile(path, '{}');
    expect(readFileSync(path, 'utf8')).toBe('{}');
    expect(victimIntact()).toBe(true);
  });
});

describe('the lab lock', () => {
  beforeEach(() => mkdirSync(state, { mode: 0o700 }));
  const lockOf = (pid: number, start: string | null) => {
    mkdirSync(join(state, 'lab'), { recursive: true, mode: 0o700 });
    writeFileSync(join(state, 'lab', 'lock'), `${pid} ${start ?? ''}\n`, { mode: 0o600 });
  };
  async function withSleeper(body: (pid: number) => Promise<void>): Promise<void> {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    try {
      await body(child.pid!);
    } finally {
      child.kill('SIGKILL');
    }
  }

  it('is not taken from a live owner', async () => {
    await withSleeper(async (pid) => {
      lockOf(pid, processStart(pid));
      await expect(lockLab('lab')).rejects.toThrow(LockBusyError);
    });
  });
  it('is taken over from a dead owner, and from a reused pid (another start time)', async () => {
    const dead = Number(execFileSync('sh', ['-c', 'sh -c "echo \\$\\$"'], { encoding: 'utf8' }).trim());
    lockOf(dead, '12345');
    await (
      await lockLab('lab')
    )();
    await withSleeper(async (pid) => {
      lockOf(pid, '1');
      const unlock = await lockLab('lab');
      expect(readFileSync(join(state, 'lab', 'lock'), 'utf8')).toBe(`${process.pid} ${processStart(process.pid)}\n`);
      await unlock();
    });
  });
  it('is one holder within one process too (two runs of netlab serve)', async () => {
    const unlock = await lockLab('lab');
    await expect(lockLab('lab')).rejects.toThrow(LockBusyError);
    await unlock();
    await (
      await lockLab('lab')
    )();
  });
  it("recovery never rolls back a run whose owner is alive, even under the lab's lock", async () => {
    await withSleeper(async (pid) => {
      const journal: Journal = {
        lab: 'lab',
        operation: 'apply',
        pid,
        pidStart: processStart(pid) ?? undefined,
        startedAt: new Date().toISOString(),
        scope: [],
        checkpoint: [],
        sysctlOriginals: {},
        creates: [],
        steps: [],
      };
      await labDir('lab', true);
      await writeStateFile(join(state, 'lab', 'journal.json'), JSON.stringify(journal));
      const unlock = await lockLab('lab');
      try {
        await expect(recoverIfNeeded(new FakeDriver(), 'lab')).rejects.toThrow(/in progress \(pid/);
      } finally {
        await unlock();
      }
      expect(await store.readJournal('lab')).not.toBeNull();
    });
  });
});
