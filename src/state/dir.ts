// Where netlab keeps its state (records, journals, locks, caches, the serve socket). Its own
// module with no imports: the CLI's client for `netlab serve` needs it before loading anything.
export function stateDir(): string {
  return process.env.NETLAB_STATE_DIR ?? '/run/netlab';
}
