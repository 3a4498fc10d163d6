// A crash-test hook: NETLAB_FAULT=<point> makes netlab SIGKILL itself when it reaches that point,
// so the live tier can show that whatever a killed run leaves, recovery finds.
export type FaultPoint = 'proc-after-intent' | 'proc-after-spawn' | 'proc-after-confirm';

export function faultPoint(point: FaultPoint): void {
  if (process.env.NETLAB_FAULT === point) process.kill(process.pid, 'SIGKILL');
}
