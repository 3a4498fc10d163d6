// `netlab serve` and its clients without the kernel: the built CLI (dist/) against a scripted
// socket, and a real server running `validate` of ten 1500-host labs (a run of a second or two that
// answers other clients between files) and `status` of an empty state directory, so nothing here reads or changes network state. What a
// run in progress must survive: a busy client, a stale one, another client's Ctrl-C, the idle
// timer, a malformed request, SIGTERM to the server; and what a client must never do: run a
// command a second time, hang after Ctrl-C, or crash in a deleted directory.
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { starLabYaml } from '../../src/cli/gen.js';
import { currentRun, routeOutput, type Run } from '../../src/cli/serve.js';
import { frame, FrameReader, type Request } from '../../src/cli/wire.js';

const NETLAB = join(import.meta.dirname, '../../dist/cli/netlab.js');
const work = mkdtempSync(join(tmpdir(), 'netlab-serve-unit-'));
/** Ten labs: the server checks one file at a time, and answers other clients in between. */
const bigs = Array.from({ length: 10 }, (_, i) => join(work, `big${i}.yaml`));
const big = bigs.join(' ');
const small = join(work, 'small.yaml');
const missing = join(work, 'missing.yaml');
let identity = '';

beforeAll(async () => {
  for (const [i, file] of bigs.entries()) writeFileSync(file, starLabYaml({ name: `big${i}`, hosts: 1500 }));
  writeFileSync(small, starLabYaml({ name: 'small', hosts: 2 }));
  // The built client's identity (the size and time of dist/cli/main.js).
  const wire = (await import(pathToFileURL(join(import.meta.dirname, '../../dist/cli/wire.js')).href)) as { codeIdentity(): string };
  identity = wire.codeIdentity();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let stateCount = 0;
const newState = () => {
  const dir = join(work, `state${stateCount++}`);
  return { dir, socket: join(dir, '.serve.sock'), env: { NO_COLOR: '1', NETLAB_STATE_DIR: dir } };
};

function client(state: { env: Record<string, string> }, args: string[], opts: { cwd?: string } = {}) {
  return execa('node', [NETLAB, ...args], { reject: false, env: state.env, cwd: opts.cwd, forceKillAfterDelay: false });
}

/** Sends one raw request line (and later lines); resolves with the frames until the server closes. */
function raw(socketPath: string, first: string, later: string[] = []): Promise<{ kind: string; payload: string }[]> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    const reader = new FrameReader();
    const got: { kind: string; payload: string }[] = [];
    s.on('connect', () => {
      s.write(`${first}\n`);
      for (const l of later) s.write(`${l}\n`);
    });
    s.on('data', (c: Buffer) => got.push(...reader.push(c).map((f) => ({ kind: f.kind, payload: f.payload.toString() }))));
    s.on('error', () => resolve(got));
    s.on('close', () => resolve(got));
  });
}

const request = (args: string[], id = identity): string => JSON.stringify({ id, args, cwd: work, env: {} } satisfies Request);

// ---- a real server --------------------------------------------------------------------------

let server: ResultPromise | null = null;
let serverLog = '';

/** Starts `netlab serve` (kept in `server`: a promise of its exit, so never returned from here). */
async function startServer(state: ReturnType<typeof newState>, ...args: string[]): Promise<void> {
  serverLog = '';
  const s = execa('node', [NETLAB, 'serve', ...args], { reject: false, env: state.env, buffer: false, forceKillAfterDelay: false });
  s.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  for (let i = 0; i < 500 && !serverLog.includes('listening'); i++) await new Promise((r) => setTimeout(r, 10));
  expect(serverLog).toContain('listening');
  server = s;
}

afterEach(async () => {
  if (server && server.exitCode === undefined) {
    server.kill('SIGTERM');
    await server;
  }
  server = null;
});

/** Waits until the server has begun a run of these arguments (its log says so). */
async function waitRunning(args: string): Promise<void> {
  for (let i = 0; i < 1000 && !serverLog.includes(`${args}: running`); i++) await new Promise((r) => setTimeout(r, 10));
  expect(serverLog).toContain(`${args}: running`);
}

const served = () => serverLog.split('\n').filter((l) => / exit \d+ in \d+ ms$/.test(l));

