// The lab the machines tests apply across three machines, and what they compare machines by.
import { execa } from 'execa';
import { NETLAB } from './cli.js';
import type { Harness, TestMachine } from './machines-harness.js';
import { spanLab as spanFixture } from '../fixtures/span-lab.js';

/** The coordinator's record of the lab's machines, in the sandbox's state directory. */
export const RECORD = '/run/netlab/.machines/span.json';

/** Three machines: a bridge segment spanning all of them, a routed link between m2 and m3. */
export function spanLab(h: Harness): string {
  return spanFixture(h.machinesYaml());
}

/** What a machine's kernel holds, for "same state" and "nothing left": namespaces, links, nft. */
export async function snapshot(h: Harness, m: TestMachine): Promise<string> {
  const ns = await h.enter(m, 'ip', ['netns', 'list']);
  const links = await h.enter(m, 'ip', ['-o', 'link', 'show']);
  const nft = await h.enter(m, 'nft', ['list', 'ruleset']);
  // preflight.json is the cache of kernel feature checks, kept on purpose: not the lab's state.
  const state = await h.enter(m, 'find', ['/run/netlab', '-mindepth', '1', '-not', '-name', 'preflight.json']);
  // Link lines without counters or ifindex-dependent parts that a re-created veth changes.
  const cleaned = links.stdout
    .split('\n')
    .map((l) => l.replace(/^\d+: /, '').replace(/ link-netns \S+| link-netnsid \d+/g, ''))
    .join('\n');
  return [`netns:\n${ns.stdout}`, `links:\n${cleaned}`, `nft:\n${nft.stdout}`, `state:\n${state.stdout}`].join('\n');
}

export async function ping(h: Harness, m: TestMachine, ns: string, to: string, extra: string[] = []) {
  return h.enter(m, 'ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', ...extra, to]);
}

/** A netlab run in the background whose output the test can wait on. */
export function startNetlab(args: string[], env: Record<string, string>) {
  const child = execa('node', [NETLAB, ...args], { reject: false, all: true, env: { NO_COLOR: '1', ...env } });
  let seen = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.all!.on('data', (b: Buffer) => {
    seen += b.toString();
    for (const w of waiters.filter((x) => x.re.test(seen))) w.resolve();
  });
  return {
    child,
    waitFor: (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(seen)) return resolve();
        waiters.push({ re, resolve });
        void child.then(() => (re.test(seen) ? resolve() : reject(new Error(`netlab ended without ${re}: ${seen}`))));
      }),
  };
}

/** The name of the VXLAN a test plants by hand (not netlab's) on a machine. */
export const FOREIGN_VXLAN = 'foreignvx';

/**
 * Plants a foreign VXLAN with the segment's VNI and port on `m`: the plan cannot see it in the
 * way, and the kernel then refuses the lab's own.
 */
export async function plantForeignVxlan(h: Harness, m: TestMachine, vni: string): Promise<void> {
  const args = ['link', 'add', FOREIGN_VXLAN, 'type', 'vxlan', 'id', vni, 'dstport', '4789', 'local', m.address];
  const planted = await h.enter(m, 'ip', args);
  if (planted.code !== 0) throw new Error(`ip ${args.join(' ')}: ${planted.stderr}`);
}
