// netlab runs as root and keeps its records in a directory others may reach (a tmpfs mounted
// 1777, NETLAB_STATE_DIR under /tmp). Anything there is untrusted until checked: a directory must
// be ours and not writable by others before a file in it is believed, every file is opened
// without following a symlink, and every path is built from a name checked against the rule for
// its kind. These are the only functions that touch the state directory.
import { closeSync, constants, fstatSync, fsyncSync, openSync, writeSync, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { StateDirError, UsageError } from '../errors.js';
import { stateDir } from './dir.js';
import { LAB_NAME_PATTERN } from '../lab/names.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW } = constants;

/** The uid netlab runs as: the only owner whose files it believes. */
function me(): number {
  return process.getuid?.() ?? 0;
}

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

function unsafe(path: string, why: string, fix: string): StateDirError {
  const err = new StateDirError(`refusing to use ${path}: it ${why}`);
  err.hints.push(fix, 'netlab keeps its records there as root; a file another user can plant would be believed');
  return err;
}

/** A directory netlab may believe: a real directory (not a symlink), ours, not writable by others. */
function checkDir(path: string, st: Stats): void {
  if (st.isSymbolicLink()) throw unsafe(path, 'is a symbolic link', `remove the link (rm ${path}); netlab makes the directory itself`);
  if (!st.isDirectory()) throw unsafe(path, 'is not a directory', `remove it (rm ${path}); netlab makes the directory itself`);
  if (st.uid !== me())
    throw unsafe(
      path,
      `is owned by uid ${st.uid}, not by uid ${me()} that netlab runs as`,
      `check what is in it, then remove it (rm -r ${path})`,
    );
  if (st.mode & 0o022) throw unsafe(path, `is writable by others (mode ${octal(st.mode)})`, `chmod 0700 ${path}`);
}

/** A file netlab may believe: a regular file of ours with one name, not writable by others. */
function checkFile(path: string, st: Stats): void {
  if (!st.isFile()) throw unsafe(path, 'is not a regular file', `remove it (rm ${path})`);
  if (st.uid !== me()) throw unsafe(path, `is owned by uid ${st.uid}, not by uid ${me()}`, `check it, then remove it (rm ${path})`);
  if (st.mode & 0o022) throw unsafe(path, `is writable by others (mode ${octal(st.mode)})`, `check it, then remove it (rm ${path})`);
  // A hard link planted to another file would make a write land there.
  if (st.nlink > 1) throw unsafe(path, `has ${st.nlink} hard links`, `check it, then remove it (rm ${path})`);
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/**
 * The state directory, checked (and made 0700 when `create` and missing); null when it does not
 * exist and need not. Its parent must not let others swap it: writable by others only with the
 * sticky bit (as /tmp).
 */
export async function stateRoot(create: boolean): Promise<string | null> {
  const root = stateDir();
  let st = await lstat(root).catch((e: unknown) => {
    if (errno(e) === 'ENOENT') return null;
    throw e;
  });
  if (!st) {
    if (!create) return null;
    await mkdir(dirname(root), { recursive: true });
    await mkdir(root, { mode: 0o700 }).catch((e: unknown) => {
      if (errno(e) !== 'EEXIST') throw e;
    });
    st = await lstat(root);
  }
  checkDir(root, st);
  const parent = await lstat(dirname(root));
  if (parent.mode & 0o022 && !(parent.mode & 0o1000) && parent.uid !== me())
    throw unsafe(
      root,
      `is in ${dirname(root)}, which others may write without the sticky bit`,
      `set NETLAB_STATE_DIR to a directory in a parent only root can write`,
    );
  return root;
}

/** A directory of netlab's own at the top of the state directory (the check cache), checked; made if missing. */
export async function stateSubdir(name: '.lab-cache' | '.machines'): Promise<string | null> {
  const root = await stateRoot(true);
  if (!root) return null;
  const path = join(root, name);
  await mkdir(path, { mode: 0o700 }).catch((e: unknown) => {
    if (errno(e) !== 'EEXIST') throw e;
  });
  checkDir(path, await lstat(path));
  return path;
}

/**
 * A lab name from any source (a flag, a file, a record, a socket request, a directory listing)
 * before it becomes part of a path. `from` says where it came from, for the message.
 */
export function checkLabName(name: string, from = 'lab name'): string {
  if (!LAB_NAME_PATTERN.test(name)) {
    const err = new UsageError(`${from} ${JSON.stringify(name)} is not a lab name`);
    err.hints.push('a lab name is 1-24 characters: a lowercase letter, then lowercase letters, digits or "-"');
    throw err;
  }
  return name;
}

/** A name of a file or directory in a lab's directory: made by netlab, never a path. */
function checkFileName(name: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name) || name.includes('..'))
    throw new UsageError(`not a state file name: ${JSON.stringify(name)}`);
  return name;
}

