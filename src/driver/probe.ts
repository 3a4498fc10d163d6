// Kernel and tool probes for preflight (src/apply/preflight.ts): each feature is tried for real
// in a throwaway namespace `netlab-probe-<pid>` that is always deleted afterwards, so the answer
// is the kernel's own (`Error: Unknown device type.`), modules load on demand where the kernel
// can, and nothing of any lab is touched. Results are cached for the life of the process.
import { createHash } from 'node:crypto';
import { access, readFile, readdir, stat } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { lazyExeca } from './exec.js';
import { readStateFile, stateRoot, writeStateFile } from '../state/files.js';
import { sysctlPath } from '../model/sysctl.js';
import type { ProbeRequest, ProbeResult } from './driver.js';
import { appendAll } from '../append.js';

/** Every feature preflight can ask for, with the command that proves it (run in the probe namespace). */
export const PROBES = {
  veth: { show: 'ip link add type veth', argv: ['link', 'add', 'name', 'pv0', 'type', 'veth', 'peer', 'name', 'pv1'] },
  bridge: { show: 'ip link add type bridge', argv: ['link', 'add', 'name', 'pb0', 'type', 'bridge'] },
  'bridge-vlan-filtering': {
    show: 'ip link add type bridge vlan_filtering 1',
    argv: ['link', 'add', 'name', 'pb1', 'type', 'bridge', 'vlan_filtering', '1'],
  },
  vlan: {
    show: 'ip link add type vlan',
    argv: ['link', 'add', 'link', 'pv0', 'name', 'pq0', 'type', 'vlan', 'protocol', '802.1Q', 'id', '10'],
  },
  'vlan-802.1ad': {
    show: 'ip link add type vlan protocol 802.1ad',
    argv: ['link', 'add', 'link', 'pv0', 'name', 'pq1', 'type', 'vlan', 'protocol', '802.1ad', 'id', '20'],
  },
  macvlan: { show: 'ip link add type macvlan', argv: ['link', 'add', 'link', 'pv0', 'name', 'pm0', 'type', 'macvlan', 'mode', 'bridge'] },
  macvtap: { show: 'ip link add type macvtap', argv: ['link', 'add', 'link', 'pv0', 'name', 'pt0', 'type', 'macvtap', 'mode', 'bridge'] },
  // IPVLAN cannot share a parent with MACVLAN, and its mode is per parent: one veth end each.
  ipvlan: { show: 'ip link add type ipvlan', argv: ['link', 'add', 'link', 'pv1', 'name', 'pi0', 'type', 'ipvlan', 'mode', 'l2'] },
  'ipvlan-l3s': {
    show: 'ip link add type ipvlan mode l3s',
    argv: ['link', 'add', 'link', 'pv3', 'name', 'pi1', 'type', 'ipvlan', 'mode', 'l3s'],
  },
  tap: { show: 'ip tuntap add mode tap', argv: ['tuntap', 'add', 'dev', 'pp0', 'mode', 'tap'] },
  vxlan: { show: 'ip link add type vxlan', argv: ['link', 'add', 'name', 'px0', 'type', 'vxlan', 'id', '1', 'dstport', '4789'] },
  altname: { show: 'ip link property add altname', argv: ['link', 'property', 'add', 'dev', 'pv0', 'altname', 'netlab.probe.altname'] },
  netem: { show: 'tc qdisc add netem', argv: [] },
  tbf: { show: 'tc qdisc add tbf', argv: [] },
} as const;

export type Feature = keyof typeof PROBES | 'iproute2' | 'bridge-tool' | 'netns';

/** Qdisc probes, run with `tc` (one root qdisc per device, so each on its own veth end). */
const TC_PROBES: Record<string, string[]> = {
  netem: ['qdisc', 'add', 'dev', 'pv0', 'root', 'netem', 'delay', '1ms'],
  tbf: ['qdisc', 'add', 'dev', 'pv2', 'root', 'tbf', 'rate', '1mbit', 'burst', '32kbit', 'latency', '400ms'],
};

