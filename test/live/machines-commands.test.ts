// The everyday commands on a lab across machines, over real ssh (test/live/machines-harness.ts):
// status and inspect give every machine's part and one exit code, test runs every kind of assertion
// between hosts on different machines, exec/shell/logs/capture reach a host on another machine. One
// 3-machine lab, applied once, serves every test of the file.
import { execa } from 'execa';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFile, netlab, NETLAB } from './cli.js';
import { startMachines, type Harness, type TestMachine } from './machines-harness.js';
import { spanLab } from '../fixtures/span-lab.js';
import { sandboxSkipReason } from './sandbox.js';

/** A truth table whose rows start on m1, m2 and m3 and whose columns are on m3. */
const MATRIX = `  - matrix:
      from: [a1, a2, r2, a3]
      to: [a3, r3]
      port: 7
      want: [".X", ".X", "X.", ".X"]
`;

/**
 * A kube-proxy style service, as every node has it: backends on m1 (a1) and m2 (a2), and a route
 * for the VIPs (a pod's default route), without which connect() fails before any DNAT.
 */
const SERVICE = [
  'nat: { services: [{ name: web, vip: 10.96.0.10, port: 9100, backends: [a1:9100, a2:9100] }] }',
  'routes: [{ to: 10.96.0.0/16, dev: eth0 }]',
];
/** a2 (m2) publishes a port whose target is a3, on m3. */
const PUBLISH = 'nat: { publish: [{ port: 9200, to: a3:9200 }] }';
const SERVICE_EXPECT = [
  'a1 -> 10.96.0.10:9100 reaches [a1, a2]',
  'a3 -> 10.96.0.10:9100 reaches [a1, a2]',
  'a2 -> 10.0.0.2:9200 reaches [a3]',
];

/**
 * NetworkPolicy across machines: a3 (m3) is isolated for ingress and admits only a1 (m1), on its
 * named port; a2 (m2) is denied. a3's own egress is not isolated, so it reaches both, replies
 * included. The tables are what the lab gives with every host on one machine.
 */
const POLICY = {
  keys: { a1: 'labels: { pod: a1 }', a2: 'labels: { pod: a2 }' },
  a3: ['labels: { pod: a3 }', 'ports: [{ name: echo, port: 7 }]'],
  yaml: `network_policies:
  - name: a3-from-a1
    podSelector: { matchLabels: { pod: a3 } }
    policyTypes: [Ingress]
    ingress: [{ from: [{ podSelector: { matchLabels: { pod: a1 } } }], ports: [{ port: echo }] }]
`,
  expect: ['a1 -> a3 unreachable', 'a2 -> a3 unreachable', 'a3 -> a2 reachable'],
  matrix: `  - matrix:
      from: [a1, a2]
      to: [a3]
      port: 7
      want: [".", "X"]
  - matrix:
      from: [a3]
      to: [a1, a2]
      port: 7
      want: [".."]
`,
};

/** The span lab's one-line host `name` with `extra` keys added to its body. */
function withKeys(lab: string, name: string, address: string, extra: string): string {
  const line = `  ${name}: { on: m${name.slice(1)}, interfaces: { eth0: { addresses: [${address}] } } }\n`;
  if (!lab.includes(line)) throw new Error(`the span lab no longer has ${name} on one line`);
  return lab.replace(line, `${line.slice(0, -3)}, ${extra} }\n`);
}

/**
 * A bridge segment over all three machines, a routed link m2-m3, a process on m3, assertions
 * across machines: a reaches [...] whose answers come from another machine, and a truth table.
 * a1 (m1) and a3 (m3) have a service whose backends are on m1 and m2; a2 (m2) publishes a port of a3 (m3).
 */
