// `netlab serve` and its clients without the kernel: the built CLI (dist/) against a scripted
// socket, and a real server running `validate` and `status` of an empty state directory, so
// nothing here reads or changes network state. A run is held in progress for as long as a test
// needs by a lab file that is a FIFO (the run's open() waits for a writer), never by a lab large
// enough to take a while. What a run in progress must survive: a busy client, another netlab's
// request, another client's Ctrl-C, the idle timer, SIGTERM to the server; what the server must
// refuse (malformed requests, commands a client never hands over, endless lines); and what a
// client must never do: run a command a second time, hang after Ctrl-C, crash in a deleted
// directory, or trust a socket someone else could have made.
import { execa, execaSync, type ResultPromise } from 'execa';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { starLabYaml } from '../../src/cli/gen.js';
import { currentRun, routeOutput, type Run } from '../../src/cli/serve.js';
import { frame, FrameReader, MAX_REQUEST_BYTES, type Request } from '../../src/cli/wire.js';

const NETLAB = join(import.meta.dirname, '../../dist/cli/netlab.js');
const work = mkdtempSync(join(tmpdir(), 'netlab-serve-unit-'));
const small = join(work, 'small.yaml');
const missing = join(work, 'missing.yaml');
let identity = '';

beforeAll(async () => {
  writeFileSync(small, starLabYaml({ name: 'small', hosts: 2 }));
  // The built client's identity (the size and time of dist/cli/main.js).
  const wire = (await import(pathToFileURL(join(import.meta.dirname, '../../dist/cli/wire.js')).href)) as { codeIdentity(): string };
  identity = wire.codeIdentity();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let count = 0;
const newState = () => {
  const dir = join(work, `state${count++}`);
  return { dir, socket: join(dir, '.serve.sock'), env: { NO_COLOR: '1', NETLAB_STATE_DIR: dir } };
};

function client(state: { env: Record<string, string> }, args: string[], opts: { cwd?: string } = {}) {
  return execa('node', [NETLAB, ...args], { reject: false, env: state.env, cwd: opts.cwd, forceKillAfterDelay: false });
}

/**
 * A lab file that holds the run that reads it: a FIFO, whose open() waits for a writer. The run
 * stays in progress until `release` opens it for writing; then it ends with exit 1 (a FIFO is
 * not a regular file).
 */
async function heldLab(): Promise<{ file: string; release(): Promise<void> }> {
  const file = join(work, `held${count++}.yaml`);
  await execa('mkfifo', [file]);
  return { file, release: async () => (await open(file, 'w')).close() };
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

/** Resolves once the stream has carried `text` (output arrives in pieces: waits for the event, not for a time). */
function untilOutput(stream: Readable, text: string): Promise<void> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) {
        stream.off('data', onData);
        resolve();
      }
    };
    stream.on('data', onData);
    stream.once('end', () => reject(new Error(`the output ended without ${JSON.stringify(text)}: ${seen}`)));
  });
}

// ---- a real server --------------------------------------------------------------------------

/** A `netlab serve` process and everything it has logged (its own, so a late line of another test's server never lands here). */
interface ServerProcess {
  proc: ResultPromise;
  log: string;
  /** Resolves once the log says `what`; rejects when the server ends without saying it. */
  until(what: string | RegExp): Promise<void>;
  /** The requests it ran, as its log lists them. */
  served(): string[];
}

const servers: ServerProcess[] = [];

function spawnServer(state: ReturnType<typeof newState>, ...args: string[]): ServerProcess {
  const proc = execa('node', [NETLAB, 'serve', ...args], { reject: false, env: state.env, buffer: false, forceKillAfterDelay: false });
  const s: ServerProcess = {
    proc,
    log: '',
    until: (what) =>
      new Promise((resolve, reject) => {
        const said = () => (typeof what === 'string' ? s.log.includes(what) : what.test(s.log));
        if (said()) return resolve();
        const onData = () => {
          if (!said()) return;
          proc.stderr!.off('data', onData);
          resolve();
        };
        proc.stderr!.on('data', onData);
        void proc.then(() => (said() ? resolve() : reject(new Error(`netlab serve ended without saying ${String(what)}:\n${s.log}`))));
      }),
    served: () => s.log.split('\n').filter((l) => / exit \d+ in \d+ ms$/.test(l)),
  };
  proc.stderr!.on('data', (d: Buffer) => (s.log += d.toString()));
  servers.push(s);
  return s;
}

