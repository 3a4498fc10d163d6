// `netlab test` often runs right after an apply, while the lab's own `run:` servers may still be
// starting: a responder that took a server's port first would make it fail to listen (EADDRINUSE)
// and exit, and the lab would be broken by its own test. So before responders listen in a host,
// wait until each of its run processes listens on a TCP port, or has run long enough that it is
// not a server still starting (a process that never listens, such as a VM's NIC helper).
import { readdir, readFile, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { readProcessRecord } from '../driver/processes.js';
import { procStat } from '../driver/procfs.js';
import { LISTEN, namespaceSockets } from './sockets.js';

/** Seconds after its start when a run process that listens on nothing is no longer waited for. */
const STARTUP_S = 5;
/** Linux's USER_HZ, the unit of the start time in /proc/PID/stat. */
const CLOCK_TICKS = 100;

/** Whether process `pid` itself holds a listening TCP socket. */
async function listens(pid: number): Promise<boolean> {
  const listening = new Set((await namespaceSockets(pid)).filter((s) => s.state === LISTEN).map((s) => s.inode));
  if (!listening.size) return false;
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m && listening.has(m[1]!)) return true;
  }
  return false;
}

async function uptime(): Promise<number> {
  return Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
}

/** Waits until no run process of `hosts` in lab `lab` is a server still starting (see above). */
export async function waitForServers(lab: string, hosts: Set<string>): Promise<void> {
  const entries = (await readProcessRecord(lab)).filter((e) => e.mode === 'run' && hosts.has(e.host));
  for (;;) {
    const now = await uptime();
    const starting: number[] = [];
    for (const e of entries) {
      const st = procStat(e.pid);
      if (!st || st.start !== e.start || st.state === 'Z') continue; // not running: nothing to wait for
      if (now - Number(e.start) / CLOCK_TICKS >= STARTUP_S || (await listens(e.pid))) continue;
      starting.push(e.pid);
    }
    if (!starting.length) return;
    await sleep(50);
  }
}
