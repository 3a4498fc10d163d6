// The perl helper programs (src/driver/helpers, copied into dist by the build) and how to run them.
// They are files rather than strings so that they can be syntax-checked and tested on their own.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The helpers' folder next to this module, in src/ as in dist/ or an installed package. */
export const HELPERS_DIR = fileURLToPath(new URL('./helpers/', import.meta.url));

export type Helper = 'netlink-reader' | 'netlink-writer' | 'netdev-reader' | 'runner' | 'sysctl-writer';

/** perl's arguments to run a helper: its libraries' folder on @INC, the program, then `args`. */
export function helperArgs(name: Helper, args: string[]): string[] {
  return ['-I', join(HELPERS_DIR, 'lib'), join(HELPERS_DIR, `${name}.pl`), ...args];
}
