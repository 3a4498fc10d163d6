// The vm test tier: runs a shell script inside a throwaway QEMU VM that boots Debian's stock
// kernel (from /boot) with the host's `/` shared read-only over 9p, so the VM runs the same node,
// the same repo and the same tools, but with a kernel that has 802.1Q, IPVLAN, dummy, bridge VLAN
// filtering, netem, ... as loadable modules.
//
// The VM has no network device: all traffic stays inside it. QEMU runs with TCG (no KVM).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** The repo root, computed from this file's location (test/vm/vm.ts). */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

/** Where the results share is mounted inside the VM (inside the chroot). */
export const vmResultsDir = '/tmp/share';

const QEMU = 'qemu-system-x86_64';
const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'mount', 'mkdir', 'insmod', 'chroot', 'poweroff', 'echo', 'cat', 'sleep', 'sync'];
/** Loaded in this order by the initramfs; those built into the kernel are skipped. */
const MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_pci_legacy_dev',
  'virtio_pci_modern_dev',
  'virtio_pci',
  'netfs',
  'fscache',
  '9pnet',
  '9pnet_virtio',
  '9p',
];
/** Bump when the initramfs layout changes in a way the hashed texts below do not show. */
const RECIPE_VERSION = 1;

// /init of the initramfs (busybox sh). Mounts the host's / read-only at /mnt, tmpfs on /mnt/tmp
// and /mnt/run, the results share at /mnt/tmp/share, then runs /tmp/share/run.sh in a chroot.
const INIT = `#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
for m in $(cat /modules.list); do
  insmod /lib/modules/$m.ko || echo "netlab-vm: insmod $m failed"
done
echo /sbin/modprobe > /proc/sys/kernel/modprobe
fail() { echo "netlab-vm: $1"; sync; poweroff -f; sleep 5; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /mnt || fail "mounting the host root failed"
mount -t tmpfs -o mode=1777 tmpfs /mnt/tmp || fail "tmpfs on /mnt/tmp failed"
mount -t tmpfs -o mode=755 tmpfs /mnt/run || fail "tmpfs on /mnt/run failed"
mount -t proc proc /mnt/proc
mount -t sysfs sysfs /mnt/sys
mount -t devtmpfs devtmpfs /mnt/dev
mkdir -p /mnt/dev/pts /mnt/dev/shm
mount -t devpts devpts /mnt/dev/pts
mount -t tmpfs tmpfs /mnt/dev/shm
mkdir -p /mnt${vmResultsDir}
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 share /mnt${vmResultsDir} || fail "mounting the share failed"
# The repository may live under /tmp or /run (CI clones anywhere), which the tmpfs mounts above
# hide: it comes as its own read-only share, mounted at the same path.
REPO=$(cat /mnt${vmResultsDir}/repo-path)
mkdir -p "/mnt$REPO" 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 repo "/mnt$REPO" || fail "mounting the repository failed"
echo "netlab-vm: script start uptime=$(cat /proc/uptime)"
chroot /mnt /bin/sh ${vmResultsDir}/run.sh
echo $? > /mnt${vmResultsDir}/exit-code
echo "netlab-vm: script end uptime=$(cat /proc/uptime)"
sync
poweroff -f
sleep 5
`;

// The kernel runs this (from the initramfs's root) to autoload modules: use the host's kmod
// and /lib/modules from the shared root.
const MODPROBE = `#!/bin/sh
exec /bin/chroot /mnt /sbin/modprobe "$@"
`;

