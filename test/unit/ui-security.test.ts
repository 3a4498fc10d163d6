// What `netlab ui` checks before it answers: the listen address, the access token (compared in
// constant time), the Host header (no DNS rebinding), the size and shape of request bodies, and
// the names and values of an action. The server itself answers on a free loopback port with a
// monitor that holds no lab: its headers, its routes and its refusals.
import { timingSafeEqual } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/errors.js';
import type { Monitor } from '../../src/ui/monitor.js';
import {
  allowedHosts,
  BadRequest,
  CONTENT_SECURITY_POLICY,
  hostAllowed,
  MAX_BODY_BYTES,
  parseCaptureRequest,
  parseHostRequest,
  parseLinkAction,
  parseListen,
  readJsonBody,
  requestToken,
  tokenMatches,
} from '../../src/ui/security.js';
import { startUiServer, type UiServer } from '../../src/ui/server.js';

vi.mock('node:crypto', async (original) => {
  const real = await original<typeof import('node:crypto')>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

const TOKEN = 'k3Jd9sL2mQ8xV7pR4tY6wZ1aB5cN0eF';

describe('access token', () => {
  beforeEach(() => {
    vi.mocked(timingSafeEqual).mockClear();
  });

  it('accepts only the token itself', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(TOKEN, null)).toBe(false);
    expect(tokenMatches(TOKEN, undefined)).toBe(false);
    expect(tokenMatches(TOKEN, '')).toBe(false);
    expect(tokenMatches(TOKEN, TOKEN.slice(0, -1))).toBe(false);
    expect(tokenMatches(TOKEN, `${TOKEN}x`)).toBe(false);
    expect(tokenMatches(TOKEN, TOKEN.toUpperCase())).toBe(false);
    expect(tokenMatches(TOKEN, `${TOKEN.slice(0, -1)}G`)).toBe(false);
  });

  it('compares tokens of equal length in constant time, whole, wherever they differ', () => {
    const wrongFirst = `x${TOKEN.slice(1)}`;
    expect(tokenMatches(TOKEN, wrongFirst)).toBe(false);
    expect(timingSafeEqual).toHaveBeenCalledTimes(1);
    expect(vi.mocked(timingSafeEqual).mock.calls[0]!.map((b) => Buffer.from(b as Buffer).toString())).toEqual([TOKEN, wrongFirst]);
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(timingSafeEqual).toHaveBeenCalledTimes(2);
  });

  it('is taken from the X-Netlab-Token header first, else from ?token= (EventSource sends no headers)', () => {
    const url = new URL('http://x/api/events?token=fromquery');
    expect(requestToken({ 'x-netlab-token': 'fromheader' }, url)).toBe('fromheader');
    expect(requestToken({}, url)).toBe('fromquery');
    expect(requestToken({}, new URL('http://x/api/events'))).toBeNull();
  });
});

