// What netlab never takes on the real kernel, inside the sandbox: an ip rule, an nft table named
// like the lab's, or a namespace named like an attached host's handle, made by someone else in a
// namespace the lab shares. Apply stops with a conflict (exit 1) and changes nothing; destroy
// leaves them, with the lab's record or without. And what it owns there, it removes.
import { describe, expect, it } from 'vitest';
import { labFile, netlab } from './cli.js';
import { sandboxSkipReason, sh } from './sandbox.js';

const ns = (name: string, ...args: string[]) => sh('ip', ['-n', name, ...args]);

/**
 * A lab file of two hosts on one link: `host` (gw unless said) in `netns`, with `own` lines of its
 * own, and `peer` in a namespace of the lab's; `top` lines go before `hosts:`.
 */
function pairLab(name: string, o: { netns: string; subnet: number; host?: string; own?: string[]; top?: string[] }): string {
  const host = o.host ?? 'gw';
  return labFile(
    name,
    [
      `name: ${name}`,
      ...(o.top ?? []),
      'hosts:',
      `  ${host}:`,
      `    netns: ${o.netns}`,
      ...(o.own ?? []).map((l) => `    ${l}`),
      '    interfaces:',
      `      eth0: { addresses: [10.${o.subnet}.0.1/24] }`,
      '  peer:',
      '    interfaces:',
      `      eth0: { addresses: [10.${o.subnet}.0.2/24] }`,
      'links:',
      `  - { a: ${host}:eth0, b: peer:eth0 }`,
      '',
    ].join('\n'),
  );
}

