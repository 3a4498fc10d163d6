// TCP helpers for live tests: a server that answers with what it sees, a client that counts.
import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import { inNs } from './sandbox.js';

const SERVER = fileURLToPath(new URL('./tools/server.mjs', import.meta.url));
const CLIENT = fileURLToPath(new URL('./tools/client.mjs', import.meta.url));
const PROXY = fileURLToPath(new URL('./tools/proxy.mjs', import.meta.url));

export interface Reply {
  name: string;
  local: string;
  peer: string;
}
export type Result = { ok: true; reply: Reply; local: string } | { ok: false; error: string };

/** Servers started by this test file; stop them with stopServers() (by pid, ours only). */
export const servers: ResultPromise[] = [];

export async function startServer(ns: string, name: string, ports: number[]): Promise<void> {
  await startReady(ns, `server ${name}`, [SERVER, '--name', name, '--lifetime', '300', ...ports.flatMap((x) => ['--port', String(x)])]);
}

/** A userland proxy (like docker-proxy) in `ns`: listens on `port`, relays each connection to `to` over its own. */
export async function startProxy(ns: string, port: number, to: string): Promise<void> {
  await startReady(ns, `proxy :${port}`, [PROXY, '--port', String(port), '--to', to, '--lifetime', '300']);
}

/** Starts a Node tool in `ns` and waits for its "ready" line. */
async function startReady(ns: string, label: string, argv: string[]): Promise<void> {
  const p = execa('ip', ['netns', 'exec', ns, process.execPath, ...argv], { stdin: 'pipe', reject: false });
  servers.push(p);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${label} in ${ns} did not start`)), 10_000);
    p.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    void p.then((r) => reject(new Error(`${label} in ${ns} exited: ${r.stderr}`)));
  });
}

export async function stopServers(): Promise<void> {
  for (const s of servers.splice(0)) {
    s.kill('SIGTERM');
    await s;
  }
}

export async function connect(ns: string, to: string, count = 1, timeout = 2000): Promise<Result[]> {
  const r = await inNs(ns, process.execPath, [CLIENT, '--to', to, '--count', String(count), '--timeout', String(timeout)]);
  return (JSON.parse(r.stdout) as { results: Result[] }).results;
}

export async function reply(ns: string, to: string): Promise<Reply> {
  const [r] = await connect(ns, to);
  if (!r?.ok) throw new Error(`${ns} -> ${to}: ${r?.error}`);
  return r.reply;
}

/** `1.2.3.4:80` -> `1.2.3.4`. */
export const addressOf = (hostPort: string) => hostPort.replace(/:\d+$/, '');
