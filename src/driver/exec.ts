// execa, loaded on first use: loading it is a sizeable part of netlab's start-up, and most
// runs reach the kernel only through the runner and the netlink reader, which spawn directly.
import type * as Execa from 'execa';

let loading: Promise<typeof Execa> | undefined;

export async function lazyExeca(): Promise<typeof Execa.execa> {
  return (await (loading ??= import('execa'))).execa;
}
