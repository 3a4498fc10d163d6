// `netlab machine watch --lab LAB`: the responder a coordinator's `netlab ui` keeps open on each
// machine of a lab across machines, over one ssh session for the server's life. Each request is one
// JSON line on stdin, each answer one JSON line on stdout with the request's id: the machine's
// live state (observed here, with the engine's observation, only when asked), a host's details, or
// a link set down/up or conditioned here (the same change as `netlab link`). It ends with stdin.
import { createInterface } from 'node:readline';
import { store } from '../apply/store.js';
import { readLinkCounters, type CounterReading } from '../driver/counters.js';
import { RealDriver } from '../driver/real.js';
import { exitCodeOf, NetlabError, UsageError } from '../errors.js';
import type { LinkObj } from '../model/objects.js';
import { checkLabName } from '../state/files.js';
import { labHosts } from '../cli/labinfo.js';
import { changeLink } from '../cli/link.js';
import { hostDetails } from './details.js';
import { labLive } from './live.js';
import { parseHostRequest, parseLinkAction } from './security.js';

/** A request line is small: a longer one is not the coordinator's. */
const MAX_LINE = 4096;

export interface WatchRequest {
  id: number;
  op: 'live' | 'host' | 'link';
  [key: string]: unknown;
}

export async function watch(o: { lab: string }): Promise<number> {
  const lab = checkLabName(o.lab, '--lab');
  const driver = new RealDriver();
  let prev: { at: number; reading: CounterReading } | null = null;

  const live = async () => {
    const record = await store.readRecord(lab);
    if (!record) return { live: null, hosts: [], tunnels: [] };
    const { hosts } = await labHosts(lab, undefined, false);
    const namespaces = [...new Set(record.scope.map((q) => q.ns))];
    const [reading, observed] = await Promise.all([
      readLinkCounters(namespaces).catch(() => new Map() as CounterReading),
      driver.observe({ lab, namespaces: record.scope }),
    ]);
    const at = Date.now();
    const l = labLive({ record, hosts, state: observed.state }, reading, prev?.reading ?? null, prev ? (at - prev.at) / 1000 : 0);
    prev = { at, reading };
    // The segments' tunnels here, for the VNI and MTU the page labels them with.
    const tunnels = record.desired
      .filter((x): x is LinkObj => x.kind === 'link' && x.type === 'vxlan')
      .map((x) => ({ vni: Number(x.attrs.vni), mtu: x.mtu }));
    return { live: l, hosts, tunnels };
  };

  const host = async (r: WatchRequest) => {
    const { host } = parseHostRequest(new URLSearchParams({ lab, host: String(r.host ?? '') }));
    const l = await labHosts(lab, undefined, false);
    const state = (await driver.observe({ lab, namespaces: l.record!.scope })).state;
    return { details: await hostDetails(lab, host, l.record!, l.hosts, state) };
  };

  const link = async (r: WatchRequest) => {
    const a = parseLinkAction({ ...r, lab });
    const done = await changeLink(lab, a.endpoint, a.state, { ...a.conditions, clear: a.clear });
    return { changed: done.changed, up: done.up, said: done.said };
  };

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    let id = 0;
    let answer: object;
    try {
      if (line.length > MAX_LINE) throw new UsageError('the request is too long');
      const r = JSON.parse(line) as WatchRequest;
      id = Number.isInteger(r.id) ? r.id : 0;
      if (r.op !== 'live' && r.op !== 'host' && r.op !== 'link') throw new UsageError(`unknown request ${JSON.stringify(r.op)}`);
      answer = { ok: true, ...(r.op === 'live' ? await live() : r.op === 'host' ? await host(r) : await link(r)) };
    } catch (e) {
      answer = {
        ok: false,
        exitCode: exitCodeOf(e),
        message: e instanceof Error ? e.message : String(e),
        hints: e instanceof NetlabError ? e.hints : [],
      };
    }
    process.stdout.write(`${JSON.stringify({ id, ...answer })}\n`);
  }
  return 0;
}
