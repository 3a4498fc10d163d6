// The `netlab ui` web server: node's http module, one page and its script, a JSON API and Server-Sent
// Events. Reads (the graph, live state, a host's details) are free on loopback and need the token
// elsewhere; actions (link down/up and conditions, capture) always need it and are refused on a
// read-only server. Every request's Host header must name this server (no DNS rebinding).
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { LockBusyError, NetlabError, UsageError } from '../errors.js';
import { changeLink } from '../cli/link.js';
import { requireTcpdump, tcpdumpCommand } from '../cli/capture.js';
import { resolveEndpoint } from '../cli/endpoint.js';
import { hostDetails } from './details.js';
import { EventStream } from './live.js';
import type { Monitor } from './monitor.js';
import {
  allowedHosts,
  BadRequest,
  CONTENT_SECURITY_POLICY,
  hostAllowed,
  parseCaptureRequest,
  parseHostRequest,
  parseLinkAction,
  readJsonBody,
  requestToken,
  tokenMatches,
  type Listen,
} from './security.js';

/** The page's files, copied next to this module by the build (cytoscape from its package). */
const PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/cytoscape.min.js': { file: 'cytoscape.min.js', type: 'text/javascript; charset=utf-8' },
};
/** Captures running at once: each is a tcpdump process. */
const MAX_CAPTURES = 4;
/** A comment line keeps proxies and the browser from timing an idle stream out. */
const KEEPALIVE_MS = 15_000;

export interface UiOptions {
  listen: Listen;
  token: string;
  readOnly: boolean;
}

export interface UiServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

class Refused extends UsageError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

