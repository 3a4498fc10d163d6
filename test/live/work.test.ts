// Working with applied labs on the real kernel, inside the sandbox: exec and shell in a host,
// inspect (table, JSON, drift made by hand), `netlab test` (passing and failing assertions,
// JUnit read back by a standard XML parser, TAP), and several labs applied together where one
// fails and rolls back alone.
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFile, netlab, NETLAB, starLab } from './cli.js';
import { inNs, sandboxSkipReason, sh } from './sandbox.js';

async function netnsList(): Promise<string[]> {
  return (JSON.parse((await sh('ip', ['-j', 'netns', 'list'])).stdout || '[]') as { name: string }[]).map((n) => n.name).sort();
}

/** Parses XML with Python's standard library parser (xml.etree) and returns the structure as JSON. */
async function parseXmlWithPython(file: string) {
  const script = [
    'import json, sys, xml.etree.ElementTree as ET',
    'root = ET.parse(sys.argv[1]).getroot()',
    'def conv(e): return {"tag": e.tag, "attrib": e.attrib, "text": (e.text or "").strip(), "children": [conv(c) for c in e]}',
    'print(json.dumps(conv(root)))',
  ].join('\n');
  const r = await execa('python3', ['-c', script, file]);
  return JSON.parse(r.stdout) as XmlNode;
}
interface XmlNode {
  tag: string;
  attrib: Record<string, string>;
  text: string;
  children: XmlNode[];
}
const hasPython = (await execa('python3', ['-c', 'import xml.etree.ElementTree'], { reject: false })).exitCode === 0;