describe('netlab serve: a run in progress', { timeout: 60_000 }, () => {
  it('finishes before the server stops on SIGTERM, whatever other clients asked meanwhile', async () => {
    const state = newState();
    await startServer(state);
    const a = client(state, ['validate', ...bigs]);
    await waitRunning(`validate ${big}`);
    expect((await raw(state.socket, request(['status'])))[0]?.kind).toBe('b');
    server!.kill('SIGTERM');
    const r = await a;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('lab "big9" is valid (1501 hosts)');
    await server;
    expect(serverLog).toMatch(/validate .*big9\.yaml: exit 0 in \d+ ms\n[\s\S]*stopped \(SIGTERM\)/);
  });

  it("is left alone by a busy client's Ctrl-C and by a client of another build, which stops the server after it", async () => {
    const state = newState();
    await startServer(state);
    const a = client(state, ['validate', ...bigs]);
    await waitRunning(`validate ${big}`);
    expect((await raw(state.socket, request(['status']), [JSON.stringify({ signal: 'SIGINT' })]))[0]?.kind).toBe('b');
    expect((await raw(state.socket, request(['status'], 'another-build')))[0]?.kind).toBe('s');
    const r = await a;
    expect(r.exitCode, r.stderr).toBe(0);
    await server;
    expect(serverLog).toMatch(/big9\.yaml: exit 0 in[\s\S]*stopped \(netlab was rebuilt/);
  });

  it('keeps the server listening past --idle until it ends', async () => {
    const state = newState();
    await startServer(state, '--idle', '300ms');
    const a = client(state, ['validate', ...bigs]);
    await waitRunning(`validate ${big}`);
    await new Promise((r) => setTimeout(r, 400));
    // Still there, still busy with the run.
    expect((await raw(state.socket, request(['status'])))[0]?.kind).toBe('b');
    expect((await a).exitCode).toBe(0);
    await server;
    expect(serverLog).toMatch(/big9\.yaml: exit 0 in[\s\S]*stopped \(idle for 300ms\)/);
  });

  it('lets the client of a command that only reads go at its Ctrl-C, and serves the next one', async () => {
    const state = newState();
    await startServer(state);
    const a = client(state, ['validate', ...bigs]);
    await waitRunning(`validate ${big}`);
    a.kill('SIGINT');
    const r = await a;
    expect(r.exitCode).toBe(130);
    expect(r.stdout).not.toContain('is valid');
    // The run ends in the server; then the next client is served.
    for (let i = 0; i < 400 && !served().length; i++) await new Promise((res) => setTimeout(res, 10));
    const next = await client(state, ['validate', small]);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(served().map((l) => l.replace(/^netlab serve: /, '').split(' ')[0])).toEqual(['validate', 'validate']);
  });

  it('is one server when two start at once, and replaces the socket of a dead one', async () => {
    const state = newState();
    const start = () => execa('node', [NETLAB, 'serve'], { reject: false, env: state.env, forceKillAfterDelay: false });
    const [a, b] = [start(), start()];
    // One of them listens; the other says one is running and exits 1.
    const first = await Promise.race([a, b]);
    expect(first.exitCode).toBe(1);
    expect(first.stderr).toContain('netlab serve is already running');
    const winner = a.exitCode === null ? a : b;
    expect(winner.exitCode).toBeNull();
    expect((await client(state, ['validate', small])).exitCode).toBe(0);
    // Killed without a chance to clean up: its socket stays, and the next server takes it over.
    winner.kill('SIGKILL');
    await winner;
    await startServer(state);
    const r = await client(state, ['validate', small]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(served()).toHaveLength(1);
  });

  it('refuses a malformed request and goes on serving', async () => {
    const state = newState();
    await startServer(state);
    expect(await raw(state.socket, JSON.stringify({ id: identity, args: ['status'], cwd: '/' }))).toEqual([]);
    expect(await raw(state.socket, 'not json')).toEqual([]);
    const r = await client(state, ['validate', small]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(served()).toHaveLength(1);
  });
});

// ---- the client against a scripted socket ----------------------------------------------------

interface Scripted {
  server: Server;
  requests: Request[];
  lines: string[];
}

/** A socket at the state directory's serve path that answers each connection with `answer`. */
async function scripted(socketPath: string, answer: (socket: Socket, s: Scripted) => void): Promise<Scripted> {
  const s: Scripted = { server: createServer(), requests: [], lines: [] };
  s.server.on('connection', (socket) => {
    let buffer = '';
    socket.on('data', (d: Buffer) => {
      buffer += d.toString();
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        if (!s.requests.length) {
          s.requests.push(JSON.parse(line) as Request);
          answer(socket, s);
        } else s.lines.push(line);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => s.server.listen(socketPath, r));
  return s;
}

async function withScripted<T>(
  answer: (socket: Socket, s: Scripted) => void,
  body: (state: ReturnType<typeof newState>, s: Scripted) => Promise<T>,
) {
  const state = newState();
  const { mkdirSync } = await import('node:fs');
  mkdirSync(state.dir, { recursive: true });
  const s = await scripted(state.socket, answer);
  try {
    return await body(state, s);
  } finally {
    s.server.close();
  }
}

describe('netlab serve: the client', () => {
  it('never runs a command again once the server has begun it, even when it printed nothing', async () => {
    await withScripted(
      (socket) => {
        socket.write(frame('r'));
        setTimeout(() => socket.destroy(), 50);
      },
      async (state) => {
        const r = await client(state, ['validate', missing]);
        expect(r.exitCode).toBe(1);
        expect(r.stderr).toContain('the netlab serve process ended during the run');
        expect(r.stderr).not.toContain('cannot read file');
      },
    );
  });

  it('runs the command itself when the server goes before beginning it, or its directory is gone', async () => {
    await withScripted(
      (socket) => socket.destroy(),
      async (state, s) => {
        const r = await client(state, ['validate', missing]);
        expect(r.exitCode).toBe(1);
        expect(r.stderr).toContain('cannot read file');
        // Only netlab's variables and the colour switches travel.
        expect(Object.keys(s.requests[0]!.env).sort()).toEqual(['NETLAB_STATE_DIR', 'NO_COLOR']);
        const gone = join(work, 'gone');
        const here = await execa('sh', ['-c', `mkdir ${gone} && cd ${gone} && rmdir ${gone} && exec node ${NETLAB} validate ${missing}`], {
          reject: false,
          env: state.env,
        });
        expect(here.exitCode).toBe(1);
        expect(here.stderr).toContain('cannot read file');
        expect(s.requests).toHaveLength(1);
      },
    );
  });

  it('hands its first Ctrl-C to the run and leaves at the second', async () => {
    await withScripted(
      (socket) => socket.write(frame('r')),
      async (state, s) => {
        const c = client(state, ['validate', small]);
        for (let i = 0; i < 500 && !s.requests.length; i++) await new Promise((r) => setTimeout(r, 10));
        await new Promise((r) => setTimeout(r, 50));
        c.kill('SIGINT');
        for (let i = 0; i < 200 && !s.lines.length; i++) await new Promise((r) => setTimeout(r, 10));
        expect(s.lines).toEqual([JSON.stringify({ signal: 'SIGINT' })]);
        c.kill('SIGINT');
        expect((await c).exitCode).toBe(130);
      },
    );
  });
});

// ---- output routing --------------------------------------------------------------------------

describe('netlab serve: output', () => {
  it("goes to the client of the run that wrote it, and a run's late output to nobody", async () => {
    const own: string[] = [];
    const streams = {
      stdout: { write: (c: string | Uint8Array) => (own.push(`out:${String(c)}`), true) },
      stderr: { write: (c: string | Uint8Array) => (own.push(`err:${String(c)}`), true) },
    };
    routeOutput(streams);
    const sent = (run: Run) => (run.socket as unknown as { frames: Buffer[] }).frames.flatMap((b) => new FrameReader().push(b));
    const newRun = (): Run => {
      const frames: Buffer[] = [];
      return {
        socket: {
          frames,
          destroyed: false,
          write: (b: Buffer) => (frames.push(b), true),
          end: () => undefined,
        } as unknown as Run['socket'],
        req: { id: '', args: [], cwd: '/', env: {} },
        ended: false,
        released: false,
      };
    };
    const first = newRun();
    let late: Promise<void> = Promise.resolve();
    await currentRun.run(first, async () => {
      streams.stdout.write('one\n');
      late = new Promise((r) => setTimeout(() => (streams.stderr.write('late\n'), r()), 20));
    });
    first.ended = true;
    const second = newRun();
    await currentRun.run(second, async () => {
      streams.stderr.write('two\n');
      await late;
    });
    streams.stdout.write('server\n');
    expect(sent(first).map((f) => [f.kind, f.payload.toString()])).toEqual([['o', 'one\n']]);
    expect(sent(second).map((f) => [f.kind, f.payload.toString()])).toEqual([['e', 'two\n']]);
    expect(own).toEqual(['out:server\n']);
  });
});
