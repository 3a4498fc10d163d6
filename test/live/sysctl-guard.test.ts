// A sysctl key is a path opened as root: a key that is not the grammar, or a path that leaves
// /proc/sys, is refused by the driver and by its helper themselves, not only by validation.
// A victim file outside /proc/sys stays as it was.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelError } from '../../src/errors.js';
import { dumpNamespaces } from '../../src/driver/netlink.js';
import { RealDriver, writeSysctlFiles } from '../../src/driver/real.js';
import { sandboxSkipReason, sh } from './sandbox.js';

const NS = 'sysg-a';

describe.skipIf(sandboxSkipReason !== null)('sysctl writes stay in /proc/sys', () => {
  let dir = '';
  let victim = '';
  const untouched = () => expect(readFileSync(victim, 'utf8')).toBe('original\n');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sysg'));
    victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'original\n');
    await sh('ip', ['netns', 'add', NS]);
  });
  afterAll(async () => {
    await sh('ip', ['netns', 'del', NS], { reject: false });
    rmSync(dir, { recursive: true, force: true });
  });

  // `//` becomes `..` in sysctl(8)'s mapping: /proc/sys/net/../../../../../tmp/sysgXXXX/victim.txt.
  const hostileKey = () => `net.${'//.'.repeat(5)}${dir.slice(1).split('/').join('.')}.victim/txt`;

  it('the driver refuses a hostile key that bypassed validation', async () => {
    const run = new RealDriver().execute([{ op: 'sysctl.set', ns: NS, key: hostileKey(), value: 'pwned', restores: false, phase: 0 }]);
    await expect(run).rejects.toThrow(KernelError);
    await expect(run).rejects.toThrow(/refusing a sysctl key/);
    untouched();
  });

  it('the helper refuses a path outside /proc/sys/net, even one that starts there', async () => {
    for (const path of [`/proc/sys/net/../../..${victim}`, victim, `/proc/sys/net/./../../..${victim}`]) {
      const run = writeSysctlFiles([{ ns: NS, path, value: 'pwned' }]);
      await expect(run).rejects.toThrow(/refusing .*not a sysctl file under \/proc\/sys\/net/);
      untouched();
    }
  });

  it('the helper refuses a file mounted over a sysctl', async () => {
    // In a mount namespace of its own, so the other live tests never see the mount.
    const script = `const { writeSysctlFiles } = await import(${JSON.stringify(new URL('../../dist/driver/real.js', import.meta.url).href)});
await writeSysctlFiles([{ ns: '', path: '/proc/sys/net/ipv4/tcp_ecn', value: 'pwned' }]).then(() => console.log('written'), (e) => console.log(e.message));`;
    const r = await execa(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount --bind "$1" /proc/sys/net/ipv4/tcp_ecn && exec "$2" --input-type=module -e "$3"`,
        'sh',
        victim,
        process.execPath,
        script,
      ],
      { reject: false },
    );
    expect(r.stdout).toMatch(/refusing \/proc\/sys\/net\/ipv4\/tcp_ecn: it is not procfs's own file/);
    untouched();
  });

  it('the reader gives nothing for such a path, and real sysctls still read and write', async () => {
    await writeSysctlFiles([{ ns: NS, path: '/proc/sys/net/ipv4/ip_forward', value: '1' }]);
    const [dump] = await dumpNamespaces(
      [{ ns: NS, ipv6Routes: false, sysctlPaths: [`/proc/sys/net/../../..${victim}`, '/proc/sys/net/ipv4/ip_forward'] }],
      '/run/netns',
    );
    if (dump instanceof Error) throw dump;
    expect(dump!.sysctls).toEqual([null, '1']);
    untouched();
  });
});