/** The newest /boot/vmlinuz-*-amd64 that has a /lib/modules directory, or null. */
export function kernelVersion(): string | null {
  let files: string[];
  try {
    files = readdirSync('/boot');
  } catch {
    return null;
  }
  const versions = files
    .map((f) => /^vmlinuz-(.*-amd64)$/.exec(f)?.[1])
    .filter((v): v is string => v !== undefined && existsSync(`/lib/modules/${v}`))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return versions.at(-1) ?? null;
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why the vm tier can't run here, or null when it can. */
export function vmSupport(): string | null {
  if (process.env.NETLAB_SKIP_VM) return 'NETLAB_SKIP_VM is set';
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'needs Linux on x86_64';
  if (process.getuid?.() !== 0) return 'not root (QEMU must read /boot and share / with root permissions)';
  if (!which(QEMU)) return `${QEMU} is not installed (apt-get install qemu-system-x86)`;
  if (!existsSync(BUSYBOX)) return 'busybox-static is not installed';
  if (!which('modinfo')) return 'modinfo is not installed (apt-get install kmod)';
  const kver = kernelVersion();
  if (!kver) return 'no Debian kernel with modules in /boot (apt-get install linux-image-amd64)';
  try {
    accessSync(`/boot/vmlinuz-${kver}`, constants.R_OK);
  } catch {
    return `/boot/vmlinuz-${kver} is not readable`;
  }
  return null;
}

// --- initramfs -------------------------------------------------------------------------------

interface CpioEntry {
  name: string;
  mode: number; // including the file type bits
  data?: Buffer;
  rdev?: [number, number];
}

/** A cpio archive in the "newc" format, as the kernel unpacks an initramfs. */
function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const mtime = Math.floor(Date.now() / 1000);
  let ino = 1;
  const trailer: CpioEntry = { name: 'TRAILER!!!', mode: 0 };
  for (const e of [...entries, trailer]) {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const [rmaj, rmin] = e.rdev ?? [0, 0];
    const isTrailer = e === trailer;
    const fields = [
      isTrailer ? 0 : ino++,
      e.mode,
      0, // uid
      0, // gid
      (e.mode & 0o170000) === 0o040000 ? 2 : 1, // nlink
      isTrailer ? 0 : mtime,
      data.length,
      0, // devmajor
      0, // devminor
      rmaj,
      rmin,
      name.length,
      0, // check
    ];
    const header = Buffer.from(`070701${fields.map(hex).join('')}`, 'ascii');
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length));
  }
  return Buffer.concat(parts);
}