/** The path of a lab's directory or of a file in it (not checked on disk: see labDir). */
export function labPath(lab: string, ...names: string[]): string {
  return join(stateDir(), checkLabName(lab), ...names.map(checkFileName));
}

/**
 * A lab's directory (or a directory in it, such as logs), each level checked; made when
 * `create`. Null when it does not exist and need not.
 */
export async function labDir(lab: string, create: boolean, ...sub: string[]): Promise<string | null> {
  checkLabName(lab);
  if (!(await stateRoot(create))) return null;
  let path = labPath(lab);
  for (const part of [null, ...sub]) {
    if (part !== null) path = join(path, checkFileName(part));
    const st = await lstat(path).catch((e: unknown) => {
      if (errno(e) === 'ENOENT') return null;
      throw e;
    });
    if (st) checkDir(path, st);
    else if (!create) return null;
    else {
      await mkdir(path, { mode: 0o700 }).catch((e: unknown) => {
        if (errno(e) !== 'EEXIST') throw e;
      });
      checkDir(path, await lstat(path));
    }
  }
  return path;
}

/** The text of a state file, or null when there is none. Never follows a symlink. */
export async function readStateFile(path: string): Promise<string | null> {
  let fh;
  try {
    fh = await open(path, O_RDONLY | O_NOFOLLOW);
  } catch (e) {
    if (errno(e) === 'ENOENT') return null;
    if (errno(e) === 'ELOOP') throw unsafe(path, 'is a symbolic link', `remove it (rm ${path})`);
    throw new StateDirError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    checkFile(path, await fh.stat());
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/** Whether a state file exists (a file that is there but not one netlab may believe throws), without reading it. */
export async function stateFileExists(path: string): Promise<boolean> {
  const st = await lstat(path).catch((e: unknown) => {
    if (errno(e) === 'ENOENT') return null;
    throw e;
  });
  if (!st) return false;
  checkFile(path, st);
  return true;
}

/** The JSON of a state file, or null when there is none. */
export async function readStateJson<T>(path: string): Promise<T | null> {
  const text = await readStateFile(path);
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new StateDirError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Writes a state file crash-safe (write, fsync, rename) through a temporary file that is created
 * new (O_EXCL, O_NOFOLLOW): a file or symlink planted at its name is never written through.
 */
export async function writeStateFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fh = await open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  // rename replaces whatever is at `path` (a symlink included) without following it.
  await rename(tmp, path).catch(async (e: unknown) => {
    await unlink(tmp).catch(() => undefined);
    throw e;
  });
}

/** Opens a state file to append to (made 0600 if missing), never through a symlink or a hard link. */
export function openStateFileForAppend(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600);
  } catch (e) {
    if (errno(e) === 'ELOOP') throw unsafe(path, 'is a symbolic link', `remove it (rm ${path})`);
    throw e;
  }
  try {
    checkFile(path, fstatSync(fd));
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/** Appends a line to a state file (see openStateFileForAppend), durably. */
export function appendStateFile(path: string, text: string): void {
  const fd = openStateFileForAppend(path);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Removes a lab's directory and everything in it; nothing outside it. */
export async function removeLabDir(lab: string): Promise<void> {
  const dir = await labDir(lab, false);
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** Removes a lab's directory when it is empty (a lab that never got a record leaves nothing). */
export async function removeLabDirIfEmpty(lab: string): Promise<void> {
  await rmdir(labPath(lab)).catch(() => undefined);
}

/** The labs that have a directory: only names that pass the lab-name rule, only real directories. */
export async function labNames(): Promise<string[]> {
  const root = await stateRoot(false);
  if (!root) return [];
  const entries = await readdir(root, { withFileTypes: true });
  return entries
    .filter((d) => d.isDirectory() && LAB_NAME_PATTERN.test(d.name))
    .map((d) => d.name)
    .sort();
}
