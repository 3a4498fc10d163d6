// Proxy neighbour entries on the real kernel, inside the sandbox: made and removed through the
// netlink writer and through `ip` (NETLAB_NETLINK=0), observed back exactly (re-apply changes
// nothing), and answering ARP for the other side of a router (see test/fixtures/proxy-lab.ts).
import { afterAll, describe, expect, it } from 'vitest';
import { dumpNamespaces } from '../../src/driver/netlink.js';
import { PROXY_LAB as LAB } from '../fixtures/proxy-lab.js';
import { labFile, netlab } from './cli.js';
import { inNs, sandboxSkipReason, sh } from './sandbox.js';

const WITHOUT_A = LAB.replace(', proxy_neigh: [10.0.0.5]', '');

afterAll(async () => {
  await netlab(['destroy', '--lab', 'pn']);
  await sh('ip', ['netns', 'del', 'pxread'], { reject: false });
});

async function proxies(): Promise<string[]> {
  const out = JSON.parse((await sh('ip', ['-n', 'pn-r', '-j', 'neigh', 'show', 'proxy'])).stdout || '[]') as { dst: string; dev: string }[];
  return out.map((e) => `${e.dst} dev ${e.dev}`).sort();
}

const mac = async (ns: string, dev: string) => (await inNs(ns, 'cat', [`/sys/class/net/${dev}/address`])).stdout.trim();

async function lladdr(ns: string, address: string): Promise<string | undefined> {
  const out = JSON.parse((await sh('ip', ['-n', ns, '-j', 'neigh', 'show', address])).stdout || '[]') as { lladdr?: string }[];
  return out[0]?.lladdr;
}

async function applyClean(text: string, env: Record<string, string>): Promise<void> {
  const file = labFile('pn', text);
  const r = await netlab(['apply', file], { env });
  expect(r.code, r.all).toBe(0);
  const again = await netlab(['plan', file], { env });
  expect(again.code, again.all).toBe(0);
  expect(again.stdout).toContain('no changes');
}

const NETLINK = {};
const IP = { NETLAB_NETLINK: '0' };

describe.skipIf(sandboxSkipReason !== null)('proxy neighbour entries', () => {
  it('are made, answer ARP without proxy_arp, re-apply to nothing, change through both paths and go on destroy', async () => {
    await applyClean(LAB, NETLINK);
    expect(await proxies()).toEqual(['10.0.0.1 dev b', '10.0.0.5 dev a']);
    expect((await inNs('pn-r', 'cat', ['/proc/sys/net/ipv4/conf/a/proxy_arp'])).stdout.trim()).toBe('0');

    // a reaches b as if on its link: r answered a's ARP for 10.0.0.5, and b's for 10.0.0.1, with its own MACs.
    await inNs('pn-a', 'ping', ['-c', '1', '-W', '10', '10.0.0.5']);
    expect(await lladdr('pn-a', '10.0.0.5')).toBe(await mac('pn-r', 'a'));
    expect(await lladdr('pn-b', '10.0.0.1')).toBe(await mac('pn-r', 'b'));

    // Removed and made again through `ip`, then removed through the netlink writer.
    await applyClean(WITHOUT_A, IP);
    expect(await proxies()).toEqual(['10.0.0.1 dev b']);
    await applyClean(LAB, IP);
    expect(await proxies()).toEqual(['10.0.0.1 dev b', '10.0.0.5 dev a']);
    await applyClean(WITHOUT_A, NETLINK);
    expect(await proxies()).toEqual(['10.0.0.1 dev b']);

    const gone = await netlab(['destroy', '--lab', 'pn']);
    expect(gone.code, gone.all).toBe(0);
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toMatch(/^pn-/m);
  });
});

describe.skipIf(sandboxSkipReason !== null)('the netlink reader', () => {
  it('dumps the proxy entries `ip -j neigh show proxy` lists, IPv4 and IPv6, with and without a device', async () => {
    await sh('ip', ['netns', 'add', 'pxread']);
    const ip = (...args: string[]) => sh('ip', ['-n', 'pxread', ...args]);
    await ip('link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1');
    await ip('neigh', 'add', 'proxy', '10.9.0.5', 'dev', 'p0');
    await ip('neigh', 'add', 'proxy', '2001:db8::5', 'dev', 'p1');
    await ip('neigh', 'add', 'proxy', '10.9.0.6');
    const listed = JSON.parse((await ip('-j', 'neigh', 'show', 'proxy')).stdout) as { dst: string; dev?: string }[];
    const [dump] = await dumpNamespaces([{ ns: 'pxread', ipv6Routes: false, proxyNeighbours: true }], '/run/netns');
    if (dump instanceof Error) throw dump;
    const shape = (e: { dst: string; dev?: string }) => `${e.dst} ${e.dev ?? '-'}`;
    expect(dump!.proxyNeigh.map(shape).sort()).toEqual(listed.map(shape).sort());
    expect(dump!.proxyNeigh.map(shape).sort()).toEqual(['10.9.0.5 p0', '10.9.0.6 -', '2001:db8::5 p1']);
  });
});
