// `netlab inspect LAB`: what a lab is on the kernel now, host by host (interfaces, addresses,
// routes, sysctls, nft rules), each row marked against the desired state of the last apply:
// ok, drift (live -> desired), missing (desired, not live) or extra (live, not desired).
import pc from 'picocolors';
import type { LabRecord } from '../apply/store.js';
import { RealDriver } from '../driver/real.js';
import { EXIT_OK, EXIT_PENDING } from '../errors.js';
import { differingFields, sameObject, stateOf, type NftObj, type Obj, type State } from '../model/objects.js';
import { parseOwnerAltname } from '../lab/names.js';
import { coordinates } from './across-detect.js';
import { labHosts, type HostNs } from './labinfo.js';
import { out, stripColour } from './output.js';
import { appendAll } from '../append.js';

export type RowStatus = 'ok' | 'drift' | 'missing' | 'extra';

export interface InspectRow {
  status: RowStatus;
  /** For drift: `field: live -> desired`. */
  differences: string[];
}

export interface InterfaceRow extends InspectRow {
  name: string;
  ifname: string;
  type: string;
  mtu: number;
  mac: string;
  up: boolean;
  master: string | null;
}
export interface AddressRow extends InspectRow {
  interface: string;
  address: string;
}
export interface RouteRow extends InspectRow {
  to: string;
  via: string | null;
  dev: string | null;
  metric: number;
  table: number;
}
export interface SysctlRow extends InspectRow {
  key: string;
  value: string;
}
export interface NftRow extends InspectRow {
  table: string;
  chain: string;
  rule: string;
}

export interface HostReport {
  name: string;
  ns: string;
  interfaces: InterfaceRow[];
  addresses: AddressRow[];
  routes: RouteRow[];
  sysctls: SysctlRow[];
  nft: NftRow[];
}

export interface InspectReport {
  lab: string;
  file: string | null;
  appliedAt: string;
  inSync: boolean;
  counts: Record<RowStatus, number>;
  hosts: HostReport[];
}

interface Pair {
  live: Obj | undefined;
  desired: Obj | undefined;
}

function statusOf(p: Pair): InspectRow {
  if (p.live && p.desired) {
    return sameObject(p.live, p.desired)
      ? { status: 'ok', differences: [] }
      : { status: 'drift', differences: differingFields(p.live, p.desired) };
  }
  return { status: p.live ? 'extra' : 'missing', differences: [] };
}

