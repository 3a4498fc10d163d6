// Finding an applied lab and its hosts' namespaces for exec, shell, inspect and completion:
// from the lab's state record (/run/netlab/<lab>/state.json) or from a lab file (--file).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { store, stateDir, type LabRecord } from '../apply/store.js';
import { UsageError } from '../errors.js';
import { loadLabs } from '../lab/load.js';
import { parseOwnerAltname } from '../lab/names.js';
import { didYouMean } from '../lab/suggest.js';
import { loadValidLabs } from './labs.js';

export interface HostNs {
  name: string;
  /** Namespace key: the /run/netns name, '' for the machine's own. */
  ns: string;
}

export interface LabHosts {
  lab: string;
  record: LabRecord | null;
  hosts: HostNs[];
}

/** Hosts of a record written before records kept them: from namespace names and ownership altnames. */
export function hostsFromRecord(r: LabRecord): HostNs[] {
  const out = new Map<string, string>();
  for (const o of r.desired) {
    if (o.kind === 'netns' && o.ns.startsWith(`${r.lab}-`)) out.set(o.ns.slice(r.lab.length + 1), o.ns);
    if (o.kind === 'link' && o.altname) {
      const p = parseOwnerAltname(o.altname);
      if (p && p.lab === r.lab && !out.has(p.host)) out.set(p.host, o.ns);
    }
  }
  return [...out].map(([name, ns]) => ({ name, ns })).sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** A lab that has no record here, with the labs that do. `fileOption`: the command takes --file. */
export async function notApplied(lab: string, fileOption = false): Promise<UsageError> {
  const known = await store.labs();
  const err = new UsageError(
    `lab "${lab}" is not applied on this machine (no state record in ${join(stateDir(), lab)})${didYouMean(lab, known)}`,
  );
  err.hints.push(known.length ? `labs on this machine: ${known.join(', ')}` : 'no labs are applied on this machine');
  err.hints.push(
    fileOption
      ? 'apply it first (netlab apply FILE), or pass --file FILE to take the hosts from the lab file'
      : 'apply it first (netlab apply FILE)',
  );
  return err;
}

/**
 * The lab's hosts: from --file when given, else from its state record (or the file the record
 * names). `fileOption`: the command takes --file (said when the lab is not applied).
 */
export async function labHosts(lab: string, file?: string, fileOption = true): Promise<LabHosts> {
  const record = await store.readRecord(lab);
  if (file) {
    const [l] = await loadValidLabs([file]);
    if (!l) throw new UsageError(`no lab in ${file}`);
    if (l.name !== lab) throw new UsageError(`${file} defines lab "${l.name}", not "${lab}"`);
    return { lab, record, hosts: l.hosts.map((h) => ({ name: h.name, ns: h.ns })) };
  }
  if (!record) throw await notApplied(lab, fileOption);
  if (record.hosts) return { lab, record, hosts: record.hosts };
  if (record.file && existsSync(record.file)) {
    const { labs } = await loadLabs([record.file]);
    const l = labs.find((x) => x.name === lab);
    if (l) return { lab, record, hosts: l.hosts.map((h) => ({ name: h.name, ns: h.ns })) };
  }
  return { lab, record, hosts: hostsFromRecord(record) };
}

/** One host of the lab, or a clear error listing the known ones. */
export function findHost(l: LabHosts, host: string): HostNs {
  const h = l.hosts.find((x) => x.name === host);
  if (h) return h;
  const names = l.hosts.map((x) => x.name);
  const err = new UsageError(`host "${host}" is not in lab "${l.lab}"${didYouMean(host, names)}`);
  err.hints.push(names.length ? `hosts of lab "${l.lab}": ${names.join(', ')}` : `lab "${l.lab}" has no hosts on record`);
  throw err;
}
