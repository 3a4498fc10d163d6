// "Machines" for the live tier: each a private network + mount namespace of its own inside the
// sandbox, with its own /run (so its own /run/netns and /run/netlab), lo up, a veth to one
// underlay bridge in the sandbox, and a real sshd on its underlay address. Keys, known_hosts and
// the coordinator's ssh config are made here in a temp dir: nothing reads or writes ~/.ssh.
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestMachine {
  name: string;
  /** Its address on the underlay, where its sshd listens. */
  address: string;
  /** The process that keeps its namespaces (enter them with nsenter -t PID -n -m). */
  holder: number;
  sshd: number | null;
}

export interface Harness {
  dir: string;
  /** The coordinator's ssh config: pass it to netlab as NETLAB_SSH_CONFIG. */
  sshConfig: string;
  env: Record<string, string>;
  machines: TestMachine[];
  /** The lab's `machines:` map for these machines, as YAML lines. */
  machinesYaml(): string;
  /** Runs a command on a machine through its sshd (words joined by ssh for the remote shell). */
  ssh(m: TestMachine, words: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Runs a command in a machine's namespaces directly, without ssh. */
  enter(m: TestMachine, cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stopSshd(m: TestMachine): Promise<void>;
  startSshd(m: TestMachine): Promise<void>;
  stop(): Promise<void>;
}

const SUBNET = '198.18.0';

/** Resolves once `stream` has printed a line matching `re`; rejects if the process ends first. */
function waitFor(child: ResultPromise, stream: 'stdout' | 'stderr', re: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (b: Buffer) => {
      seen += b.toString();
      if (re.test(seen)) {
        child[stream]!.off('data', onData);
        resolve();
      }
    };
    child[stream]!.on('data', onData);
    child.catch(() => undefined).then(() => reject(new Error(`${what} ended before it was ready: ${seen}`)));
  });
}

async function run(cmd: string, args: string[], input?: string) {
  const r = await execa(cmd, args, { reject: false, input: input ?? '' });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function must(cmd: string, args: string[]) {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/**
 * Starts `n` machines m1..mN on an underlay bridge of MTU `mtu`, at 198.18.0.1..N, or at
 * `addresses` (IPv4 in one /24: a lab file's own SSH hosts); the sandbox itself is .254 of it.
 */
export async function startMachines(n: number, opts: { mtu?: number; bridge?: string; addresses?: string[] } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-machines-'));
  const bridge = opts.bridge ?? 'mu0';
  const mtu = opts.mtu ?? 1500;
  const addresses = opts.addresses ?? Array.from({ length: n }, (_, i) => `${SUBNET}.${i + 1}`);
  const subnet = addresses[0]!.split('.').slice(0, 3).join('.');
  if (addresses.length !== n || addresses.some((a) => !a.startsWith(`${subnet}.`) || a === `${subnet}.254`))
    throw new Error(`the machines' addresses must be ${n} IPv4 addresses of one /24, without .254: ${addresses.join(', ')}`);
  const children = new Map<number, ResultPromise>();
  const machines: TestMachine[] = [];
  await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'netlab-test', '-f', join(dir, 'id_ed25519')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'id_ed25519.pub')));
  await must('ip', ['link', 'add', 'name', bridge, 'mtu', String(mtu), 'type', 'bridge']);
  await must('ip', ['addr', 'add', `${subnet}.254/24`, 'dev', bridge]);
  await must('ip', ['link', 'set', 'dev', bridge, 'up']);
  const known: string[] = [];

  const harness: Harness = {
    dir,
    sshConfig: join(dir, 'ssh_config'),
    env: { NETLAB_SSH_CONFIG: join(dir, 'ssh_config') },
    machines,
    machinesYaml: () => ['machines:', ...machines.map((m) => `  ${m.name}: { ssh: root@${m.address} }`)].join('\n') + '\n',
    ssh: (m, words, input) => run('ssh', ['-F', join(dir, 'ssh_config'), '--', m.address, words.join(' ')], input),
    enter: (m, cmd, args) => run('nsenter', ['-t', String(m.holder), '-n', '-m', cmd, ...args]),
    async stopSshd(m) {
      if (m.sshd === null) return;
      const child = children.get(m.sshd)!;
      try {
        process.kill(m.sshd, 'SIGTERM');
      } catch {
        // A test stopped it itself (and cut its sessions): only the wait below is left.
      }
      await child.catch(() => undefined);
      children.delete(m.sshd);
      m.sshd = null;
    },
    async startSshd(m) {
      const conf = join(dir, `${m.name}.sshd_config`);
      const child = execa('nsenter', ['-t', String(m.holder), '-n', '-m', '/usr/sbin/sshd', '-D', '-e', '-f', conf], {
        reject: false,
        stdin: 'ignore',
      });
      children.set(child.pid!, child);
      m.sshd = child.pid!;
      await waitFor(child, 'stderr', /Server listening on/, `sshd of ${m.name}`);
    },
    async stop() {
      for (const m of machines) await harness.stopSshd(m);
      for (const m of machines) {
        process.kill(m.holder, 'SIGKILL');
        await children.get(m.holder)?.catch(() => undefined);
      }
      await run('ip', ['link', 'del', 'dev', bridge]);
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    for (let i = 1; i <= n; i++) {
      const name = `m${i}`;
      const address = addresses[i - 1]!;
      // Its own /run: sshd's /run/sshd, and the /run/netns and /run/netlab netlab uses there.
      const holder = execa(
        'unshare',
        [
          '--net',
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          'mount -t tmpfs -o mode=0755 machine /run && mkdir /run/netns /run/netlab /run/sshd && ' +
            'mount -t tmpfs -o mode=0700 machine /run/netlab && ip link set dev lo up && echo ready && exec sleep infinity',
        ],
        { reject: false, stdin: 'ignore' },
      );
      children.set(holder.pid!, holder);
      const m: TestMachine = { name, address, holder: holder.pid!, sshd: null };
      machines.push(m);
      await waitFor(holder, 'stdout', /ready/, `the namespaces of ${name}`);
      const port = `${bridge}-${name}`;
      await must('ip', ['link', 'add', 'name', port, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'u0', 'netns', String(m.holder)]);
      await must('ip', ['link', 'set', 'dev', port, 'master', bridge, 'up']);
      await must('nsenter', ['-t', String(m.holder), '-n', 'ip', 'addr', 'add', `${address}/24`, 'dev', 'u0']);
      await must('nsenter', ['-t', String(m.holder), '-n', 'ip', 'link', 'set', 'dev', 'u0', 'up']);
      const key = join(dir, `${name}_host_ed25519`);
      await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
      known.push(`${address} ${readFileSync(`${key}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}`);
      writeFileSync(
        join(dir, `${name}.sshd_config`),
        [
          `ListenAddress ${address}`,
          `HostKey ${key}`,
          `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          'StrictModes no',
          `PidFile ${join(dir, `${name}.sshd.pid`)}`,
          'MaxSessions 50',
          'MaxStartups 50',
          '',
        ].join('\n'),
      );
      await harness.startSshd(m);
    }
    writeFileSync(join(dir, 'known_hosts'), `${known.join('\n')}\n`);
    writeFileSync(
      harness.sshConfig,
      [
        'Host *',
        '  User root',
        `  IdentityFile ${join(dir, 'id_ed25519')}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        '  BatchMode yes',
        '  LogLevel ERROR',
        '',
      ].join('\n'),
    );
  } catch (e) {
    await harness.stop();
    throw e;
  }
  return harness;
}