describe.skipIf(sandboxSkipReason !== null)('working with an applied lab', () => {
  let docker: string;
  beforeAll(async () => {
    docker = labFile('docker', readFileSync('labs/docker-bridge.yaml', 'utf8'));
    const r = await netlab(['apply', docker]);
    expect(r.code, r.all).toBe(0);
  });
  afterAll(async () => {
    await netlab(['destroy', '--lab', 'docker']);
  });

  it('exec runs a command in the host, passes its output and exit code through, and names the host in errors', async () => {
    const r = await netlab(['exec', 'docker', 'web', '--', 'ip', '-j', 'addr', 'show', 'dev', 'eth0']);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toContain('172.17.0.2');
    const ping = await netlab(['exec', 'docker', 'web', '--', 'ping', '-c1', '-W2', '172.17.0.3']);
    expect(ping.code, ping.all).toBe(0);
    expect((await netlab(['exec', 'docker', 'db', '--', 'sh', '-c', 'echo $NETLAB_LAB/$NETLAB_HOST; exit 7'])).code).toBe(7);
    expect((await netlab(['exec', 'docker', 'db', '--', 'sh', '-c', 'echo $NETLAB_LAB/$NETLAB_HOST'])).stdout).toBe('docker/db');

    const unknownHost = await netlab(['exec', 'docker', 'wbe', '--', 'true']);
    expect(unknownHost.code).toBe(1);
    expect(unknownHost.stderr).toContain('host "wbe" is not in lab "docker" (did you mean "web"?)');
    expect(unknownHost.stderr).toContain('hosts of lab "docker": db, host, internet, web');
    const unknownLab = await netlab(['exec', 'dokcer', 'web', '--', 'true']);
    expect(unknownLab.code).toBe(1);
    expect(unknownLab.stderr).toMatch(/lab "dokcer" is not applied.*did you mean "docker"/);
    expect(unknownLab.stderr).toContain('labs on this machine: docker');
    const missing = await netlab(['exec', 'docker', 'web', '--', 'no-such-command-here']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('host "web" of lab "docker" (netns docker-web): command not found: no-such-command-here');

    // --file takes the hosts from the lab file.
    const viaFile = await netlab(['exec', '--file', docker, 'docker', 'internet', '--', 'cat', '/sys/class/net/eth0/mtu']);
    expect(viaFile.stdout, viaFile.all).toBe('1500');
  });

  it('shell opens $SHELL in the host with NETLAB_HOST set, and returns its exit code', async () => {
    const r = await execa('node', [NETLAB, 'shell', 'docker', 'internet'], {
      input: 'echo "in $NETLAB_HOST"; ip -br addr show dev eth0; exit 3\n',
      env: { SHELL: '/bin/sh', NO_COLOR: '1' },
      reject: false,
    });
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stdout).toContain('in internet');
    expect(r.stdout).toContain('203.0.113.254/24');
  });

  it('inspect shows hosts, interfaces, addresses, routes and nft rules, and marks drift made by hand', async () => {
    const clean = await netlab(['inspect', 'docker']);
    expect(clean.code, clean.all).toBe(0);
    expect(clean.stdout).toContain('in sync');
    expect(clean.stdout).toMatch(/docker0\s+bridge\s+1500/);
    expect(clean.stdout).toMatch(/203\.0\.113\.1\/24\s+uplink\s+ok/);
    expect(clean.stdout).toMatch(/default\s+172\.17\.0\.1\s+eth0/);
    expect(clean.stdout).toMatch(/nl_prerouting.*dnat ip to 172\.17\.0\.2:80\s+ok/);

    await sh('ip', ['-n', 'docker-web', 'link', 'set', 'dev', 'eth0', 'mtu', '1400']);
    await sh('ip', ['-n', 'docker-db', 'route', 'del', 'default']);
    await sh('ip', ['-n', 'docker-db', 'addr', 'add', '172.17.9.9/16', 'dev', 'eth0']);
    try {
      const drift = await netlab(['inspect', 'docker']);
      expect(drift.code, drift.all).toBe(2);
      expect(drift.stdout).toContain('drifted (3)');
      expect(drift.stdout).toMatch(/eth0\s+veth\s+1400 .*drift \(mtu: 1400 -> 1500\)/);
      expect(drift.stdout).toMatch(/default\s+172\.17\.0\.1\s+eth0\s+0\s+254\s+missing/);
      expect(drift.stdout).toMatch(/172\.17\.9\.9\/16\s+eth0\s+extra/);

      const json = await netlab(['inspect', 'docker', '--json']);
      expect(json.code).toBe(2);
      const doc = JSON.parse(json.stdout) as {
        inSync: boolean;
        counts: Record<string, number>;
        hosts: { name: string; ns: string; interfaces: { name: string; mtu: number; status: string; differences: string[] }[] }[];
      };
      expect(doc.inSync).toBe(false);
      expect(doc.counts).toMatchObject({ drift: 1, missing: 1, extra: 1 });
      const web = doc.hosts.find((h) => h.name === 'web')!;
      expect(web.ns).toBe('docker-web');
      expect(web.interfaces.find((i) => i.name === 'eth0')).toMatchObject({
        mtu: 1400,
        status: 'drift',
        differences: ['mtu: 1400 -> 1500'],
      });
    } finally {
      // Put it back by applying again.
      expect((await netlab(['apply', docker])).code).toBe(0);
    }
    expect((await netlab(['inspect', 'docker'])).code).toBe(0);
  });

  it("netlab test: the docker lab's assertions pass, JUnit XML reads back with a standard parser, TAP is valid", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netlab-junit-'));
    const junit = join(dir, 'out.xml');
    const r = await netlab(['test', docker, '--junit', junit]);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toContain('ok   internet -> 203.0.113.1:8080 reaches [web]  (10 connections to tcp 203.0.113.1:8080: web x10)');
    expect(r.stdout).toContain('7 passed, 0 failed');
    if (hasPython) {
      const root = await parseXmlWithPython(junit);
      expect(root.tag).toBe('testsuites');
      expect(root.attrib).toMatchObject({ tests: '7', failures: '0', errors: '0' });
      const suite = root.children[0]!;
      expect(suite.attrib).toMatchObject({ name: 'docker', tests: '7' });
      expect(suite.children.map((c) => c.attrib.name)).toContain('web -> db:5432 tcp reachable');
    }
    const tap = await netlab(['test', docker, '--tap']);
    expect(tap.stdout.split('\n').slice(0, 3)).toEqual(['TAP version 13', '1..7', 'ok 1 - docker: web -> db reachable']);
    // Every responder netlab started is gone: what is left in web is the lab's own web server.
    const record = JSON.parse(readFileSync('/run/netlab/docker/processes.json', 'utf8')) as { entries: { host: string; pid: number }[] };
    const server = record.entries.filter((e) => e.host === 'web').map((e) => String(e.pid));
    expect(server).toHaveLength(1);
    expect((await sh('ip', ['netns', 'pids', 'docker-web'])).stdout.split('\n')).toEqual(server);
    expect((await sh('ip', ['netns', 'pids', 'docker-db'])).stdout).toBe('');
  });

  it('netlab test: a failing assertion exits 1 and says which assertion, where, and what happened', async () => {
    const lines = [
      'name: exfail',
      'hosts:',
      '  a:',
      '    interfaces:',
      '      eth0: { addresses: [10.61.0.1/24] }',
      '  b:',
      '    interfaces:',
      '      eth0: { addresses: [10.61.0.2/24] }',
      '    firewall:',
      '      default: deny',
      '      rules:',
      '        - { action: allow, proto: tcp, port: 80 }',
      'links:',
      '  - { a: a:eth0, b: b:eth0 }',
      'expect:',
      '  - a -> b:80 tcp reachable',
      '  - a -> b:22 unreachable',
      '  - a -> b unreachable',
      '  - a -> b:22 tcp reachable',
      '  - b -> 10.61.0.1 reachable',
    ];
    const file = labFile('exfail', `${lines.join('\n')}\n`);
    const notApplied = await netlab(['test', file]);
    expect(notApplied.code).toBe(1);
    expect(notApplied.stdout).toContain('lab "exfail" is not applied on this machine');
    expect((await netlab(['apply', file])).code).toBe(0);
    try {
      const dir = mkdtempSync(join(tmpdir(), 'netlab-junit-'));
      const junit = join(dir, 'fail.xml');
      const r = await netlab(['test', file, '--junit', junit]);
      expect(r.code, r.all).toBe(1);
      expect(r.stdout).toContain(`FAIL ${file}:19:5: a -> b:22 tcp reachable`);
      expect(r.stdout).toContain('expected an answer from tcp 10.61.0.2:22 (b), got no answer (timed out) (ETIMEDOUT)');
      expect(r.stdout).toContain('ok   a -> b:80 tcp reachable  (b answered tcp 10.61.0.2:80 (b))');
      expect(r.stdout).toContain('4 passed, 1 failed');
      if (hasPython) {
        const root = await parseXmlWithPython(junit);
        expect(root.attrib).toMatchObject({ tests: '5', failures: '1', errors: '0' });
        const failed = root.children[0]!.children.filter((c) => c.children.some((x) => x.tag === 'failure'));
        expect(failed.map((c) => [c.attrib.name, c.attrib.line])).toEqual([['a -> b:22 tcp reachable', '19']]);
        expect(failed[0]!.children[0]!.attrib.message).toContain('got no answer');
      }
      const tap = await netlab(['test', file, '--tap']);
      expect(tap.code).toBe(1);
      expect(tap.stdout).toContain('not ok 4 - exfail: a -> b:22 tcp reachable\n  ---\n  message: "expected an answer');
      expect(tap.stdout).toContain(`    line: 19\n    column: 5\n`);
      expect((await sh('ip', ['netns', 'pids', 'exfail-b'])).stdout).toBe('');
    } finally {
      expect((await netlab(['destroy', file])).code).toBe(0);
    }
  });
});

