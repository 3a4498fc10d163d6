// Preflight: before planning, check that the kernel and the tools can do what a lab needs (device
// kinds, bridge VLAN filtering, nft for policy, sysctl keys, attach targets, iproute2) and report
// everything missing at once, with how to get it, instead of failing half-way through an apply.
// The driver does the probing (src/driver/probe.ts, in a throwaway namespace); drivers without
// `probe` (the fake one) skip preflight.
import type { Driver, ProbeRequest, ProbeResult } from '../driver/driver.js';
import { PreflightError } from '../errors.js';
import { desiredNft } from '../model/nft.js';
import { NETEM_KEYS } from '../model/qdisc.js';
import { replaceTableScript } from '../model/policy.js';
import { desiredSysctls } from '../model/sysctl.js';
import type { Lab } from '../lab/types.js';

interface FeatureInfo {
  label: string;
  fix: string;
}

const ON_STOCK = "or run on a kernel that has it (Debian's stock kernel does; the vm tier boots one)";

/** What each feature is called in messages and how to get it. */
export const FEATURES: Record<string, FeatureInfo> = {
  iproute2: { label: 'iproute2', fix: 'install iproute2 (apt-get install iproute2)' },
  'bridge-tool': { label: 'iproute2 bridge', fix: 'install iproute2, which has the bridge command (apt-get install iproute2)' },
  netns: { label: 'network namespaces', fix: 'run netlab as root (it needs CAP_SYS_ADMIN and CAP_NET_ADMIN)' },
  veth: { label: 'veth', fix: `modprobe veth (CONFIG_VETH), ${ON_STOCK}` },
  bridge: { label: 'bridge', fix: `modprobe bridge (CONFIG_BRIDGE), ${ON_STOCK}` },
  'bridge-vlan-filtering': {
    label: 'bridge vlan_filtering',
    fix: `use a kernel built with CONFIG_BRIDGE_VLAN_FILTERING (${"Debian's stock kernel has it; the vm tier boots one"}), or drop vlan_filtering and use one bridge per VLAN with vlan sub-interfaces`,
  },
  vlan: { label: 'vlan (802.1Q)', fix: `modprobe 8021q (CONFIG_VLAN_8021Q), ${ON_STOCK}` },
  'vlan-802.1ad': { label: 'vlan (802.1ad)', fix: `modprobe 8021q (CONFIG_VLAN_8021Q, Linux >= 3.10 for 802.1ad), ${ON_STOCK}` },
  macvlan: { label: 'macvlan', fix: `modprobe macvlan (CONFIG_MACVLAN), ${ON_STOCK}` },
  macvtap: { label: 'macvtap', fix: `modprobe macvtap (CONFIG_MACVTAP), ${ON_STOCK}` },
  ipvlan: {
    label: 'ipvlan',
    fix: `modprobe ipvlan (CONFIG_IPVLAN), ${ON_STOCK}; or use macvlan where one MAC per interface is acceptable`,
  },
  'ipvlan-l3s': { label: 'ipvlan mode l3s', fix: 'use a kernel with CONFIG_IPVLAN_L3S (it needs netfilter), or mode l3' },
  tap: { label: 'tap', fix: `modprobe tun (CONFIG_TUN) and check that /dev/net/tun exists, ${ON_STOCK}` },
  vxlan: { label: 'vxlan', fix: `modprobe vxlan (CONFIG_VXLAN), ${ON_STOCK}` },
  altname: {
    label: 'interface altnames',
    fix: "use Linux >= 5.5 and iproute2 >= 5.4: altnames are netlab's ownership mark in shared namespaces",
  },
  netem: {
    label: 'netem',
    fix: `modprobe sch_netem (CONFIG_NET_SCH_NETEM) and install tc (iproute2), ${ON_STOCK}; conditions without netem (rate, burst, limit) need only tbf`,
  },
  tbf: { label: 'tbf (rate limits)', fix: `modprobe sch_tbf (CONFIG_NET_SCH_TBF) and install tc (iproute2), ${ON_STOCK}` },
};