/** Probes that need the veth pair pv0/pv1 (and pv2/pv3) as parents. */
const NEEDS_VETH = new Set<string>(['vlan', 'vlan-802.1ad', 'macvlan', 'macvtap', 'ipvlan', 'ipvlan-l3s', 'altname', 'netem', 'tbf']);

const cache = new Map<string, ProbeResult>();
let queue: Promise<unknown> = Promise.resolve();

// Checks that passed are also remembered for the rest of the boot (in the state directory, keyed
// by boot id and kernel release), so each netlab command does not probe again; failures are always
// probed afresh, so a module loaded after a failed preflight is seen at once.
const BOOT_CACHE = 'preflight.json';
let bootLoaded = false;

async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
}

async function loadBootCache(): Promise<void> {
  if (bootLoaded) return;
  bootLoaded = true;
  try {
    const root = await stateRoot(false);
    const text = root ? await readStateFile(join(root, BOOT_CACHE)) : null;
    if (!text) return;
    const c = JSON.parse(text) as { boot: string; kernel: string; ok: string[] };
    if (c.boot !== (await bootId()) || c.kernel !== release() || !c.boot) return;
    for (const check of c.ok)
      if (!cache.has(check)) cache.set(check, { check, ok: true, command: '(passed earlier this boot)', message: '' });
  } catch {
    // no cache yet, unreadable, or a state directory that cannot be trusted: probe
  }
}

async function saveBootCache(): Promise<void> {
  const ok = [...cache.values()].filter((r) => r.ok).map((r) => r.check);
  try {
    const root = await stateRoot(true);
    const text = JSON.stringify({ boot: await bootId(), kernel: release(), ok: [...new Set(ok)].sort() });
    if (root) await writeStateFile(join(root, BOOT_CACHE), text);
  } catch {
    // a read-only state directory only costs the next command a probe
  }
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? ''
  );
}

async function run(cmd: string, args: readonly string[], input?: string): Promise<{ ok: boolean; message: string }> {
  const execa = await lazyExeca();
  const r = await execa(cmd, [...args], { reject: false, input: input ?? '' });
  if (r.exitCode === 0 && !r.failed) return { ok: true, message: '' };
  const notFound = r.code === 'ENOENT' || /ENOENT/.test(String(r.shortMessage ?? ''));
  const message = notFound
    ? `"${cmd}" not found`
    : firstLine(String(r.stderr ?? '')) || firstLine(String(r.stdout ?? '')) || String(r.shortMessage ?? `exit ${r.exitCode}`);
  return { ok: false, message };
}

/** Removes probe namespaces of netlab processes that died mid-probe. */
async function removeStale(): Promise<void> {
  const execa = await lazyExeca();
  let names: string[];
  try {
    names = await readdir('/run/netns');
  } catch {
    return;
  }
  for (const n of names) {
    const pid = /^netlab-probe-(\d+)$/.exec(n)?.[1];
    if (!pid || Number(pid) === process.pid) continue;
    const alive = await access(`/proc/${pid}`).then(
      () => true,
      () => false,
    );
    if (!alive) await execa('ip', ['netns', 'del', n], { reject: false });
  }
}

async function checkTarget(t: ProbeRequest['targets'][number]): Promise<ProbeResult> {
  const execa = await lazyExeca();
  const check = `target:${t.kind}:${t.value}`;
  const path = t.kind === 'name' ? `/run/netns/${t.value}` : t.kind === 'pid' ? `/proc/${t.value}/ns/net` : t.value;
  const command = `stat ${path}`;
  try {
    const s = await stat(path);
    // Namespace files are on nsfs; a plain file at a named path is an unmounted leftover.
    if (t.kind !== 'pid' && s.size !== 0) return { check, ok: false, command, message: `${path} is not a network namespace` };
    // `netns: { pid: 1 }` and the like reach the machine's own namespace as surely as `netns: root`.
    const own = await stat('/proc/self/ns/net').catch(() => null);
    if (t.notOwn && own && own.ino === s.ino && own.dev === s.dev)
      return { check, ok: false, command, message: `${path} is the namespace netlab runs in (the machine's own)`, own: true };
    if (t.kind === 'name') {
      const mounted = await execa('mountpoint', ['-q', path], { reject: false });
      if (mounted.exitCode === 1) return { check, ok: false, command, message: `${path} exists but no namespace is mounted there` };
    }
    return { check, ok: true, command, message: '' };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const message =
      t.kind === 'pid' && code === 'ENOENT' ? `no process ${t.value}` : `${path}: ${code === 'ENOENT' ? 'does not exist' : String(code)}`;
    return { check, ok: false, command, message };
  }
}

