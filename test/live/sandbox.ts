// Guard for live tests: they may only run inside the sandbox made by test/run-tiers.mjs.
import { readlinkSync } from 'node:fs';
import { execa } from 'execa';

/** True when this process runs in a network namespace other than the one the tier runner started in. */
export function inSandbox(): boolean {
  const outer = process.env.NETLAB_OUTER_NETNS;
  if (process.env.NETLAB_SANDBOX !== '1' || !outer || process.getuid?.() !== 0) return false;
  return readlinkSync('/proc/self/ns/net') !== outer;
}

/** Why live tests are skipped here, or null when they can run. */
export const sandboxSkipReason = inSandbox()
  ? null
  : 'live tests run only inside the sandbox: use `npm test` (or node test/run-tiers.mjs --tier=live) as root';

/** Runs a command and returns its stdout; throws with stderr on failure. */
export async function sh(cmd: string, args: string[], opts: { reject?: boolean; input?: string } = {}) {
  return execa(cmd, args, { reject: opts.reject ?? true, input: opts.input, all: true });
}

/** Runs a command inside a namespace. */
export async function inNs(ns: string, cmd: string, args: string[], opts: { reject?: boolean } = {}) {
  return execa('ip', ['netns', 'exec', ns, cmd, ...args], { reject: opts.reject ?? true, all: true });
}