describe.skipIf(sandboxSkipReason !== null)('several labs applied together', () => {
  it('one failing lab rolls back alone: the other is applied, the failed one leaves nothing', async () => {
    // pairbad attaches to a namespace the test owns, where the test put a route pairbad also wants.
    await sh('ip', ['netns', 'add', 'pair-ext']);
    try {
      await sh('ip', ['-n', 'pair-ext', 'link', 'set', 'lo', 'up']);
      await sh('ip', ['-n', 'pair-ext', 'route', 'add', 'blackhole', '10.98.0.0/24']);
      const dir = mkdtempSync(join(tmpdir(), 'netlab-pair-'));
      writeFileSync(join(dir, 'pairok.yaml'), starLab('pairok', 3));
      writeFileSync(
        join(dir, 'pairbad.yaml'),
        [
          'name: pairbad',
          'hosts:',
          '  a:',
          '    interfaces:',
          '      eth0: { addresses: [10.21.0.1/24] }',
          '  b:',
          '    netns: { name: pair-ext }',
          '    interfaces:',
          '      eth0: { addresses: [10.21.0.2/24] }',
          '    routes:',
          '      - { to: 10.98.0.0/24, via: 10.21.0.1 }',
          'links:',
          '  - { a: a:eth0, b: b:eth0 }',
          '',
        ].join('\n'),
      );
      const linksBefore = (await sh('ip', ['-n', 'pair-ext', '-j', 'link', 'show'])).stdout;
      const r = await netlab(['apply', dir]);
      expect(r.code, r.all).toBe(1);
      expect(r.stdout).toContain('summary: pairok applied; pairbad failed');
      expect(r.stderr).toMatch(/pairbad.*rolled back/);
      // pairok is there and verified.
      expect((await netnsList()).filter((n) => n.startsWith('pairok-'))).toEqual(['pairok-h1', 'pairok-h2', 'pairok-h3', 'pairok-hub']);
      await inNs('pairok-h1', 'ping', ['-c', '1', '-W', '2', '10.10.0.1']);
      expect((await netlab(['status', '--lab', 'pairok'])).code).toBe(0);
      // pairbad left nothing: no namespace, the attached one as it was, no record, no journal.
      expect((await netnsList()).filter((n) => n.startsWith('pairbad-'))).toEqual([]);
      expect((await sh('ip', ['-n', 'pair-ext', '-j', 'link', 'show'])).stdout).toBe(linksBefore);
      expect((await sh('ip', ['-n', 'pair-ext', 'route', 'show'])).stdout).toContain('blackhole 10.98.0.0/24');
      expect(existsSync('/run/netlab/pairbad/state.json')).toBe(false);
      expect(existsSync('/run/netlab/pairbad/journal.json')).toBe(false);
      expect((await netlab(['destroy', '--lab', 'pairok'])).code).toBe(0);
    } finally {
      await sh('ip', ['netns', 'del', 'pair-ext']);
    }
  });

  it('a conflict between labs is found before anything changes', async () => {
    // Lab "cx" host "a-b" and lab "cx-a" host "b" would both own the namespace cx-a-b.
    const dir = mkdtempSync(join(tmpdir(), 'netlab-cx-'));
    writeFileSync(join(dir, 'one.yaml'), starLab('cx', 1).replace(/\bhub\b/g, 'a-b'));
    writeFileSync(join(dir, 'two.yaml'), starLab('cx-a', 1).replace(/\bh1\b/g, 'b'));
    const r = await netlab(['apply', dir]);
    expect(r.code, r.all).toBe(1);
    expect(r.stderr).toContain('cx-a-b');
    expect(r.stderr).toContain('nothing was changed');
    expect((await netnsList()).filter((n) => n.startsWith('cx-'))).toEqual([]);
    expect(existsSync('/run/netlab/cx')).toBe(false);
  });
});