describe.skipIf(sandboxSkipReason !== null)('ownership in shared namespaces', () => {
  it("leaves the user's identical ip rule and nft table alone, and removes its own", async () => {
    await sh('ip', ['netns', 'add', 'own-shared']);
    try {
      await ns('own-shared', 'rule', 'add', 'priority', '300', 'from', '10.90.0.0/16', 'table', '300');
      await sh('ip', ['netns', 'exec', 'own-shared', 'nft', 'add table inet netlab_ow; add chain inet netlab_ow userchain']);
      const file = pairLab('ow', {
        netns: '{ name: own-shared }',
        subnet: 90,
        own: [
          'routing_policy:',
          '  - { priority: 300, from: 10.90.0.0/16, table: 300 }',
          'firewall: { default: deny, rules: [{ action: allow, from: 10.90.0.0/24 }] }',
        ],
      });
      const refused = await netlab(['apply', '--yes', file]);
      expect(refused.code, refused.all).toBe(1);
      expect(refused.stderr).toMatch(/rule .*exists already and was not made by this lab/);
      expect(refused.stderr).toMatch(/nft table .*exists already and was not made by this lab/);
      // A lab never applied, destroyed by its file: nothing of the user's goes.
      expect((await netlab(['destroy', '--yes', file])).code).toBe(0);
      const rules = async () => (await ns('own-shared', 'rule', 'show', 'priority', '300')).stdout;
      const chains = async () => (await sh('ip', ['netns', 'exec', 'own-shared', 'nft', 'list', 'table', 'inet', 'netlab_ow'])).stdout;
      expect(await rules()).toContain('from 10.90.0.0/16 lookup 300');
      expect(await chains()).toContain('userchain');

      // Without the user's, the lab makes its own, and its destroy removes them.
      await ns('own-shared', 'rule', 'del', 'priority', '300');
      await sh('ip', ['netns', 'exec', 'own-shared', 'nft', 'delete table inet netlab_ow']);
      const applied = await netlab(['apply', '--yes', file]);
      expect(applied.code, applied.all).toBe(0);
      expect(await rules()).toContain('from 10.90.0.0/16 lookup 300');
      expect((await netlab(['destroy', '--yes', '--lab', 'ow'])).code).toBe(0);
      expect(await rules()).toBe('');
      expect((await sh('ip', ['netns', 'exec', 'own-shared', 'nft', 'list', 'tables'])).stdout).not.toContain('netlab_ow');
    } finally {
      await netlab(['destroy', '--yes', '--lab', 'ow']);
      await sh('ip', ['netns', 'del', 'own-shared'], { reject: false });
    }
  });

  it('refuses to attach the namespace it runs in (the machine’s own) without root: true', async () => {
    // This test process runs in the sandbox's namespace, as netlab does: that is "the machine's own" here.
    const lab = (root: boolean) => pairLab('or', { netns: `{ pid: ${process.pid} }`, subnet: 81, top: [`root: ${root}`] });
    const refused = await netlab(['plan', lab(false)]);
    expect(refused.code, refused.all).toBe(1);
    expect(refused.stderr).toContain(`/proc/${process.pid}/ns/net is the namespace netlab runs in (the machine's own)`);
    expect(refused.stderr).toContain('`root: true`');
    // Said so, the lab may (plan only reads).
    const allowed = await netlab(['plan', lab(true)]);
    expect(allowed.code, allowed.all).toBe(2);
  });

  it('puts back the sysctls it changed in an attached namespace, from its first apply on', async () => {
    await sh('ip', ['netns', 'add', 'own-attached']);
    try {
      const forwarding = async () =>
        (await sh('ip', ['netns', 'exec', 'own-attached', 'sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim();
      expect(await forwarding()).toBe('0');
      const file = pairLab('oa', { netns: '{ path: /run/netns/own-attached }', subnet: 82, own: ['sysctls: { net.ipv4.ip_forward: 1 }'] });
      const applied = await netlab(['apply', '--yes', file]);
      expect(applied.code, applied.all).toBe(0);
      expect(await forwarding()).toBe('1');
      const destroyed = await netlab(['destroy', '--yes', file]);
      expect(destroyed.code, destroyed.all).toBe(0);
      expect(await forwarding()).toBe('0');
      expect((await sh('ip', ['netns', 'list'])).stdout).not.toMatch(/^oa-/m);
    } finally {
      await netlab(['destroy', '--yes', '--lab', 'oa']);
      await sh('ip', ['netns', 'del', 'own-attached'], { reject: false });
    }
  });

  it("keeps a sysctl two labs set in one namespace until both are gone, then puts back the user's value", async () => {
    await sh('ip', ['netns', 'add', 'own-two']);
    try {
      const forwarding = async () => (await sh('ip', ['netns', 'exec', 'own-two', 'sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim();
      const lab = (name: string, subnet: number) =>
        pairLab(name, { netns: '{ name: own-two }', subnet, own: ['sysctls: { net.ipv4.ip_forward: 1 }'] });
      const [first, second] = [lab('ot1', 83), lab('ot2', 84)];
      for (const f of [first, second]) expect((await netlab(['apply', '--yes', f])).code).toBe(0);
      expect(await forwarding()).toBe('1');
      expect((await netlab(['destroy', '--yes', first])).code).toBe(0);
      expect(await forwarding()).toBe('1');
      expect((await netlab(['status', '--lab', 'ot2'])).code).toBe(0);
      expect((await netlab(['destroy', '--yes', second])).code).toBe(0);
      expect(await forwarding()).toBe('0');
    } finally {
      await netlab(['destroy', '--yes', '--lab', 'ot1', 'ot2']);
      await sh('ip', ['netns', 'del', 'own-two'], { reject: false });
    }
  });

  it('never unmounts a namespace the user made under the name of an attached host', async () => {
    await sh('ip', ['netns', 'add', 'own-target']);
    await sh('ip', ['netns', 'add', 'oh-h1']);
    try {
      await ns('oh-h1', 'link', 'add', 'userbr', 'type', 'bridge');
      const file = pairLab('oh', { netns: '{ path: /run/netns/own-target }', subnet: 80, host: 'h1' });
      const refused = await netlab(['apply', '--yes', file]);
      expect(refused.code, refused.all).toBe(1);
      expect(refused.stderr).toMatch(/netns oh-h1: it exists already and was not made by this lab/);
      expect((await netlab(['destroy', '--yes', file])).code).toBe(0);
      expect((await ns('oh-h1', '-br', 'link', 'show', 'userbr')).stdout).toContain('userbr');
    } finally {
      await netlab(['destroy', '--yes', '--lab', 'oh']);
      await sh('ip', ['netns', 'del', 'oh-h1'], { reject: false });
      await sh('ip', ['netns', 'del', 'own-target'], { reject: false });
    }
  });
});
