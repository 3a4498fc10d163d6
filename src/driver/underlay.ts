// What this machine's kernel says about its way to other machines: the device that routes to
// them, its MTU and the source address, read for a lab across machines at plan time.
import { execa } from 'execa';
import { ToolError } from '../errors.js';

export interface UnderlayRoute {
  address: string;
  dev: string;
  mtu: number;
}

async function ipJson(args: string[]): Promise<unknown> {
  const r = await execa('ip', ['-j', ...args], { reject: false });
  if (r.exitCode !== 0) throw new ToolError(`ip ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  return JSON.parse(r.stdout) as unknown;
}

/** The route towards `to` (an address already checked), with its device's MTU. */
export async function underlayTowards(to: string): Promise<UnderlayRoute> {
  const [route] = (await ipJson(['route', 'get', to])) as { dev?: string; prefsrc?: string; mtu?: number }[];
  if (!route?.dev || !route.prefsrc) throw new ToolError(`no route from this machine to ${to}`);
  const [link] = (await ipJson(['link', 'show', 'dev', route.dev])) as { mtu?: number }[];
  if (typeof link?.mtu !== 'number') throw new ToolError(`cannot read the MTU of ${route.dev}`);
  // A route can carry a smaller MTU than its device (`ip route ... mtu N`).
  return { address: route.prefsrc, dev: route.dev, mtu: Math.min(link.mtu, route.mtu ?? link.mtu) };
}