/** Splits `ip -force -batch` stderr into the message of each failed line (1-based). */
export function batchErrors(stderr: string): Map<number, string> {
  const out = new Map<number, string>();
  let buffer: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)/.exec(line.trim());
    if (m) {
      out.set(Number(m[1]), buffer.find((l) => l !== '') ?? 'failed');
      buffer = [];
    } else buffer.push(line.trim());
  }
  return out;
}

async function probeUncached(todo: { features: string[]; sysctls: string[]; nft: string[] }): Promise<ProbeResult[]> {
  const execa = await lazyExeca();
  const out: ProbeResult[] = [];
  const ip = await run('ip', ['-V']);
  out.push({ check: 'iproute2', ok: ip.ok, command: 'ip -V', message: ip.message });
  if (todo.features.includes('bridge-tool')) {
    const b = await run('bridge', ['-V']);
    out.push({ check: 'bridge-tool', ok: b.ok, command: 'bridge -V', message: b.message });
  }
  const kernelChecks = todo.features.filter((f) => f in PROBES);
  const notProbed = (why: string) => {
    for (const f of kernelChecks) out.push({ check: f, ok: false, command: '', message: `not probed: ${why}` });
    for (const k of todo.sysctls) out.push({ check: `sysctl:${k}`, ok: false, command: '', message: `not probed: ${why}` });
    todo.nft.forEach((_, i) => out.push({ check: `nft:${i}`, ok: false, command: '', message: `not probed: ${why}` }));
  };
  if (!ip.ok) {
    notProbed('iproute2 is missing');
    return out;
  }
  if (!kernelChecks.length && !todo.sysctls.length && !todo.nft.length && !todo.features.includes('netns')) return out;

  await removeStale();
  const ns = `netlab-probe-${process.pid}`;
  await execa('ip', ['netns', 'del', ns], { reject: false });
  const add = await run('ip', ['netns', 'add', ns]);
  out.push({ check: 'netns', ok: add.ok, command: 'ip netns add', message: add.message });
  if (!add.ok) {
    notProbed(add.message);
    return out;
  }
  try {
    // Every device probe in one `ip -force -batch`: one process, each line answered on its own.
    const ipChecks = kernelChecks.filter((f) => !(f in TC_PROBES));
    const needsVeth = kernelChecks.some((f) => f === 'veth' || NEEDS_VETH.has(f));
    const lines: { check: string | null; line: string }[] = [];
    if (needsVeth) {
      lines.push({ check: 'veth', line: PROBES.veth.argv.join(' ') });
      lines.push({ check: null, line: 'link add name pv2 type veth peer name pv3' });
    }
    for (const f of ipChecks) if (f !== 'veth') lines.push({ check: f, line: PROBES[f as keyof typeof PROBES].argv.join(' ') });
    let errors = new Map<number, string>();
    if (lines.length) {
      const r = await execa('ip', ['-n', ns, '-force', '-batch', '-'], {
        reject: false,
        input: lines.map((l) => l.line).join('\n') + '\n',
      });
      errors = batchErrors(String(r.stderr ?? ''));
      if (r.exitCode !== 0 && !errors.size) errors.set(1, firstLine(String(r.stderr ?? '')) || `exit ${r.exitCode}`);
    }
    const vethError = needsVeth ? errors.get(1) : undefined;
    lines.forEach((l, i) => {
      if (!l.check || (l.check === 'veth' && !kernelChecks.includes('veth'))) return;
      const p = PROBES[l.check as keyof typeof PROBES];
      if (l.check !== 'veth' && NEEDS_VETH.has(l.check) && vethError !== undefined)
        out.push({ check: l.check, ok: false, command: p.show, message: `not probed: veth failed (${vethError})` });
      else out.push({ check: l.check, ok: !errors.has(i + 1), command: p.show, message: errors.get(i + 1) ?? '' });
    });
    for (const [f, args] of Object.entries(TC_PROBES)) {
      if (!kernelChecks.includes(f)) continue;
      const r =
        vethError === undefined ? await run('tc', ['-n', ns, ...args]) : { ok: false, message: `not probed: veth failed (${vethError})` };
      out.push({ check: f, ok: r.ok, command: PROBES[f as keyof typeof PROBES].show, message: r.message });
    }

    if (todo.sysctls.length) {
      // One process lists the keys this kernel does not have in a new namespace.
      const paths = todo.sysctls.map((k) => sysctlPath(k));
      const r = await execa('ip', ['netns', 'exec', ns, 'sh', '-c', 'for p; do [ -e "$p" ] || echo "$p"; done', 'sh', ...paths], {
        reject: false,
      });
      const missing = new Set(
        String(r.stdout ?? '')
          .split('\n')
          .filter(Boolean),
      );
      todo.sysctls.forEach((k, i) => {
        const absent = r.exitCode !== 0 || missing.has(paths[i]!);
        out.push({
          check: `sysctl:${k}`,
          ok: !absent,
          command: `test -e ${paths[i]}`,
          message: absent ? (r.exitCode !== 0 ? firstLine(String(r.stderr ?? '')) : `${paths[i]} does not exist in a new namespace`) : '',
        });
      });
    }
    for (const [i, script] of todo.nft.entries()) {
      const r = await run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], script);
      const message = /exec of "nft" failed/.test(r.message) ? '"nft" not found' : r.message;
      out.push({ check: `nft:${i}`, ok: r.ok, command: "nft -f (the lab's table)", message });
    }
  } finally {
    await execa('ip', ['netns', 'del', ns], { reject: false });
  }
  return out;
}