function statusOf(e: unknown): number {
  if (e instanceof Refused || e instanceof BadRequest) return e.status;
  if (e instanceof LockBusyError) return 409;
  if (e instanceof NetlabError) return 400;
  return 500;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

function sendError(res: ServerResponse, e: unknown): void {
  const status = statusOf(e);
  const message = status === 500 ? `internal error: ${e instanceof Error ? e.message : String(e)}` : (e as Error).message;
  sendJson(res, status, { error: message, hints: e instanceof NetlabError ? e.hints : [] });
}

function openEventStream(req: IncomingMessage, res: ServerResponse): { stream: EventStream; closed: Promise<void> } {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
  res.write('retry: 2000\n\n');
  const stream = new EventStream(res);
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  const closed = new Promise<void>((resolve) => {
    const done = () => {
      clearInterval(keepalive);
      resolve();
    };
    req.once('close', done);
    res.once('close', done);
    res.once('error', done);
  });
  return { stream, closed };
}

/** tcpdump in the namespace of an interface of a lab on this machine. */
async function localCapture(lab: string, endpoint: string, count: number): Promise<[string, string[]]> {
  const ep = await resolveEndpoint(lab, endpoint);
  const tcpdump = await requireTcpdump();
  const { cmd, args } = tcpdumpCommand(tcpdump, ep, { count, write: null, filter: [] });
  return [cmd, args];
}

export async function startUiServer(monitor: Monitor, o: UiOptions): Promise<UiServer> {
  let allowed = allowedHosts(o.listen, o.listen.port);
  let captures = 0;
  const children = new Set<number>();

  /** Reads off loopback and every action need the token; actions are refused on a read-only server. */
  const guard = (req: IncomingMessage, url: URL, action: boolean) => {
    const tokenOk = tokenMatches(o.token, requestToken(req.headers, url));
    if ((action || !o.listen.loopback) && !tokenOk)
      throw new Refused('this needs the access token: open the URL netlab ui printed (it ends in ?token=...)', 403);
    if (action && o.readOnly) throw new Refused('this server is read-only (netlab ui --read-only): actions are refused', 403);
    // A form or script on another site may post here; only this server's own page may act.
    const origin = req.headers.origin;
    if (action && origin !== undefined && !allowed.has(origin.replace(/^https?:\/\//, '').toLowerCase()))
      throw new Refused(`requests from ${origin} are refused`, 403);
  };

  const entryOf = (lab: string) => {
    const e = monitor.entry(lab);
    if (!e) throw new Refused(`lab "${lab}" is not shown by this server`, 404);
    return e;
  };

  const hostOf = async (q: URLSearchParams) => {
    const { lab, host } = parseHostRequest(q);
    const across = monitor.acrossLab(lab);
    if (across) return across.hostDetails(host);
    const e = entryOf(lab);
    if (!e.hosts.some((h) => h.name === host)) throw new Refused(`lab "${lab}" has no host "${host}"`, 404);
    return hostDetails(lab, host, e.record, e.hosts, await monitor.stateOf(e));
  };

  const capture = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const c = parseCaptureRequest(url.searchParams);
    const across = monitor.acrossLab(c.lab);
    if (!across) entryOf(c.lab);
    if (captures >= MAX_CAPTURES) throw new Refused(`${MAX_CAPTURES} captures are running already: wait for one to end`, 429);
    // A host on another machine: `netlab capture` there, over its ssh connection, stdin held open
    // until the capture ends (its end is what stops tcpdump there).
    const [cmd, args] = across ? across.captureCommand(c.endpoint, c.count) : await localCapture(c.lab, c.endpoint, c.count);
    const { stream, closed } = openEventStream(req, res);
    captures++;
    const child = spawn(cmd, args, { stdio: [across ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    child.stdin?.on('error', () => undefined);
    if (child.pid !== undefined) children.add(child.pid);
    let partial = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (t: string) => {
      const lines = (partial + t).split('\n');
      partial = lines.pop()!;
      for (const l of lines) stream.send('packet', l);
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (t: string) => {
      // Said once: tcpdump's later lines (its counts) come on stderr too.
      const first = !stderr.includes('listening on');
      stderr += t;
      if (first && stderr.includes('listening on')) stream.send('listening', c.endpoint);
    });
    const ended = new Promise<void>((resolve) => {
      child.on('error', (err) => {
        stream.send('failed', err.message);
        resolve();
      });
      child.on('close', (code) => {
        if (partial) stream.send('packet', partial);
        stream.send('end', { code, summary: /(\d+) packets? captured/.exec(stderr)?.[0] ?? stderr.trim().split('\n').slice(-1)[0] ?? '' });
        resolve();
      });
    });
    // A page that goes away ends its capture; tcpdump is ours, ended by its pid.
    await Promise.race([ended, closed]);
    child.stdin?.end();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await ended;
    if (child.pid !== undefined) children.delete(child.pid);
    captures--;
    res.end();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    if (!hostAllowed(req.headers.host, allowed)) throw new Refused(`Host "${req.headers.host ?? ''}" is not this server's address`, 421);
    const url = new URL(req.url ?? '/', 'http://netlab.invalid');
    const path = url.pathname;
    const file = FILES[path];
    if (file && req.method === 'GET') {
      const body = await readFile(PAGE_DIR + file.file);
      res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-cache' });
      return void res.end(body);
    }
    if (path === '/api/graph' && req.method === 'GET') {
      guard(req, url, false);
      return sendJson(res, 200, { ...monitor.graph(), readOnly: o.readOnly });
    }
    if (path === '/api/events' && req.method === 'GET') {
      guard(req, url, false);
      const { stream, closed } = openEventStream(req, res);
      const detach = monitor.attach(stream);
      await closed;
      detach();
      return;
    }
    if (path === '/api/host' && req.method === 'GET') {
      guard(req, url, false);
      return sendJson(res, 200, await hostOf(url.searchParams));
    }
    if (path === '/api/link' && req.method === 'POST') {
      guard(req, url, true);
      const a = parseLinkAction(await readJsonBody(req));
      const across = monitor.acrossLab(a.lab);
      if (!across) entryOf(a.lab);
      // On the machine of the link's host: `netlab link` there, through its responder.
      const r = across ? await across.link(a) : await changeLink(a.lab, a.endpoint, a.state, { ...a.conditions, clear: a.clear });
      monitor.refresh();
      return sendJson(res, 200, { lab: a.lab, endpoint: a.endpoint, changed: r.changed, up: r.up, said: r.said });
    }
    if (path === '/api/capture' && req.method === 'GET') {
      guard(req, url, true);
      return capture(req, res, url);
    }
    throw new Refused(`no ${req.method} ${path} here`, file || path.startsWith('/api/') ? 405 : 404);
  };

  const server = createServer((req, res) => {
    // A client that goes away mid-answer is no error of the server's.
    res.on('error', () => undefined);
    req.on('error', () => undefined);
    handle(req, res).catch((e: unknown) => {
      try {
        sendError(res, e);
      } catch {
        res.destroy();
      }
    });
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  server.headersTimeout = 10_000;
  server.requestTimeout = 0;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const where = `${o.listen.host}:${o.listen.port}`;
      if (e.code === 'EADDRINUSE') {
        const err = new UsageError(`cannot listen on ${where}: the port is in use (another netlab ui, or another server)`);
        err.hints.push('pick another port: netlab ui --listen 127.0.0.1:8081 (port 0 picks a free one)');
        reject(err);
      } else if (e.code === 'EADDRNOTAVAIL')
        reject(new UsageError(`cannot listen on ${where}: no interface of this machine has that address`));
      else if (e.code === 'EACCES') reject(new UsageError(`cannot listen on ${where}: permission denied`));
      else reject(new UsageError(`cannot listen on ${where}: ${e.message}`));
    });
    server.listen(o.listen.port, o.listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  allowed = allowedHosts(o.listen, port);
  const hostText = o.listen.host.includes(':') ? `[${o.listen.host}]` : o.listen.host;
  return {
    server,
    port,
    url: `http://${hostText}:${port}/?token=${o.token}`,
    close: async () => {
      await monitor.stop();
      for (const pid of children) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // Ended on its own meanwhile.
        }
      }
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