/** Everything a lab needs from the kernel and tools, and who needs it (for the message). */
export interface LabNeeds {
  request: ProbeRequest;
  /** check id -> users, e.g. `ipvlan` -> [`a:eth0`, `b:eth0`]. */
  users: Map<string, string[]>;
}

/** Keys like net.ipv4.conf.eth0.rp_filter exist only once the interface does. */
function perInterface(key: string): boolean {
  const m = /^net\.ipv[46]\.(conf|neigh)\.([^.]+)\./.exec(key);
  return m !== null && m[2] !== 'all' && m[2] !== 'default';
}

export function labNeeds(lab: Lab): LabNeeds {
  // Sets while collecting: a 500-host lab names a thousand veth ends under one check.
  const sets = new Map<string, Set<string>>();
  const need = (check: string, who: string) => {
    const set = sets.get(check);
    if (set) set.add(who);
    else sets.set(check, new Set([who]));
  };
  need('iproute2', `lab ${lab.name}`);
  for (const h of lab.hosts) {
    if (h.netns.kind === 'lab' || h.netns.kind === 'pid' || h.netns.kind === 'path') need('netns', `host ${h.name}`);
    if (h.netns.kind !== 'lab' && h.interfaces.length) need('altname', `host ${h.name}`);
    for (const i of h.interfaces) {
      const who = `${h.name}:${i.name}`;
      switch (i.kind) {
        case 'bridge':
          need('bridge', who);
          if (i.vlanFiltering) need('bridge-vlan-filtering', who);
          break;
        case 'vlan':
          need(i.protocol === '802.1ad' ? 'vlan-802.1ad' : 'vlan', who);
          break;
        case 'ipvlan':
          need(i.mode === 'l3s' ? 'ipvlan-l3s' : 'ipvlan', who);
          break;
        case 'vxlan':
          need('vxlan', who);
          if (i.remotes.length) need('bridge-tool', who);
          break;
        default:
          need(i.kind, who);
      }
      if (i.vlans) need('bridge-tool', who);
      if (i.conditions) {
        const netem = NETEM_KEYS.filter((k) => i.conditions![k] !== null);
        if (netem.length) need('netem', `${who} (${netem.join(', ')})`);
        if (i.conditions.rate !== null) need('tbf', `${who} (rate)`);
      }
    }
  }
  const created = new Map(lab.hosts.filter((h) => h.netns.kind === 'lab').map((h) => [h.ns, h.name]));
  const sysctls = new Set<string>();
  for (const s of desiredSysctls(lab)) {
    const host = created.get(s.ns);
    if (host === undefined || perInterface(s.key)) continue;
    sysctls.add(s.key);
    need(`sysctl:${s.key}`, `host ${host}`);
  }
  const hostOfNs = new Map(lab.hosts.map((h) => [h.ns, h.name]));
  const nft: string[] = [];
  for (const t of desiredNft(lab)) {
    const script = replaceTableScript(t);
    let i = nft.indexOf(script);
    if (i < 0) i = nft.push(script) - 1;
    need(`nft:${i}`, `host ${hostOfNs.get(t.ns) ?? t.ns} (nat/firewall)`);
  }
  const targets: ProbeRequest['targets'] = [];
  for (const h of lab.hosts) {
    const n = h.netns;
    const t =
      n.kind === 'named'
        ? { kind: 'name' as const, value: n.name }
        : n.kind === 'path'
          ? { kind: 'path' as const, value: n.path }
          : n.kind === 'pid'
            ? { kind: 'pid' as const, value: String(n.pid) }
            : null;
    if (!t) continue;
    targets.push(lab.allowRoot ? t : { ...t, notOwn: true });
    need(`target:${t.kind}:${t.value}`, `host ${h.name}`);
  }
  const users = new Map([...sets].map(([check, who]) => [check, [...who]]));
  const features = [...users.keys()].filter((k) => !k.includes(':'));
  return { request: { features, sysctls: [...sysctls], nft, targets }, users };
}