/** Reads a module file, decompressing .ko.xz / .ko.zst / .ko.gz. */
function readModule(path: string): Buffer {
  const tool = path.endsWith('.xz') ? 'xz' : path.endsWith('.zst') ? 'zstd' : path.endsWith('.gz') ? 'gzip' : null;
  if (!tool) return readFileSync(path);
  const r = spawnSync(tool, ['-dc', path], { maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${tool} -dc ${path} failed: ${r.stderr?.toString() ?? r.error}`);
  return r.stdout;
}

/** The module file for NAME, or null when it is built into the kernel. */
function modulePath(kver: string, name: string): string | null {
  const r = spawnSync('modinfo', ['-k', kver, '-n', name], { encoding: 'utf8' });
  const out = r.stdout.trim();
  if (r.status !== 0 || out === '' || out === '(builtin)' || !out.startsWith('/')) return null;
  return out;
}

/**
 * Builds (or reuses) the initramfs for the current kernel. Cached under <repo>/.cache/vm/, keyed
 * by kernel version and a hash of the recipe, so it is rebuilt only when one of those changes.
 */
export async function buildInitramfs(): Promise<string> {
  const kver = kernelVersion();
  if (!kver) throw new Error('no Debian kernel in /boot');
  const modules = MODULES.map((name) => ({ name, path: modulePath(kver, name) })).filter(
    (m): m is { name: string; path: string } => m.path !== null,
  );
  const bb = statSync(BUSYBOX);
  const recipe = JSON.stringify({
    RECIPE_VERSION,
    INIT,
    MODPROBE,
    APPLETS,
    modules: modules.map((m) => [m.name, m.path, statSync(m.path).mtimeMs]),
    busybox: [bb.size, bb.mtimeMs],
  });
  const hash = createHash('sha256').update(recipe).digest('hex').slice(0, 16);
  const dir = join(repoRoot, '.cache', 'vm');
  const file = join(dir, `initramfs-${kver}-${hash}.cpio.gz`);
  if (existsSync(file)) return file;

  const entries: CpioEntry[] = [];
  const dirEntry = (name: string) => entries.push({ name, mode: 0o040755 });
  for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'mnt', 'lib', 'lib/modules']) dirEntry(d);
  entries.push({ name: 'dev/console', mode: 0o020600, rdev: [5, 1] });
  entries.push({ name: 'dev/null', mode: 0o020666, rdev: [1, 3] });
  entries.push({ name: 'bin/busybox', mode: 0o100755, data: readFileSync(BUSYBOX) });
  for (const a of APPLETS) entries.push({ name: `bin/${a}`, mode: 0o120777, data: Buffer.from('busybox') });
  for (const m of modules) entries.push({ name: `lib/modules/${m.name}.ko`, mode: 0o100644, data: readModule(m.path) });
  entries.push({ name: 'modules.list', mode: 0o100644, data: Buffer.from(modules.map((m) => m.name).join('\n') + '\n') });
  entries.push({ name: 'init', mode: 0o100755, data: Buffer.from(INIT) });
  entries.push({ name: 'sbin/modprobe', mode: 0o100755, data: Buffer.from(MODPROBE) });

  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, gzipSync(cpioNewc(entries)));
  renameSync(tmp, file);
  // Drop initramfs images of older recipes or kernels.
  for (const f of readdirSync(dir)) {
    if (/^initramfs-.*\.cpio\.gz$/.test(f) && join(dir, f) !== file) rmSync(join(dir, f), { force: true });
  }
  return file;
}

// --- running ---------------------------------------------------------------------------------

export interface VmOptions {
  /** Kill QEMU after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Extra environment for the script. */
  env?: Record<string, string>;
  /** Guest memory in MiB (default 1024). */
  memoryMb?: number;
}

export interface VmResult {
  /** The script's exit code. */
  exitCode: number;
  /** The VM's console (kernel messages, init's messages, the script's output). */
  output: string;
  /** The share directory on the host: script.log, exit-code and whatever the script wrote to $NETLAB_RESULTS. */
  results: string;
  /** Seconds from QEMU's start to the script's start, and to QEMU's exit. */
  timings: { bootSeconds: number | null; totalSeconds: number };
}

const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

const lastLines = (text: string, n: number) => text.split('\n').slice(-n).join('\n');

/**
 * Boots a VM that runs `script` with `sh` (as root, inside a chroot of the host's /, cwd the repo
 * root) and returns its exit code once the VM has powered off. The script sees NETLAB_IN_VM=1 and
 * NETLAB_RESULTS (a directory shared with the host: `results`). The results directory is left
 * for the caller to read and remove (see removeResults). Throws when the VM times out (QEMU is
 * killed) or exits without the script's exit code; the results directory is then removed unless
 * NETLAB_VM_KEEP is set.
 */
export async function runInVm(script: string, opts: VmOptions = {}): Promise<VmResult> {
  const why = vmSupport();
  if (why) throw new Error(`the vm tier can't run here: ${why}`);
  const kver = kernelVersion() as string;
  const initrd = await buildInitramfs();
  const results = mkdtempSync(join(tmpdir(), 'netlab-vm-'));

  const env: Record<string, string> = {
    ...opts.env,
    PATH: '/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin',
    HOME: '/root',
    TERM: 'dumb',
    LANG: 'C.UTF-8',
    NETLAB_IN_VM: '1',
    NETLAB_RESULTS: vmResultsDir,
    NETLAB_REPO: repoRoot,
  };
  for (const k of Object.keys(env)) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad env name ${k}`);
  const run = [
    '# written by test/vm/vm.ts: runs script.sh with its environment, output to script.log and the console',
    ...Object.entries(env).map(([k, v]) => `export ${k}=${shQuote(v)}`),
    `cd ${shQuote(repoRoot)} || exit 125`,
    `{ sh ${vmResultsDir}/script.sh; echo $? > ${vmResultsDir}/script-rc; } 2>&1 | tee ${vmResultsDir}/script.log`,
    `exit "$(cat ${vmResultsDir}/script-rc 2>/dev/null || echo 126)"`,
    '',
  ].join('\n');
  writeFileSync(join(results, 'run.sh'), run);
  writeFileSync(join(results, 'repo-path'), repoRoot);
  writeFileSync(join(results, 'script.sh'), script);

  const args = [
    '-accel',
    'tcg',
    '-m',
    String(opts.memoryMb ?? 1024),
    '-smp',
    '2',
    '-nographic',
    '-no-reboot',
    '-nodefaults',
    '-nic',
    'none',
    '-serial',
    'stdio',
    '-kernel',
    `/boot/vmlinuz-${kver}`,
    '-initrd',
    initrd,
    '-append',
    'console=ttyS0 panic=-1 quiet loglevel=3',
    '-fsdev',
    'local,id=r,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device',
    'virtio-9p-pci,fsdev=r,mount_tag=hostroot',
    '-fsdev',
    `local,id=s,path=${results},security_model=none`,
    '-device',
    'virtio-9p-pci,fsdev=s,mount_tag=share',
    '-fsdev',
    `local,id=repo,path=${repoRoot},security_model=none,readonly=on,multidevs=remap`,
    '-device',
    'virtio-9p-pci,fsdev=repo,mount_tag=repo',
  ];

  const timeoutMs = opts.timeoutMs ?? 600_000;
  const started = Date.now();
  let bootSeconds: number | null = null;
  let output = '';
  const child = spawn(QEMU, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const pid = child.pid;
  const killIt = () => {
    if (pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  // If this process goes away, do not leave the VM behind.
  process.once('exit', killIt);
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (bootSeconds === null && output.includes('netlab-vm: script start')) bootSeconds = (Date.now() - started) / 1000;
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killIt();
  }, timeoutMs);
  const status = await new Promise<number | string>((resolve) => {
    child.on('error', (err) => resolve(String(err)));
    child.on('close', (code, signal) => resolve(code ?? String(signal)));
  });
  clearTimeout(timer);
  process.removeListener('exit', killIt);
  const totalSeconds = (Date.now() - started) / 1000;

  // SeaBIOS clears the screen with escape sequences: drop them and carriage returns.
  // eslint-disable-next-line no-control-regex
  output = output.replace(/\x1b(\[[0-9;?]*[A-Za-z]|c)/g, '').replace(/\r/g, '');
  const rcFile = join(results, 'exit-code');
  if (timedOut || !existsSync(rcFile)) {
    const logFile = join(results, 'script.log');
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '(none)';
    const keep = Boolean(process.env.NETLAB_VM_KEEP);
    if (!keep) removeResults(results);
    const what = timedOut ? `the VM timed out after ${timeoutMs} ms` : `the VM exited (${status}) before the script finished`;
    throw new Error(
      `${what}${keep ? ` (results kept in ${results})` : ''}\n` +
        `--- console (last 60 lines):\n${lastLines(output, 60)}\n--- script.log (last 60 lines):\n${lastLines(log, 60)}`,
    );
  }
  const exitCode = Number(readFileSync(rcFile, 'utf8').trim());
  return { exitCode, output, results, timings: { bootSeconds, totalSeconds } };
}

/** Removes a results directory made by runInVm (only directories it made: netlab-vm-* under tmpdir). */
export function removeResults(results: string): void {
  const base = tmpdir().replace(/\/$/, '');
  if (!results.startsWith(`${base}/netlab-vm-`)) throw new Error(`not a vm results dir: ${results}`);
  rmSync(results, { recursive: true, force: true });
}
