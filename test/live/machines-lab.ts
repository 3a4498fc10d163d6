// The lab the machines tests apply across three machines, and what they compare machines by.
import { execa } from 'execa';
import { NETLAB } from './cli.js';
import type { Harness, TestMachine } from './machines-harness.js';

/** The coordinator's record of the lab's machines, in the sandbox's state directory. */
export const RECORD = '/run/netlab/.machines/span.json';

/** Three machines: a bridge segment spanning all of them, a routed link between m2 and m3. */
export function spanLab(h: Harness): string {
  return `name: span
${h.machinesYaml()}hosts:
  sw: { on: m1, interfaces: { br0: { kind: bridge } } }
  a1: { on: m1, interfaces: { eth0: { addresses: [10.0.0.1/24] } } }
  a2: { on: m2, interfaces: { eth0: { addresses: [10.0.0.2/24] } } }
  a3: { on: m3, interfaces: { eth0: { addresses: [10.0.0.3/24] } } }
  r2: { on: m2, interfaces: { eth1: { addresses: [10.9.0.1/30] } } }
  r3: { on: m3, interfaces: { eth1: { addresses: [10.9.0.2/30] } } }
links:
  - { a: a1:eth0, b: sw:br0 }
  - { a: a2:eth0, b: sw:br0 }
  - { a: a3:eth0, b: sw:br0 }
  - { a: r2:eth1, b: r3:eth1 }
`;
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