/** One line per missing thing, root causes only (a feature that could not be probed is not repeated). */
export function missingOf(needs: LabNeeds, results: ProbeResult[]): PreflightError['missing'] {
  const failed = results.filter((r) => !r.ok);
  const toolsMissing = failed.some((r) => r.check === 'iproute2' || r.check === 'netns');
  const out: PreflightError['missing'] = [];
  for (const r of failed) {
    if (toolsMissing && r.check !== 'iproute2' && r.check !== 'netns' && !r.check.startsWith('target:')) continue;
    if (r.message.startsWith('not probed:')) continue;
    const who = needs.users.get(r.check) ?? [];
    const by = who.length ? `; needed by ${who.join(', ')}` : '';
    const info = FEATURES[r.check];
    if (r.check === 'iproute2' || r.check === 'bridge-tool') {
      out.push({ feature: info!.label, detail: `${r.message} (${r.command})${by}`, fix: info!.fix });
    } else if (info) {
      const what = r.check === 'netns' ? 'cannot be created' : 'not supported by this kernel';
      out.push({ feature: info.label, detail: `${what} (${r.command}: ${r.message})${by}`, fix: info.fix });
    } else if (r.check.startsWith('sysctl:')) {
      const key = r.check.slice('sysctl:'.length);
      const fix = key.startsWith('net.bridge.')
        ? 'modprobe br_netfilter (the net.bridge.* keys appear when it is loaded)'
        : key.startsWith('net.ipv6.')
          ? 'enable IPv6 in the kernel (no ipv6.disable=1 on its command line)'
          : 'check the key name, or load the module that provides it';
      out.push({ feature: `sysctl ${key}`, detail: `not available in a new namespace (${r.message})${by}`, fix });
    } else if (r.check.startsWith('nft:')) {
      const notFound = /not found/.test(r.message);
      out.push({
        feature: 'nftables',
        detail: notFound
          ? `"nft" is not installed${by}`
          : `the lab's table does not load in a new namespace (${r.command}: ${r.message})${by}`,
        fix: notFound
          ? 'install nftables (apt-get install nftables)'
          : 'modprobe nf_tables and the nft_* modules the rules use (nft_nat, nft_ct, nft_numgen, ...), or a kernel with CONFIG_NF_TABLES',
      });
    } else if (r.check.startsWith('target:')) {
      const [, kind, value] = /^target:([a-z]+):(.*)$/.exec(r.check) ?? [];
      const fix = r.own
        ? "to build in the machine's own namespace say so: `root: true` at the top of the lab and `netns: root` on the host; else attach another namespace"
        : kind === 'name'
          ? `create it first (ip netns add ${value}) or fix the name`
          : kind === 'pid'
            ? 'start the process first, or fix the pid'
            : 'fix the path: it must be a network namespace file such as /proc/PID/ns/net or /run/netns/NAME';
      out.push({ feature: `netns { ${kind}: ${value} }`, detail: `${r.message}${by}`, fix });
    } else {
      out.push({ feature: r.check, detail: `${r.message} (${r.command})${by}`, fix: 'see the message' });
    }
  }
  return out;
}

/** Throws PreflightError naming everything the lab needs that this machine lacks; nothing is changed. */
export async function preflight(driver: Driver, lab: Lab): Promise<void> {
  if (!driver.probe) return;
  const needs = labNeeds(lab);
  const missing = missingOf(needs, await driver.probe(needs.request));
  if (!missing.length) return;
  const err = new PreflightError(missing);
  err.hints.push(`lab "${lab.name}" was not applied: nothing was changed (preflight runs before every plan and apply)`);
  throw err;
}
