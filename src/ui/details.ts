// What a click on a host shows: its interfaces, addresses, routes and rules marked against the last
// apply (as `netlab inspect`), its processes and their log tails. Computed where the host is: by
// the server for a lab on this machine, by the machine's responder for a lab across machines.
import type { LabRecord } from '../apply/store.js';
import type { ProcessObj, State } from '../model/objects.js';
import { inspectLab } from '../cli/inspect.js';
import type { HostNs } from '../cli/labinfo.js';
import { logTail } from '../cli/logs.js';

export async function hostDetails(lab: string, host: string, record: LabRecord, hosts: HostNs[], state: State) {
  const report = inspectLab(record, hosts, state);
  const h = report.hosts.find((x) => x.name === host);
  const processes = [...state.values()]
    .filter((x): x is ProcessObj => x.kind === 'process' && x.lab === lab && x.host === host)
    .map((p): { name: string; mode: string; state: string; command: string } => ({
      name: p.name,
      mode: p.mode,
      state: p.state,
      command: p.command,
    }));
  for (const d of record.desired)
    if (d.kind === 'process' && d.host === host && !processes.some((p) => p.name === d.name))
      processes.push({ name: d.name, mode: d.mode, state: d.mode === 'run' ? 'dead' : 'done', command: d.command });
  const logs: Record<string, string> = {};
  for (const p of processes) logs[p.name] = await logTail(lab, host, p.name);
  return {
    lab,
    host,
    ns: h?.ns ?? '',
    interfaces: h?.interfaces ?? [],
    addresses: h?.addresses ?? [],
    routes: h?.routes ?? [],
    nft: h?.nft ?? [],
    processes,
    logs,
  };
}

export type HostDetails = Awaited<ReturnType<typeof hostDetails>>;
