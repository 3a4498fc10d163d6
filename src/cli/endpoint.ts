// `LAB HOST:IF` on the command line (netlab link, netlab capture): which applied lab, which
// namespace, which kernel interface. Read from the lab's state record (/run/netlab/<lab>/state.json),
// so it works without the lab file: in namespaces the lab creates the interface has the name the
// user wrote; in shared ones it is found by its altname netlab.<lab>.<host>.<if>.
import { stat } from 'node:fs/promises';
import { store, type LabRecord } from '../apply/store.js';
import { UsageError } from '../errors.js';
import type { LinkObj } from '../model/objects.js';
import { LAB_NAME_PATTERN, parseOwnerAltname } from '../lab/names.js';
import { didYouMean } from '../lab/suggest.js';
import { loadValidLabs } from './labs.js';

export interface Endpoint {
  lab: string;
  host: string;
  /** The interface name as written in the lab. */
  name: string;
  /** Namespace key ('' = the machine's own). */
  ns: string;
  /** Kernel name. */
  ifname: string;
  record: LabRecord;
}

/** A lab name, or a lab file whose name is read from it. */
export async function labNameOf(arg: string): Promise<string> {
  const isFile =
    /\.ya?ml$/.test(arg) ||
    (await stat(arg)
      .then((s) => s.isFile())
      .catch(() => false));
  if (isFile) return (await loadValidLabs([arg]))[0]!.name;
  if (!LAB_NAME_PATTERN.test(arg)) throw new UsageError(`"${arg}" is neither a lab name nor a lab file`);
  return arg;
}

/** Every interface of an applied lab as HOST:IF, from its record. */
export function endpointsOf(lab: string, record: LabRecord): Omit<Endpoint, 'record'>[] {
  const out: Omit<Endpoint, 'record'>[] = [];
  const prefix = `${lab}-`;
  for (const o of record.desired) {
    if (o.kind !== 'link' || o.type === 'loopback') continue;
    const l = o as LinkObj;
    const owner = l.altname ? parseOwnerAltname(l.altname) : null;
    if (owner) out.push({ lab, host: owner.host, name: owner.name, ns: l.ns, ifname: l.ifname });
    else if (l.ns.startsWith(prefix)) out.push({ lab, host: l.ns.slice(prefix.length), name: l.ifname, ns: l.ns, ifname: l.ifname });
  }
  return out;
}

/** Resolves `HOST:IF` of an applied lab; says what exists when it does not. */
export async function resolveEndpoint(lab: string, text: string): Promise<Endpoint> {
  const colon = text.indexOf(':');
  if (colon < 1 || colon === text.length - 1) throw new UsageError(`"${text}" is not HOST:IF (e.g. web:eth0)`);
  const host = text.slice(0, colon);
  const name = text.slice(colon + 1);
  const record = await store.readRecord(lab);
  if (!record) {
    const err = new UsageError(`lab "${lab}" is not applied on this machine (no state record)`);
    err.hints.push(`apply it first: netlab apply LAB.yaml; netlab status lists the labs here`);
    throw err;
  }
  const all = endpointsOf(lab, record);
  const found = all.find((e) => e.host === host && e.name === name);
  if (!found) {
    const hosts = [...new Set(all.map((e) => e.host))];
    if (!hosts.includes(host)) throw new UsageError(`lab "${lab}" has no host "${host}"${didYouMean(host, hosts)}`);
    const names = all.filter((e) => e.host === host).map((e) => e.name);
    throw new UsageError(`host "${host}" of lab "${lab}" has no interface "${name}"${didYouMean(name, names)}; it has ${names.join(', ')}`);
  }
  return { ...found, record };
}

/** `a:eth0 (lab-a/eth0)`: the user's name and the kernel's. */
export function endpointLabel(e: Omit<Endpoint, 'record'>): string {
  return `${e.host}:${e.name} (${e.ns || '(root)'}/${e.ifname})`;
}