describe('listen address and Host header (DNS rebinding)', () => {
  it('parses ADDRESS:PORT, IPv6 in brackets; refuses names and bad ports', () => {
    expect(parseListen('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080, loopback: true });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0, loopback: true });
    expect(parseListen('192.0.2.7:80')).toEqual({ host: '192.0.2.7', port: 80, loopback: false });
    expect(parseListen('localhost:9000').loopback).toBe(true);
    for (const bad of ['8080', 'example.com:80', '127.0.0.1:65536', '127.0.0.1:', '::1:8080', '[127.0.0.1]:80', '127.0.0.1:80/x'])
      expect(() => parseListen(bad), bad).toThrow(UsageError);
  });

  it("on loopback, answers only its own address and localhost's names, with the port", () => {
    const allowed = allowedHosts(parseListen('127.0.0.1:0'), 8123);
    for (const ok of ['127.0.0.1:8123', 'localhost:8123', 'LOCALHOST:8123', '[::1]:8123']) expect(hostAllowed(ok, allowed), ok).toBe(true);
    for (const bad of [
      undefined,
      '',
      'evil.example:8123',
      '127.0.0.1',
      '127.0.0.1:8124',
      'localhost',
      '127.0.0.1.evil.example:8123',
      'localhost.evil.example:8123',
      '[::1]',
    ])
      expect(hostAllowed(bad, allowed), String(bad)).toBe(false);
  });

  it('on another address, answers only that address (no localhost names)', () => {
    const allowed = allowedHosts(parseListen('192.0.2.7:8080'), 8080);
    expect(hostAllowed('192.0.2.7:8080', allowed)).toBe(true);
    expect(hostAllowed('localhost:8080', allowed)).toBe(false);
    expect(hostAllowed('127.0.0.1:8080', allowed)).toBe(false);
    const v6 = allowedHosts(parseListen('[2001:db8::1]:8080'), 8080);
    expect(hostAllowed('[2001:db8::1]:8080', v6)).toBe(true);
    expect(hostAllowed('2001:db8::1:8080', v6)).toBe(false);
  });
});

/** A request body as the server receives it: a stream with headers. */
function body(chunks: string[], headers: Record<string, string> = {}): IncomingMessage {
  return Object.assign(Readable.from(chunks.map((c) => Buffer.from(c))), { headers }) as unknown as IncomingMessage;
}

describe('request bodies', () => {
  it('refuses a body over the cap unread when it says its length, and as soon as it shows otherwise', async () => {
    await expect(readJsonBody(body(['{}'], { 'content-length': String(MAX_BODY_BYTES + 1) }))).rejects.toMatchObject({ status: 413 });
    const chunk = `"${'x'.repeat(2000)}"`;
    await expect(readJsonBody(body(['{"a":', chunk, ',"b":', chunk, ',"c":', chunk, '}']))).rejects.toMatchObject({ status: 413 });
    const exactly = `{"a":"${'x'.repeat(MAX_BODY_BYTES - 8)}"}`;
    expect(exactly.length).toBe(MAX_BODY_BYTES);
    await expect(readJsonBody(body([exactly]))).resolves.toEqual({ a: 'x'.repeat(MAX_BODY_BYTES - 8) });
  });

  it('takes only a JSON object', async () => {
    for (const bad of ['not json', '[1,2]', '"text"', 'null', '{"a":'])
      await expect(readJsonBody(body([bad])), bad).rejects.toMatchObject({ status: 400 });
    await expect(readJsonBody(body([]))).resolves.toEqual({});
  });
});

describe('actions', () => {
  const good = { lab: 'docker', host: 'web', interface: 'eth0' };

  it('names the interface as HOST:NAME of the lab', () => {
    expect(parseLinkAction({ ...good, state: 'down' })).toEqual({
      lab: 'docker',
      endpoint: 'web:eth0',
      state: 'down',
      conditions: {},
      clear: false,
    });
    expect(parseLinkAction({ ...good, conditions: { delay: '100ms', loss: '5%', rate: '5mbit' }, clear: true })).toEqual({
      lab: 'docker',
      endpoint: 'web:eth0',
      conditions: { delay: '100ms', loss: '5%', rate: '5mbit' },
      clear: true,
    });
  });

  it('refuses names that are no lab, host or interface name: relative, hostile, too long or not text', () => {
    const cases: Record<string, unknown>[] = [
      { ...good, lab: '../docker' },
      { ...good, lab: 'Docker' },
      { ...good, lab: 'a'.repeat(25) },
      { ...good, lab: 7 },
      { ...good, lab: undefined },
      { ...good, host: '../etc' },
      { ...good, host: '.' },
      { ...good, host: 'web/../db' },
      { ...good, host: 'web:eth0' },
      { ...good, host: ['web'] },
      { ...good, interface: '..' },
      { ...good, interface: 'eth0/../x' },
      { ...good, interface: 'a'.repeat(16) },
      { ...good, interface: 'eth 0' },
      { ...good, interface: 'eth0\n' },
    ];
    for (const c of cases) expect(() => parseLinkAction({ ...c, state: 'down' }), JSON.stringify(c)).toThrow(BadRequest);
  });

  it('refuses an unknown state or condition, a hostile value, and a request that asks nothing', () => {
    const bad: Record<string, unknown>[] = [
      { state: 'sideways' },
      { state: true },
      { conditions: { bandwidth: '5mbit' } },
      { conditions: { __proto__: '1' } },
      { conditions: { delay: '100ms; reboot' } },
      { conditions: { delay: '$(id)' } },
      { conditions: { delay: 'a'.repeat(33) } },
      { conditions: { delay: 100 } },
      { conditions: ['delay'] },
      { conditions: 'delay 100ms' },
      {},
      { clear: 'yes' },
    ];
    for (const b of bad) expect(() => parseLinkAction({ ...good, ...b }), JSON.stringify(b)).toThrow(BadRequest);
  });

  it('checks a capture and a host query the same way, and caps the packets', () => {
    const q = (o: Record<string, string>) => new URLSearchParams(o);
    expect(parseCaptureRequest(q({ ...good, count: '5' }))).toEqual({ lab: 'docker', endpoint: 'web:eth0', count: 5 });
    for (const count of ['0', '201', '1.5', 'ten', '-1'])
      expect(() => parseCaptureRequest(q({ ...good, count })), count).toThrow(BadRequest);
    expect(() => parseCaptureRequest(q({ ...good, host: '../etc' }))).toThrow(BadRequest);
    expect(parseHostRequest(q({ lab: 'docker', host: 'web' }))).toEqual({ lab: 'docker', host: 'web' });
    expect(() => parseHostRequest(q({ lab: 'docker', host: '/etc/passwd' }))).toThrow(BadRequest);
  });
});

describe('the server', () => {
  let ui: UiServer;
  let readOnly: UiServer;
  const noLabs = {
    graph: () => ({ labs: [], nodes: [], edges: [] }),
    entry: () => undefined,
    acrossLab: () => undefined,
    attach: () => () => undefined,
    refresh: () => undefined,
    stop: () => undefined,
  } as unknown as Monitor;

  beforeAll(async () => {
    ui = await startUiServer(noLabs, { listen: parseListen('127.0.0.1:0'), token: TOKEN, readOnly: false });
    readOnly = await startUiServer(noLabs, { listen: parseListen('127.0.0.1:0'), token: TOKEN, readOnly: true });
  });
  afterAll(async () => {
    await ui?.close();
    await readOnly?.close();
  });

  function http(
    s: UiServer,
    path: string,
    o: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(`http://127.0.0.1:${s.port}${path}`, { method: o.method ?? 'GET', headers: o.headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(o.body);
    });
  }

  const action = JSON.stringify({ lab: 'docker', host: 'web', interface: 'eth0', state: 'down' });

  it('sends its Content-Security-Policy and framing headers on every answer, refusals too', async () => {
    for (const [path, status] of [
      ['/', 200],
      ['/app.js', 200],
      ['/api/graph', 200],
      ['/nothing', 404],
    ] as const) {
      const r = await http(ui, path);
      expect(r.status, path).toBe(status);
      expect(r.headers['content-security-policy'], path).toBe(CONTENT_SECURITY_POLICY);
      expect(r.headers['x-frame-options']).toBe('DENY');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
    const rebinding = await http(ui, '/', { headers: { host: `evil.example:${ui.port}` } });
    expect(rebinding.status).toBe(421);
    expect(rebinding.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
  });

  it('loads nothing from elsewhere and runs no inline script', () => {
    const directives = new Map(
      CONTENT_SECURITY_POLICY.split(';')
        .map((d) => d.trim().split(/\s+/) as [string, ...string[]])
        .map(([k, ...v]) => [k, v]),
    );
    expect(directives.get('default-src')).toEqual(["'none'"]);
    expect(directives.get('script-src')).toEqual(["'self'"]);
    expect(directives.get('connect-src')).toEqual(["'self'"]);
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
  });

  it('refuses an action without the token, with a wrong one, from another origin, and on a read-only server', async () => {
    const post = (s: UiServer, headers: Record<string, string>) => http(s, '/api/link', { method: 'POST', headers, body: action });
    const none = await post(ui, {});
    expect(none.status).toBe(403);
    expect(JSON.parse(none.body).error).toMatch(/needs the access token/);
    expect((await post(ui, { 'x-netlab-token': 'y'.repeat(TOKEN.length) })).status).toBe(403);
    expect((await post(ui, { 'x-netlab-token': TOKEN, origin: 'http://evil.example' })).status).toBe(403);
    const ro = await post(readOnly, { 'x-netlab-token': TOKEN });
    expect(ro.status).toBe(403);
    expect(JSON.parse(ro.body).error).toMatch(/read-only/);
    // The token and the origin pass: the lab is what is refused (this server shows none).
    const unknownLab = await post(ui, { 'x-netlab-token': TOKEN, origin: `http://127.0.0.1:${ui.port}` });
    expect(unknownLab.status).toBe(404);
    expect(JSON.parse(unknownLab.body).error).toMatch(/lab "docker" is not shown by this server/);
  });

  it('refuses an unknown action or method, an oversized body, and a hostile name, each with its status', async () => {
    const t = { 'x-netlab-token': TOKEN };
    expect((await http(ui, '/api/reboot', { method: 'POST', headers: t, body: '{}' })).status).toBe(405);
    expect((await http(ui, '/api/link', { headers: t })).status).toBe(405);
    expect((await http(ui, '/api/graph', { method: 'DELETE', headers: t })).status).toBe(405);
    expect((await http(ui, '/api/link', { method: 'POST', headers: t, body: 'x'.repeat(MAX_BODY_BYTES * 3) })).status).toBe(413);
    const hostile = await http(ui, '/api/link', {
      method: 'POST',
      headers: t,
      body: JSON.stringify({ lab: 'docker', host: '../etc', interface: 'eth0', state: 'down' }),
    });
    expect(hostile.status).toBe(400);
    expect(JSON.parse(hostile.body).error).toBe('"host" must be a host name');
    expect((await http(ui, '/api/host?lab=docker&host=..%2Fetc')).status).toBe(400);
    expect((await http(ui, '/../../etc/passwd')).status).toBe(404);
  });

  it('wants the token for reads too when it listens off loopback', async () => {
    // As a server on another address is told: bound to loopback here, so that no test listens on the network.
    const open = await startUiServer(noLabs, { listen: { host: '127.0.0.1', port: 0, loopback: false }, token: TOKEN, readOnly: true });
    try {
      const get = (path: string) =>
        new Promise<number>((resolve, reject) => {
          const req = request(`http://127.0.0.1:${open.port}${path}`, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          req.end();
        });
      expect(await get('/api/graph')).toBe(403);
      expect(await get(`/api/graph?token=${TOKEN}`)).toBe(200);
    } finally {
      await open.close();
    }
  });
});