/**
 * Runs the checks a request names that this process has not run yet (one at a time across
 * concurrent callers, so they share the probe namespace's name and the cache).
 */
export function probeKernel(req: ProbeRequest): Promise<ProbeResult[]> {
  const next = queue.then(async () => {
    await loadBootCache();
    const nftKey = (s: string) => `nft#${createHash('sha256').update(s).digest('hex').slice(0, 16)}`;
    const todo = {
      features: [...new Set(req.features)].filter((f) => !cache.has(f)),
      sysctls: [...new Set(req.sysctls)].filter((k) => !cache.has(`sysctl:${k}`)),
      nft: [...new Set(req.nft)].filter((s) => !cache.has(nftKey(s))),
    };
    if (todo.features.length || todo.sysctls.length || todo.nft.length) {
      for (const r of await probeUncached(todo)) {
        const m = /^nft:(\d+)$/.exec(r.check);
        if (m) cache.set(nftKey(todo.nft[Number(m[1])]!), { ...r, check: nftKey(todo.nft[Number(m[1])]!) });
        else cache.set(r.check, r);
      }
      await saveBootCache();
    }
    const results: ProbeResult[] = [];
    for (const f of new Set(req.features)) {
      const r = cache.get(f);
      if (r) results.push(r);
    }
    for (const k of new Set(req.sysctls)) {
      const r = cache.get(`sysctl:${k}`);
      if (r) results.push(r);
    }
    req.nft.forEach((s, i) => {
      const r = cache.get(nftKey(s));
      if (r) results.push({ ...r, check: `nft:${i}` });
    });
    appendAll(results, await Promise.all(req.targets.map(checkTarget)));
    return results;
  });
  queue = next.catch(() => undefined);
  return next;
}