/** The rules of an nft listing (live) or rendered body (desired): chain, text without the comment, id `chain/digest`. */
export function nftRules(body: string): { chain: string; rule: string; id: string }[] {
  const out: { chain: string; rule: string; id: string }[] = [];
  let chain: string | null = null;
  for (const raw of body.split('\n')) {
    const line = raw.replace(/\s+# handle \d+\s*$/, '').trim();
    const c = /^chain (\S+) \{$/.exec(line);
    if (c) chain = c[1]!.replace(/^"(.*)"$/, '$1');
    else if (line === '}') chain = null;
    else if (chain && line && !/^type \S+ hook /.test(line)) {
      const m = /\s*comment "nl:([0-9a-f]+)"$/.exec(line);
      out.push({ chain, rule: m ? line.slice(0, m.index) : line, id: m ? `${chain}/${m[1]}` : `${chain}/?${line}` });
    }
  }
  return out;
}

function nftRows(p: Pair): NftRow[] {
  const live = p.live as NftObj | undefined;
  const desired = p.desired as NftObj | undefined;
  const table = `${(live ?? desired)!.family} ${(live ?? desired)!.table}`;
  const want = new Set(desired?.rules ?? []);
  const rows: NftRow[] = [];
  const liveRules = live ? nftRules(live.body) : [];
  const have = new Set(liveRules.map((r) => r.id));
  for (const r of liveRules)
    rows.push({ table, chain: r.chain, rule: r.rule, status: !desired ? 'extra' : want.has(r.id) ? 'ok' : 'extra', differences: [] });
  if (desired)
    for (const r of nftRules(desired.body))
      if (!have.has(r.id)) rows.push({ table, chain: r.chain, rule: r.rule, status: 'missing', differences: [] });
  return rows;
}

/** Compares the live state with the record's desired state, host by host. */
export function inspectLab(record: LabRecord, hosts: HostNs[], liveState: State): InspectReport {
  const desired = stateOf(record.desired);
  // Like status: sysctls are the lab's only where it sets them.
  const live = new Map([...liveState].filter(([, o]) => o.kind !== 'sysctl' || desired.has(o.id)));
  const ids = [...new Set([...desired.keys(), ...live.keys()])].sort();
  const byNs = new Map<string, HostReport>();
  const hostOf = (ns: string): HostReport => {
    let h = byNs.get(ns);
    if (!h) {
      const name = hosts.find((x) => x.ns === ns)?.name ?? `(${ns || 'root'})`;
      h = { name, ns, interfaces: [], addresses: [], routes: [], sysctls: [], nft: [] };
      byNs.set(ns, h);
    }
    return h;
  };
  for (const h of hosts) hostOf(h.ns);
  // Interface names as written: the altname's last part in shared namespaces, else the kernel name.
  const names = new Map<string, string>();
  for (const o of [...desired.values(), ...live.values()])
    if (o.kind === 'link') names.set(`${o.ns}/${o.ifname}`, (o.altname && parseOwnerAltname(o.altname)?.name) || o.ifname);
  const nameOf = (ns: string, ifname: string | null) => (ifname === null ? null : (names.get(`${ns}/${ifname}`) ?? ifname));
  const counts: Record<RowStatus, number> = { ok: 0, drift: 0, missing: 0, extra: 0 };
  for (const id of ids) {
    const p: Pair = { live: live.get(id), desired: desired.get(id) };
    const o = (p.live ?? p.desired)!;
    if (o.kind === 'netns' || o.kind === 'fdb' || o.kind === 'portvlan') {
      counts[statusOf(p).status]++;
      continue;
    }
    const h = hostOf(o.ns);
    if (o.kind === 'nft') {
      const rows = nftRows(p);
      appendAll(h.nft, rows);
      for (const r of rows) counts[r.status]++;
      continue;
    }
    const s = statusOf(p);
    counts[s.status]++;
    if (o.kind === 'link') {
      if (o.type === 'loopback' && s.status === 'ok') continue;
      h.interfaces.push({
        name: nameOf(o.ns, o.ifname)!,
        ifname: o.ifname,
        type: o.type,
        mtu: o.mtu,
        mac: o.mac,
        up: o.up,
        master: nameOf(o.ns, o.master),
        ...s,
      });
    } else if (o.kind === 'addr') h.addresses.push({ interface: nameOf(o.ns, o.dev)!, address: o.cidr, ...s });
    else if (o.kind === 'route') h.routes.push({ to: o.dst, via: o.via, dev: nameOf(o.ns, o.dev), metric: o.metric, table: o.table, ...s });
    else if (o.kind === 'sysctl') h.sysctls.push({ key: o.key, value: o.value, ...s });
  }
  return {
    lab: record.lab,
    file: record.file,
    appliedAt: record.appliedAt,
    inSync: counts.drift + counts.missing + counts.extra === 0,
    counts,
    hosts: [...byNs.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

const MARK: Record<RowStatus, (s: string) => string> = { ok: pc.green, drift: pc.yellow, missing: pc.red, extra: pc.cyan };

function mark(r: InspectRow): string {
  return MARK[r.status](r.status === 'drift' ? `drift (${r.differences.join('; ')})` : r.status);
}

/** Columns padded to their widest cell (colour codes excluded from widths). */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => stripColour(r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - stripColour(c).length)))
      .join('  ')
      .trimEnd();
  return [line(header.map((h) => pc.bold(h))), ...rows.map(line)];
}

export function formatInspect(r: InspectReport): string[] {
  const drifted = r.counts.drift + r.counts.missing + r.counts.extra;
  const lines = [
    `${pc.bold(`lab ${r.lab}`)}  ${r.inSync ? pc.green('in sync') : pc.yellow(`drifted (${drifted})`)}  ${r.file ?? ''}  applied ${r.appliedAt}`,
    pc.dim(
      'status: live vs desired (the last apply): ok · drift (field: live -> desired) · missing (desired, not live) · extra (live, not desired)',
    ),
  ];
  for (const h of r.hosts) {
    lines.push('', `${pc.bold(h.name)}  ${pc.dim(`netns ${h.ns || '(root)'}`)}`);
    if (h.interfaces.length)
      lines.push(
        ...table(
          ['  INTERFACE', 'TYPE', 'MTU', 'MAC', 'STATE', 'MASTER', 'STATUS'],
          h.interfaces.map((i) => [
            `  ${i.name}${i.name !== i.ifname ? ` (${i.ifname})` : ''}`,
            i.type,
            String(i.mtu),
            i.mac,
            i.up ? 'up' : 'down',
            i.master ?? '-',
            mark(i),
          ]),
        ),
      );
    if (h.addresses.length)
      lines.push(
        ...table(
          ['  ADDRESS', 'INTERFACE', 'STATUS'],
          h.addresses.map((a) => [`  ${a.address}`, a.interface, mark(a)]),
        ),
      );
    if (h.routes.length)
      lines.push(
        ...table(
          ['  ROUTE', 'VIA', 'DEV', 'METRIC', 'TABLE', 'STATUS'],
          h.routes.map((x) => [`  ${x.to}`, x.via ?? '-', x.dev ?? '-', String(x.metric), String(x.table), mark(x)]),
        ),
      );
    if (h.sysctls.length)
      lines.push(
        ...table(
          ['  SYSCTL', 'VALUE', 'STATUS'],
          h.sysctls.map((s) => [`  ${s.key}`, s.value, mark(s)]),
        ),
      );
    if (h.nft.length)
      lines.push(
        ...table(
          ['  NFT CHAIN', 'RULE', 'STATUS'],
          h.nft.map((n) => [`  ${n.chain}`, n.rule, mark(n)]),
        ),
      );
  }
  return lines;
}

/** The command: observes the lab's namespaces and prints the report; exit 2 when anything drifted. */
export async function inspect(lab: string, o: { json?: boolean }): Promise<number> {
  if (await coordinates(lab)) return (await import('./across-view.js')).inspectAcross(lab, o);
  const l = await labHosts(lab, undefined, false);
  const record = l.record!;
  const live = await new RealDriver().observe({ lab, namespaces: record.scope });
  const report = inspectLab(record, l.hosts, live.state);
  if (o.json) out.json(report);
  else for (const line of formatInspect(report)) out.line(line);
  return report.inSync ? EXIT_OK : EXIT_PENDING;
}