async function startServer(state: ReturnType<typeof newState>, ...args: string[]): Promise<ServerProcess> {
  const s = spawnServer(state, ...args);
  await s.until('listening');
  return s;
}

afterEach(async () => {
  // SIGKILL: a server of a failed test may be waiting for a held run that nobody releases.
  for (const s of servers.splice(0)) {
    if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
    await s.proc;
  }
});

const commandsOf = (lines: string[]) => lines.map((l) => l.replace(/^netlab serve: /, '').split(' ')[0]);

describe('netlab serve: a run in progress', { timeout: 60_000 }, () => {
  it('finishes before the server stops on SIGTERM, whatever other clients asked meanwhile', async () => {
    const state = newState();
    const srv = await startServer(state);
    const held = await heldLab();
    const a = client(state, ['validate', held.file]);
    await srv.until(`validate ${held.file}: running`);
    expect((await raw(state.socket, request(['status'])))[0]?.kind).toBe('b');
    srv.proc.kill('SIGTERM');
    await srv.until('stopping (SIGTERM) after the run in progress');
    await held.release();
    const r = await a;
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${held.file}:1:1: cannot read file: not a regular file`);
    await srv.proc;
    expect(srv.log).toMatch(/held\d+\.yaml: exit 1 in \d+ ms\n[\s\S]*stopped \(SIGTERM\)/);
  });

  it("is left alone by a busy client's Ctrl-C and by another netlab's request, which it refuses and serves on", async () => {
    const state = newState();
    const srv = await startServer(state);
    const held = await heldLab();
    const a = client(state, ['validate', held.file]);
    await srv.until(`validate ${held.file}: running`);
    expect((await raw(state.socket, request(['status']), [JSON.stringify({ signal: 'SIGINT' })]))[0]?.kind).toBe('b');
    const other = await raw(state.socket, request(['status'], 'another-build'));
    expect(other.map((f) => f.kind)).toEqual(['f']);
    expect(other[0]!.payload).toContain('another netlab');
    await held.release();
    const r = await a;
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('not a regular file');
    // Still the server: the next client is served by it.
    const next = await client(state, ['validate', small]);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(commandsOf(srv.served())).toEqual(['validate', 'validate']);
    expect(srv.proc.exitCode).toBeNull();
  });

  it('keeps the server listening past --idle until it ends', async () => {
    const state = newState();
    const srv = await startServer(state, '--idle', '2s');
    const held = await heldLab();
    // From this process, at once: well within the idle time the server gives its first client.
    const a = raw(state.socket, request(['validate', held.file]));
    await srv.until(`validate ${held.file}: running`);
    // Longer than --idle: what is checked is that the timer does not run during a run.
    await new Promise((r) => setTimeout(r, 2500));
    expect((await raw(state.socket, request(['status'])))[0]?.kind).toBe('b');
    await held.release();
    expect((await a).at(-1)).toEqual({ kind: 'x', payload: '1' });
    await srv.proc;
    expect(srv.log).toMatch(/held\d+\.yaml: exit 1 in[\s\S]*stopped \(idle for 2s\)/);
  });

  it('lets the client of a command that only reads go at its Ctrl-C, and serves the next one', async () => {
    const state = newState();
    const srv = await startServer(state);
    const held = await heldLab();
    const a = client(state, ['validate', held.file]);
    await srv.until(`validate ${held.file}: running`);
    a.kill('SIGINT');
    const r = await a;
    expect(r.exitCode).toBe(130);
    expect(r.stderr).not.toContain('not a regular file');
    // The run ends in the server (its client gone); then the next client is served.
    await held.release();
    await srv.until(/held\d+\.yaml: exit \d+ in \d+ ms/);
    const next = await client(state, ['validate', small]);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(commandsOf(srv.served())).toEqual(['validate', 'validate']);
  });

  it('is one server when two start at once, and replaces the socket of a dead one', async () => {
    const state = newState();
    const [a, b] = [spawnServer(state), spawnServer(state)];
    // One of them listens; the other says one is running and exits 1.
    expect((await Promise.race([a.proc, b.proc])).exitCode).toBe(1);
    const [winner, loser] = a.proc.exitCode === null ? [a, b] : [b, a];
    expect(loser.log).toContain('netlab serve is already running');
    expect(winner.proc.exitCode).toBeNull();
    expect((await client(state, ['validate', small])).exitCode).toBe(0);
    expect(winner.served()).toHaveLength(1);
    // Killed without a chance to clean up: its socket stays, and the next server takes it over.
    winner.proc.kill('SIGKILL');
    await winner.proc;
    const next = await startServer(state);
    const r = await client(state, ['validate', small]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(next.served()).toHaveLength(1);
  });

  it('stops on SIGTERM while a client that never says anything is connected', async () => {
    const state = newState();
    const srv = await startServer(state);
    const silent = connect(state.socket);
    silent.on('error', () => undefined);
    await new Promise((r) => silent.once('connect', r));
    srv.proc.kill('SIGTERM');
    const closed = new Promise((r) => silent.once('close', r));
    expect((await srv.proc).exitCode).toBe(0);
    await closed;
    expect(srv.log).toContain('stopped (SIGTERM)');
  });

  it('will not offer a socket in a state directory others can write', async () => {
    const state = newState();
    mkdirSync(state.dir, { mode: 0o700 });
    chmodSync(state.dir, 0o777);
    const srv = spawnServer(state);
    const r = await srv.proc;
    expect(r.exitCode).toBe(1);
    expect(srv.log).toContain(`chmod go-w ${state.dir}`);
    expect(existsSync(state.socket)).toBe(false);
  });
});

describe('netlab serve: what it refuses', { timeout: 60_000 }, () => {
  it("answers a malformed request, another netlab's, or a command no client hands over with an error, runs nothing, and serves on", async () => {
    const state = newState();
    const srv = await startServer(state);
    const marker = join(work, 'ran-by-serve');
    const sent = (o: Record<string, unknown>) => JSON.stringify({ id: identity, args: ['status'], cwd: work, env: {}, ...o });
    const cases: [string, string][] = [
      ['not json', 'not JSON'],
      ['[1]', 'a JSON object'],
      [JSON.stringify({ id: identity, args: ['status'], cwd: '/' }), 'env'],
      [sent({ id: 7 }), 'no id'],
      [sent({ args: ['status', 1] }), 'args'],
      [sent({ args: 'status' }), 'args'],
      [sent({ env: { NETLAB_X: 1 } }), 'env'],
      [sent({ env: ['NETLAB_X'] }), 'env'],
      [sent({ cwd: 'relative/dir' }), 'absolute'],
      [sent({ cwd: '' }), 'absolute'],
      [sent({ id: 'forged' }), 'another netlab'],
      [sent({ args: ['gen', '--hosts', '1', '-o', marker] }), 'runs only'],
      [sent({ args: ['exec', 'lab', 'host', '--', 'sh', '-c', `touch ${marker}`] }), 'runs only'],
      [sent({ args: ['-q', 'serve'] }), 'runs only'],
      [sent({ args: ['--version'] }), 'runs only'],
      [sent({ args: [] }), 'runs only'],
      [sent({ args: ['--bogus', 'validate', small] }), 'runs only'],
    ];
    for (const [line, why] of cases) {
      const got = await raw(state.socket, line);
      expect(
        got.map((f) => f.kind),
        line,
      ).toEqual(['f']);
      expect(got[0]!.payload, line).toContain(why);
    }
    expect(existsSync(marker)).toBe(false);
    const r = await client(state, ['validate', small]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(srv.served()).toHaveLength(1);
    expect(srv.log.match(/refused a request/g)).toHaveLength(cases.length);
  });

  it('cuts off a line longer than MAX_REQUEST_BYTES without keeping it, and serves on', async () => {
    const state = newState();
    const srv = await startServer(state);
    // The peak of the server's resident memory: it can only grow, so a buffer that was ever held shows.
    const peak = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8'))![1]) * 1024;
    const before = peak();
    const total = 32 * MAX_REQUEST_BYTES;
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const s = connect(state.socket);
    const reader = new FrameReader();
    const got: string[] = [];
    s.on('data', (c: Buffer) => got.push(...reader.push(c).map((f) => `${f.kind}:${f.payload.toString()}`)));
    s.on('error', () => undefined);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    let open = true;
    void closed.then(() => (open = false));
    await new Promise((r) => s.once('connect', r));
    let sent = 0;
    while (open && sent < total) {
      sent += chunk.length;
      if (!s.write(chunk)) await Promise.race([new Promise((r) => s.once('drain', r)), closed]);
    }
    if (open) s.end();
    await closed;
    expect(got).toEqual([`f:a line of more than ${MAX_REQUEST_BYTES} bytes`]);
    expect(peak() - before).toBeLessThan(8 * MAX_REQUEST_BYTES);
    const r = await client(state, ['validate', small]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(srv.served()).toHaveLength(1);
  });
});

// ---- the client against a scripted socket ----------------------------------------------------

interface Scripted {
  server: Server;
  requests: Request[];
  lines: string[];
  /** Called with each line after the request. */
  onLine?: (line: string) => void;
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
        } else {
          s.lines.push(line);
          s.onLine?.(line);
        }
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
  mkdirSync(state.dir, { mode: 0o700 });
  const s = await scripted(state.socket, answer);
  // As a server makes it: the client uses no other.
  chmodSync(state.socket, 0o600);
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
      // The client prints what follows the run's beginning: once it has, it knows the run began.
      (socket) => socket.write(Buffer.concat([frame('r'), frame('e', 'begun\n')])),
      async (state, s) => {
        const c = client(state, ['validate', small]);
        await untilOutput(c.stderr, 'begun');
        const line = new Promise((r) => (s.onLine = r));
        c.kill('SIGINT');
        await line;
        expect(s.lines).toEqual([JSON.stringify({ signal: 'SIGINT' })]);
        c.kill('SIGINT');
        expect((await c).exitCode).toBe(130);
      },
    );
  });
});

describe('netlab serve: a socket the client must not trust', { timeout: 60_000 }, () => {
  /** A socket that answers every command with a forged success: what a planted socket would say. */
  const forged = (socket: Socket) =>
    socket.end(Buffer.concat([frame('r'), frame('o', 'sv: applied 9 steps and verified\n'), frame('x', '0')]));

  it('is used only when it is a socket of the same user, 0600, in a directory nobody else can write', async () => {
    // The control: a socket as a server makes it is believed (so the cases below prove the check).
    await withScripted(forged, async (state) => {
      const r = await client(state, ['validate', missing]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('applied 9 steps');
    });
    const cases: [string, (state: ReturnType<typeof newState>) => void, string][] = [
      ['owned by nobody', (st) => chownSync(st.socket, 65534, 65534), 'it belongs to uid 65534, not to uid 0'],
      ['open to others', (st) => chmodSync(st.socket, 0o666), 'its mode is 0666'],
      ['in a directory others can write', (st) => chmodSync(st.dir, 0o777), 'others can replace the socket'],
      ['in a directory of nobody', (st) => chownSync(st.dir, 65534, 65534), `belongs to uid 65534`],
      [
        'a symbolic link to a good socket',
        (st) => {
          const real = `${st.socket}.real`;
          rmSync(real, { force: true });
          execaSync('mv', [st.socket, real]);
          symlinkSync(real, st.socket);
        },
        'it is a symbolic link, not a socket',
      ],
    ];
    for (const [what, spoil, why] of cases) {
      await withScripted(forged, async (state, s) => {
        spoil(state);
        const r = await client(state, ['validate', missing]);
        // It ran the command itself, said once why it ignored the socket and how to fix it, and never connected.
        expect(r.exitCode, what).toBe(1);
        expect(r.stderr, what).toContain('cannot read file');
        expect(r.stdout, what).not.toContain('applied');
        expect(r.stderr.match(/not using the serve socket/g), what).toEqual(['not using the serve socket']);
        expect(r.stderr, what).toContain(`the serve socket ${state.socket}: `);
        expect(r.stderr, what).toContain(why);
        expect(r.stderr, what).toMatch(/rm |chmod go-w|chown|NETLAB_STATE_DIR/);
        expect(s.requests, what).toEqual([]);
      });
    }
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
