// The ssh transport of labs across machines: the argv it gives the system ssh (batch mode, a
// private multiplexing socket, the destination after `--`), the remote command of quoted checked
// words, and the destinations it refuses even when they come from a state file.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { checkTarget, masterCommand, openTransports, quoteWord, sshArgv } from '../../src/machines/transport.js';
import type { Machine, SshTarget } from '../../src/lab/types.js';

const T: SshTarget = { user: 'root', host: '192.0.2.2', port: 2222, identity: '/keys/id_ed25519' };
const pos = { file: 'lab.yaml', line: 1, col: 1, path: '' };

/** The value of each `-o KEY=VALUE` in an argv. */
function options(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  argv.forEach((a, i) => {
    if (a === '-o') {
      const [k, ...v] = argv[i + 1]!.split('=');
      out.set(k!, v.join('='));
    }
  });
  return out;
}

describe('ssh argv', () => {
  it('runs in batch mode over the private control socket, destination last after --', () => {
    const connect = sshArgv(T, '/tmp/netlab-ssh-x/c0', 'connect');
    const o = options(connect);
    expect(o.get('BatchMode')).toBe('yes');
    expect(o.get('ControlMaster')).toBe('yes');
    expect(o.get('ControlPath')).toBe('/tmp/netlab-ssh-x/c0');
    expect(o.get('IdentitiesOnly')).toBe('yes');
    // Host key checking is left to the user's ssh configuration, never switched off.
    expect(o.has('StrictHostKeyChecking')).toBe(false);
    expect(connect.slice(-2)).toEqual(['--', '192.0.2.2']);
    expect(connect).toEqual(expect.arrayContaining(['-p', '2222', '-l', 'root', '-i', '/keys/id_ed25519', '-N']));
    // The master stays this process's child, in the foreground: nothing would end a daemonised one.
    expect(connect).not.toContain('-f');
    expect(o.get('ControlPersist')).toBe('no');
  });

  it('runs the master under a parent-death signal, only while this process is still its parent', () => {
    const [cmd, args] = masterCommand(T, '/tmp/netlab-ssh-x/c0');
    expect([cmd, ...args.slice(0, 3)]).toEqual(['setpriv', '--pdeathsig', 'KILL', '--']);
    const at = args.indexOf('ssh');
    expect(args.slice(at + 1)).toEqual(sshArgv(T, '/tmp/netlab-ssh-x/c0', 'connect'));
    // The guard in front of ssh, run for real with `echo` in ssh's place.
    const guarded = (pid: string) => spawnSync(cmd, [...args.slice(0, at - 1), pid, 'echo', 'started'], { encoding: 'utf8' });
    expect(args[at - 1]).toBe(String(process.pid));
    const mine = guarded(String(process.pid));
    expect([mine.status, mine.stdout]).toEqual([0, 'started\n']);
    // Started after its parent had gone: it must not run, since nothing would end it.
    const orphan = guarded('1');
    expect([orphan.status, orphan.stdout]).toEqual([255, '']);
  });

  it('gives the remote shell one string of single-quoted words', () => {
    const argv = sshArgv(T, '/s', { remote: ['/usr/bin/node', '/opt/netlab/dist/cli/netlab.js', 'machine', 'commit', '--lab', 'l1'] });
    expect(options(argv).get('ControlMaster')).toBe('no');
    expect(argv.slice(-3)).toEqual(['--', '192.0.2.2', "'/usr/bin/node' '/opt/netlab/dist/cli/netlab.js' 'machine' 'commit' '--lab' 'l1'"]);
  });

  it('reads the ssh configuration NETLAB_SSH_CONFIG names, and no other', () => {
    const before = process.env.NETLAB_SSH_CONFIG;
    process.env.NETLAB_SSH_CONFIG = '/tmp/t/ssh_config';
    try {
      expect(sshArgv(T, '/s', 'connect').slice(0, 2)).toEqual(['-F', '/tmp/t/ssh_config']);
    } finally {
      if (before === undefined) delete process.env.NETLAB_SSH_CONFIG;
      else process.env.NETLAB_SSH_CONFIG = before;
    }
  });

  it('refuses words a remote shell could interpret', () => {
    for (const w of ['a b', "it's", 'x;reboot', '$(id)', '`id`', 'a|b', 'a&b', '>f', 'a\nb', '*', ''])
      expect(() => quoteWord(w), w).toThrow(/refusing to pass/);
    expect(() => sshArgv(T, '/s', { remote: ['netlab', 'machine', 'commit', '--lab', 'x;id'] })).toThrow(/refusing to pass/);
  });

  it('refuses hostile destinations, identities and ports, from a lab file or a state file', () => {
    const bad: [Partial<SshTarget>, RegExp][] = [
      [{ host: '-oProxyCommand=id' }, /SSH host/],
      [{ host: 'h;id' }, /SSH host/],
      [{ host: 'h$(id)' }, /SSH host/],
      [{ host: 'h id' }, /SSH host/],
      [{ user: '-l' }, /SSH user/],
      [{ user: 'r`id`' }, /SSH user/],
      [{ identity: '-F/etc/x' }, /identity/],
      [{ identity: '/k ey' }, /identity/],
      [{ port: 70000 }, /port/],
      [{ port: 0 }, /port/],
    ];
    for (const [patch, msg] of bad) expect(() => checkTarget('m2', { ...T, ...patch }), JSON.stringify(patch)).toThrow(msg);
    expect(() => checkTarget('m2', T)).not.toThrow();
    expect(() => checkTarget('m2', { user: null, host: 'node3.example', port: null, identity: null })).not.toThrow();
  });
});

describe('openTransports', () => {
  const made: string[] = [];
  afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('keeps the control sockets in a directory only this user can enter, removed on close', async () => {
    const machines: Machine[] = [
      { name: 'm1', ssh: null, underlay: null, pos },
      { name: 'm2-with-a-very-long-name-'.repeat(6), ssh: T, underlay: '192.0.2.2', pos },
    ];
    const t = await openTransports(machines);
    made.push(t.dir);
    expect(statSync(t.dir).mode & 0o777).toBe(0o700);
    // Socket paths stay short whatever the machine names (a unix socket path has at most 107 bytes).
    const socket = t.transports[1]!.socket!;
    expect(socket.startsWith(`${t.dir}/`)).toBe(true);
    expect(socket.length).toBeLessThan(108);
    expect(t.transports.map((x) => x.label)).toEqual(['m1 (local)', `${machines[1]!.name} (root@192.0.2.2)`]);
    await t.close();
    expect(existsSync(t.dir)).toBe(false);
  });

  it('opens nothing when a target is refused', async () => {
    const before = new Set(await tempEntries());
    await expect(openTransports([{ name: 'm2', ssh: { ...T, host: '-oX' }, underlay: null, pos }])).rejects.toThrow(/SSH host/);
    expect((await tempEntries()).filter((e) => !before.has(e))).toEqual([]);
  });
});

async function tempEntries(): Promise<string[]> {
  return readdirSync(tmpdir()).filter((e) => e.startsWith('netlab-ssh-'));
}