function cmdsLab(h: Harness, extraExpect: string[] = [], matrix = MATRIX, policy = false): string {
  const lab = spanLab(h.machinesYaml(), {
    name: 'cmds',
    a3Block: `    on: m3
    interfaces: { eth0: { addresses: [10.0.0.3/24] } }
    ${[...SERVICE, ...(policy ? POLICY.a3 : [])].join('\n    ')}
    run:
      - { name: talk, command: "echo hello from $NETLAB_HOST; exec sleep 600" }
`,
    expect: policy
      ? POLICY.expect
      : [
          'a1 -> a2 reachable',
          'a2 -> a3 reachable',
          'a3 -> a1 reachable',
          'r2 -> r3 reachable',
          'a1 -> a3:8080 tcp reachable',
          'a3 -> a2:53 udp reachable',
          'a1 -> a3:9000 reaches [a3]',
          ...extraExpect,
        ],
  });
  const keys = (name: 'a1' | 'a2', extra: string) => (policy ? `${extra}, ${POLICY.keys[name]}` : extra);
  const hosts = withKeys(withKeys(lab, 'a1', '10.0.0.1/24', keys('a1', SERVICE.join(', '))), 'a2', '10.0.0.2/24', keys('a2', PUBLISH));
  return policy ? hosts.replace('links:\n', `${POLICY.yaml}links:\n`) + POLICY.matrix : hosts + matrix;
}

/** netlab started in the background, its stderr watched, for commands that wait (capture). */
function background(args: string[], env: Record<string, string>) {
  const child = execa('node', [NETLAB, ...args], { reject: false, env: { NO_COLOR: '1', ...env } });
  let stderr = '';
  const waitFor = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => re.test(stderr) && resolve();
      child.stderr!.on('data', (b: Buffer) => {
        stderr += b.toString();
        check();
      });
      void child.then(() => (re.test(stderr) ? resolve() : reject(new Error(`netlab ended without ${re}: ${stderr}`))));
    });
  return { child, waitFor };
}

/** The pids of commands named `comm` in a lab namespace on a machine. */
async function pidsOf(h: Harness, m: TestMachine, ns: string, comm: string): Promise<string[]> {
  const pids = (await h.enter(m, 'ip', ['netns', 'pids', ns])).stdout.split('\n').filter(Boolean);
  const names = await Promise.all(pids.map((p) => h.enter(m, 'cat', [`/proc/${p}/comm`])));
  return pids.filter((_, i) => names[i]!.stdout.trim() === comm);
}

describe.skipIf(sandboxSkipReason !== null)('commands on a lab across machines', () => {
  let h: Harness;
  let env: Record<string, string>;
  let file: string;
  let m1: TestMachine, m2: TestMachine, m3: TestMachine;
  beforeAll(async () => {
    h = await startMachines(3);
    env = h.env;
    [m1, m2, m3] = h.machines as [TestMachine, TestMachine, TestMachine];
    file = labFile('cmds', cmdsLab(h));
    const r = await netlab(['apply', '--yes', file], { env });
    expect(r.code, r.all).toBe(0);
  });
  afterAll(async () => {
    // The machines stop even when destroy fails, so a failed test leaves no sshd behind.
    try {
      if (h) await netlab(['destroy', '--yes', '--lab', 'cmds'], { env });
    } finally {
      await h?.stop();
    }
  });

  it('status and inspect show every machine part; drift on one machine is drift of the lab', async () => {
    const ok = await netlab(['status', '--lab', 'cmds'], { env });
    expect(ok.code, ok.all).toBe(0);
    expect(ok.stdout).toMatch(/cmds {2}across 3 machines {2}in sync/);
    for (const m of h.machines)
      expect(ok.stdout).toMatch(new RegExp(`${m.name} \\(root@${m.address.replace(/\./g, '\\.')}\\) {2}in sync {2}\\d+ objects`));
    const all = await netlab(['status'], { env });
    expect(all.code, all.all).toBe(0);
    expect(all.stdout).toMatch(/cmds {2}across 3 machines/);
    const inspected = await netlab(['inspect', 'cmds'], { env });
    expect(inspected.code, inspected.all).toBe(0);
    expect(inspected.stdout).toMatch(/machine m3 \(root@198\.18\.0\.3\)[\s\S]*a3 {2}netns cmds-a3/);

    // Drift on m2 alone: the lab has drifted, and the report says where.
    const mtu = /mtu (\d+)/.exec((await h.enter(m2, 'ip', ['-n', 'cmds-a2', 'link', 'show', 'dev', 'eth0'])).stdout)![1]!;
    await h.enter(m2, 'ip', ['-n', 'cmds-a2', 'link', 'set', 'dev', 'eth0', 'mtu', '1280']);
    try {
      const drift = await netlab(['status', '--lab', 'cmds', '--json'], { env });
      expect(drift.code, drift.all).toBe(2);
      const j = JSON.parse(drift.stdout) as {
        across: { pending: boolean; machines: { machine: string; status: { drift: string[] } }[] }[];
      };
      const byMachine = Object.fromEntries(j.across[0]!.machines.map((x) => [x.machine, x.status.drift.length]));
      expect(j.across[0]!.pending).toBe(true);
      expect(byMachine).toEqual({ m1: 0, m2: expect.any(Number), m3: 0 });
      expect(byMachine.m2).toBeGreaterThan(0);
      const ins = await netlab(['inspect', 'cmds', '--json'], { env });
      expect(ins.code, ins.all).toBe(2);
      const report = JSON.parse(ins.stdout) as { inSync: boolean; machines: { machine: string; report: { inSync: boolean } }[] };
      expect(report.inSync).toBe(false);
      expect(report.machines.map((x) => [x.machine, x.report.inSync])).toEqual([
        ['m1', true],
        ['m2', false],
        ['m3', true],
      ]);
    } finally {
      await h.enter(m2, 'ip', ['-n', 'cmds-a2', 'link', 'set', 'dev', 'eth0', 'mtu', mtu]);
    }
    expect((await netlab(['status', '--lab', 'cmds'], { env })).code).toBe(0);
  });

  it('test runs every kind of assertion between hosts on different machines, each probe on its source machine', async () => {
    const r = await netlab(['test', '--json', file], { env });
    expect(r.code, r.all).toBe(0);
    const j = JSON.parse(r.stdout) as { passed: number; labs: { results: { text: string; status: string; message: string }[] }[] };
    expect(j.passed).toBe(8);
    // In the order of one machine's netlab test: the assertions as written, then the table.
    expect(j.labs[0]!.results.map((x) => x.text)).toEqual([
      'a1 -> a2 reachable',
      'a2 -> a3 reachable',
      'a3 -> a1 reachable',
      'r2 -> r3 reachable',
      'a1 -> a3:8080 tcp reachable',
      'a3 -> a2:53 udp reachable',
      'a1 -> a3:9000 reaches [a3]',
      'matrix 4x2 tcp/7',
    ]);
    const msg = Object.fromEntries(j.labs[0]!.results.map((x) => [x.text, x.message]));
    // The TCP and UDP answers come from the responders started on the target's machine.
    expect(msg['a1 -> a3:8080 tcp reachable']).toMatch(/^a3 answered tcp 10\.0\.0\.3:8080 \(a3\) \(from m1\)$/);
    expect(msg['a3 -> a2:53 udp reachable']).toMatch(/^a2 answered udp 10\.0\.0\.2:53 \(a2\) \(from m3\)$/);
    expect(msg['r2 -> r3 reachable']).toMatch(/\(from m2\)$/);
    // Every answer came from the responder named a3, on m3.
    expect(msg['a1 -> a3:9000 reaches [a3]']).toBe('10 connections to tcp 10.0.0.3:9000 (a3): a3 x10 (from m1)');
    // One table, its rows probed on the machines of their hosts.
    expect(msg['matrix 4x2 tcp/7']).toBe('8 cells as expected (from m1, m2, m3)');

    // Failing assertions across machines fail, at their own line of the lab file: the probes are real.
    const failing = labFile(
      'cmds',
      cmdsLab(h, ['a1 -> 10.9.0.2 reachable', 'a1 -> a3:9000 reaches [a2, a3]'], MATRIX.replace('"X.", ".X"]', '"..", ".X"]')),
    );
    const f = await netlab(['test', '--json', failing], { env });
    expect(f.code, f.all).toBe(1);
    const fj = JSON.parse(f.stdout) as { labs: { results: { text: string; status: string; message: string; details: string[] }[] }[] };
    const byText = Object.fromEntries(fj.labs[0]!.results.map((x) => [x.text, x]));
    expect(byText['a1 -> 10.9.0.2 reachable']!.status).toBe('fail');
    expect(byText['a1 -> a3:9000 reaches [a2, a3]']!.status).toBe('fail');
    expect(byText['a1 -> a3:9000 reaches [a2, a3]']!.message).toMatch(/; never answered: a2 \(from m1\)$/);
    expect(byText['matrix 4x2 tcp/7']!.status).toBe('fail');
    expect(byText['matrix 4x2 tcp/7']!.message).toMatch(/^1 of 8 cells differ from want/);
    expect(byText['matrix 4x2 tcp/7']!.details).toEqual(['    a3 r3', 'a1  .  X', 'a2  .  X', 'r2  X* .', 'a3  .  X']);
    const text = await netlab(['test', failing], { env });
    expect(text.stdout).toMatch(new RegExp(`FAIL ${failing.replace(/[.\\/]/g, '\\$&')}:\\d+:\\d+: a1 -> 10\\.9\\.0\\.2 reachable`));
    // The responders are gone afterwards, on every machine.
    for (const [m, ns] of [
      [m3, 'cmds-a3'],
      [m2, 'cmds-a2'],
      [m3, 'cmds-r3'],
    ] as const)
      expect(await pidsOf(h, m, ns, 'node')).toEqual([]);
  });

  it('a service VIP reaches backends on two machines from its own and a third; a published port its target elsewhere', async () => {
    const withService = labFile('cmds', cmdsLab(h, SERVICE_EXPECT));
    const r = await netlab(['test', '--json', withService], { env });
    expect(r.code, r.all).toBe(0);
    const j = JSON.parse(r.stdout) as { labs: { results: { text: string; status: string; message: string }[] }[] };
    const msg = Object.fromEntries(j.labs[0]!.results.map((x) => [x.text, x.message]));
    // Each VIP connection was DNATed to a backend in m1 or m2, whichever machine the client is on.
    for (const [text, from] of [
      [SERVICE_EXPECT[0]!, 'm1'],
      [SERVICE_EXPECT[1]!, 'm3'],
    ])
      expect(msg[text]).toMatch(new RegExp(`^\\d+ connections to tcp 10\\.96\\.0\\.10:9100\\b.*: a1 x\\d+, a2 x\\d+ \\(from ${from}\\)$`));
    expect(msg[SERVICE_EXPECT[2]!]).toMatch(/: a3 x\d+ \(from m2\)$/);
    // m3's rule names a2's address, as on one machine; re-applying changes nothing anywhere.
    const rules = await h.enter(m3, 'ip', ['netns', 'exec', 'cmds-a3', 'nft', 'list', 'ruleset']);
    expect(rules.stdout).toMatch(/10\.0\.0\.2 . 9100|10\.0\.0\.2:9100/);
    const again = await netlab(['plan', withService], { env });
    expect(again.code, again.all).toBe(0);
    expect(again.stdout.match(/no changes/g)?.length, again.stdout).toBe(3);
  });

  it('a NetworkPolicy isolates a pod on one machine and admits a pod on another, as on one machine', async () => {
    const withPolicy = labFile('cmds', cmdsLab(h, [], MATRIX, true));
    try {
      const applied = await netlab(['apply', '--yes', withPolicy], { env });
      expect(applied.code, applied.all).toBe(0);
      const r = await netlab(['test', '--json', withPolicy], { env });
      expect(r.code, r.all).toBe(0);
      const j = JSON.parse(r.stdout) as { labs: { results: { text: string; status: string; message: string }[] }[] };
      expect(j.labs[0]!.results.map((x) => [x.text, x.status])).toEqual([
        ['a1 -> a3 unreachable', 'pass'],
        ['a2 -> a3 unreachable', 'pass'],
        ['a3 -> a2 reachable', 'pass'],
        ['matrix 2x1 tcp/7', 'pass'],
        ['matrix 1x2 tcp/7', 'pass'],
      ]);
      // m3 enforces it by address: a1's, on m1, is the one peer in a3's rules.
      const rules = await h.enter(m3, 'ip', ['netns', 'exec', 'cmds-a3', 'nft', 'list', 'ruleset']);
      expect(rules.stdout).toMatch(/ip saddr 10\.0\.0\.1\b/);
      expect(rules.stdout).not.toMatch(/10\.0\.0\.2\b.*dport 7\b/);
      const again = await netlab(['plan', withPolicy], { env });
      expect(again.code, again.all).toBe(0);
      expect(again.stdout.match(/no changes/g)?.length, again.stdout).toBe(3);
    } finally {
      // Back to the shared lab, for the tests after this one.
      const back = await netlab(['apply', '--yes', file], { env });
      expect(back.code, back.all).toBe(0);
    }
  });

  it('exec runs an argv in a host on another machine, its exit code and words intact', async () => {
    const inNs = await h.enter(m3, 'ip', ['netns', 'exec', 'cmds-a3', 'readlink', '/proc/self/ns/net']);
    const r = await netlab(['exec', 'cmds', 'a3', '--', 'readlink', '/proc/self/ns/net'], { env });
    expect(r.code, r.all).toBe(0);
    expect(r.stdout.trim()).toBe(inNs.stdout.trim());
    const words = await netlab(['exec', 'cmds', 'a2', '--', 'sh', '-c', 'echo "$NETLAB_HOST: $1"; exit 7', 'sh', "it's $(not) run; here"], {
      env,
    });
    expect(words.code, words.all).toBe(7);
    expect(words.stdout).toBe("a2: it's $(not) run; here");
    const unknown = await netlab(['exec', 'cmds', 'a4', '--', 'true'], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/host "a4" is not on any machine of lab "cmds" \(did you mean "a[1-3]"\?\)/);
  });

  it('exec --file and shell --file of a lab across machines run on the host’s machine, as without --file', async () => {
    const inNs = await h.enter(m3, 'ip', ['netns', 'exec', 'cmds-a3', 'readlink', '/proc/self/ns/net']);
    const r = await netlab(['exec', '--file', file, 'cmds', 'a3', '--', 'readlink', '/proc/self/ns/net'], { env });
    expect(r.code, r.all).toBe(0);
    expect(r.stdout.trim()).toBe(inNs.stdout.trim());
    const unknown = await netlab(['exec', '--file', file, 'cmds', 'a4', '--', 'true'], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/host "a4" is not in lab "cmds" \(.*cmds\.yaml\) \(did you mean "a[1-3]"\?\)/);
    const shell = await execa('script', ['-qec', `node ${NETLAB} shell --file ${file} cmds a2`, '/dev/null'], {
      reject: false,
      input: 'echo "in $NETLAB_HOST"; ip -br addr show dev eth0; exit 4\n',
      env: { NO_COLOR: '1', SHELL: '/bin/sh', ...env },
    });
    expect(shell.exitCode, shell.stdout + shell.stderr).toBe(4);
    expect(shell.stdout).toMatch(/in a2/);
    expect(shell.stdout).toMatch(/eth0\S* +UP +10\.0\.0\.2\/24/);
  });

  it('shell opens a terminal in a host on another machine (ssh -t)', async () => {
    // script(1) gives netlab a terminal, as a user's would be.
    const r = await execa('script', ['-qec', `node ${NETLAB} shell cmds a3`, '/dev/null'], {
      reject: false,
      input: 'tty >/dev/null && echo "on a tty in $NETLAB_HOST"; ip -br addr show dev eth0; exit 3\n',
      env: { NO_COLOR: '1', SHELL: '/bin/sh', ...env },
    });
    expect(r.exitCode, r.stdout + r.stderr).toBe(3);
    expect(r.stdout).toMatch(/on a tty in a3/);
    expect(r.stdout).toMatch(/eth0\S* +UP +10\.0\.0\.3\/24/);
  });

  it('logs prints the output of a process on another machine', async () => {
    const r = await netlab(['logs', 'cmds', 'a3', 'talk'], { env });
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(/^hello from a3$/m);
  });

  it('capture on another machine writes the pcap here, and Ctrl-C stops tcpdump there', async () => {
    const pcap = join(mkdtempSync(join(tmpdir(), 'netlab-cap-')), 'a3.pcap');
    const counted = background(['capture', 'cmds', 'a3:eth0', '-w', pcap, '-c', '2', '--', 'icmp'], env);
    await counted.waitFor(/listening on eth0/);
    await h.enter(m1, 'ip', ['netns', 'exec', 'cmds-a1', 'ping', '-c', '2', '-i', '0.2', '10.0.0.3']);
    const r = await counted.child;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    // pcap's magic number, in either byte order: the capture file came back to this machine.
    expect(readFileSync(pcap).subarray(0, 4).toString('hex')).toMatch(/^(d4c3b2a1|a1b2c3d4)$/);

    const open = background(['capture', 'cmds', 'a3:eth0', '-w', pcap], env);
    await open.waitFor(/listening on eth0/);
    expect(await pidsOf(h, m3, 'cmds-a3', 'tcpdump')).toHaveLength(1);
    process.kill(open.child.pid!, 'SIGINT');
    const stopped = await open.child;
    expect(stopped.exitCode, String(stopped.stderr)).toBe(0);
    expect(String(stopped.stderr)).toMatch(/packets captured/);
    expect(await pidsOf(h, m3, 'cmds-a3', 'tcpdump')).toEqual([]);
  });
});
