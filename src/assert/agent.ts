// The helper `netlab test` runs inside lab namespaces with process.execPath (plain Node, no
// imports beyond node:). Two modes:
//
//   agent.js serve --name HOST [--tcp PORT]... [--udp PORT]... [--lifetime SECONDS]
//     A responder: answers every TCP connection and every UDP datagram with one JSON line
//     {"netlab":"responder","name":HOST} (so a client can count which backend answered). Prints one
//     JSON line {"ready":true,"pid":PID,"failed":[...]} once listening (a port already in use is reported in
//     `failed`, not fatal). Exits on SIGTERM, when its stdin closes (netlab died), or after --lifetime.
//
//   agent.js probe --proto tcp|udp --to ADDRESS --port PORT [--count N] [--timeout MS] [--hold 1] [--retry-silent 1]
//     Makes N attempts one after another and prints {"results":[{"ok":true,"name":"db"} |
//     {"ok":true,"name":null,"answer":"..."} | {"ok":false,"error":"ECONNREFUSED"}]}. With --hold
//     (TCP), each connection once established prints {"connected":I,"port":SOURCE_PORT} and stays
//     open until a line on stdin: `close` ends it at once (netlab told the answering host by its
//     socket), anything else waits for the answer as usual. With several --to (no --hold), probes
//     them all at once and prints {"targets":[RESULTS, ...]}, one list per --to in order: a row of
//     a truth table costs one process instead of one per cell.
import dgram from 'node:dgram';
import net from 'node:net';

type Args = Record<string, string[]>;

/**
 * Exits once what was written to stdout and stderr has reached the pipe: netlab reads the
 * answer from there, and a bare process.exit() drops what Node still holds for a pipe.
 */
function exitWhenFlushed(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

function parse(argv: string[]): Args {
  const out: Args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!.replace(/^--/, '');
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`missing value for ${argv[i]}`);
    (out[k] ??= []).push(v);
  }
  return out;
}

const one = (a: Args, k: string, d?: string): string => {
  const v = a[k]?.[0] ?? d;
  if (v === undefined) throw new Error(`--${k} is required`);
  return v;
};

interface Failure {
  proto: string;
  port: number;
  error: string;
}

async function serve(a: Args): Promise<void> {
  const name = one(a, 'name');
  const answer = `${JSON.stringify({ netlab: 'responder', name })}\n`;
  const closers: (() => void)[] = [];
  let stopping = false;
  const stop = () => {
    // SIGTERM and the end of stdin may both come while the output drains.
    if (stopping) return;
    stopping = true;
    for (const c of closers) c();
    exitWhenFlushed(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  setTimeout(stop, Number(one(a, 'lifetime', '600')) * 1000).unref();
  const failed: Failure[] = [];
  const tcp = (port: number, host: string) =>
    new Promise<void>((resolve, reject) => {
      const srv = net.createServer((sock) => {
        sock.on('error', () => undefined);
        sock.end(answer);
      });
      srv.once('error', reject);
      srv.listen({ port, host, ipv6Only: false }, () => {
        closers.push(() => srv.close());
        resolve();
      });
    });
  const udp = (port: number, type: 'udp4' | 'udp6', host: string) =>
    new Promise<void>((resolve, reject) => {
      const s = dgram.createSocket({ type, ipv6Only: false });
      s.on('message', (_m, peer) => s.send(answer, peer.port, peer.address));
      s.once('error', reject);
      s.bind({ port, address: host }, () => {
        s.removeListener('error', reject);
        s.on('error', () => undefined);
        closers.push(() => s.close());
        resolve();
      });
    });
  // Dual stack where the namespace has IPv6, else IPv4 only.
  const both = async (bind6: () => Promise<void>, bind4: () => Promise<void>) => {
    try {
      await bind6();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT' && (e as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL') throw e;
      await bind4();
    }
  };
  for (const p of (a.tcp ?? []).map(Number)) {
    await both(
      () => tcp(p, '::'),
      () => tcp(p, '0.0.0.0'),
    ).catch((e: NodeJS.ErrnoException) => failed.push({ proto: 'tcp', port: p, error: e.code ?? e.message }));
  }
  for (const p of (a.udp ?? []).map(Number)) {
    await both(
      () => udp(p, 'udp6', '::'),
      () => udp(p, 'udp4', '0.0.0.0'),
    ).catch((e: NodeJS.ErrnoException) => failed.push({ proto: 'udp', port: p, error: e.code ?? e.message }));
  }
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid, failed })}\n`);
}

type Result = { ok: true; name: string | null; answer?: string } | { ok: false; error: string };

function named(data: string): Result {
  try {
    const v = JSON.parse(data.trim().split('\n')[0] ?? '') as { netlab?: string; name?: string };
    if (v.netlab === 'responder' && typeof v.name === 'string') return { ok: true, name: v.name };
  } catch {
    // Not our responder: something else answered.
  }
  return { ok: true, name: null, answer: data.slice(0, 200) };
}

/** The lines netlab writes to a holding probe, one per connection it was told about. */
function stdinLines(): () => Promise<string> {
  const lines: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  let rest = '';
  process.stdin.on('data', (d: Buffer) => {
    rest += d.toString();
    for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  // netlab gone: nobody will answer, so no connection waits for it.
  process.stdin.on('end', () => {
    for (const w of waiting.splice(0)) w('');
  });
  return () => {
    const l = lines.shift();
    return l !== undefined ? Promise.resolve(l) : new Promise((resolve) => waiting.push(resolve));
  };
}

function tcpOnce(host: string, port: number, timeout: number, hold?: { index: number; next: () => Promise<string> }): Promise<Result> {
  return new Promise((resolve) => {
    let data = '';
    let connected = false;
    let done = false;
    // While held, an answer or the server's close is kept until netlab has looked at the sockets.
    let held: Promise<string> = Promise.resolve('');
    const sock = net.connect({ host, port });
    const finish = (r: Result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void held.then(() => {
        sock.destroy();
        resolve(r);
      });
    };
    // Connected but silent until the timeout (a server that waits for the client): reachable all the same.
    const timer = setTimeout(() => finish(connected ? named(data) : { ok: false, error: 'ETIMEDOUT' }), timeout);
    sock.on('connect', () => {
      connected = true;
      if (!hold) return;
      process.stdout.write(`${JSON.stringify({ connected: hold.index, port: sock.localPort })}\n`);
      held = hold.next();
      void held.then((line) => {
        if (line === 'close') finish(named(data));
      });
    });
    sock.on('data', (d) => (data += d.toString()));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(connected ? named(data) : { ok: false, error: e.code ?? e.message }));
    sock.on('end', () => finish(named(data)));
  });
}

function udpOnce(host: string, port: number, timeout: number): Promise<Result> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (r: Result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.close();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, error: 'ETIMEDOUT' }), timeout);
    s.on('message', (m) => finish(named(m.toString())));
    // A connected UDP socket hears ICMP port/host unreachable as ECONNREFUSED/EHOSTUNREACH.
    s.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, error: e.code ?? e.message }));
    s.connect(port, host, () => s.send('netlab?\n'));
  });
}

async function probe(a: Args): Promise<void> {
  const proto = one(a, 'proto');
  const targets = a['to'] ?? [one(a, 'to')];
  const port = Number(one(a, 'port'));
  const count = Number(one(a, 'count', '1'));
  const timeout = Number(one(a, 'timeout', '1000'));
  const hold = proto === 'tcp' && one(a, 'hold', '0') === '1';
  if (hold && targets.length > 1) throw new Error('--hold takes one --to');
  const next = hold ? stdinLines() : null;
  // Hard bound on the whole run, whatever happens.
  setTimeout(() => process.exit(2), count * (timeout + 200) + 2000).unref();
  // With --retry-silent (reaches [...]), a connection that was made but brought nothing at all
  // (reset or closed at once) says nothing of who took it, so it is made once more; a backend
  // that is always silent still shows on the second try.
  const retrySilent = one(a, 'retry-silent', '0') === '1' && !hold;
  const attempt = (host: string, i: number) =>
    proto === 'udp' ? udpOnce(host, port, timeout) : tcpOnce(host, port, timeout, next ? { index: i, next } : undefined);
  const attempts = async (host: string) => {
    const results: Result[] = [];
    for (let i = 0; i < count; i++) {
      let r = await attempt(host, i);
      if (retrySilent && r.ok && r.name === null && r.answer === '') r = await attempt(host, i);
      results.push(r);
    }
    return results;
  };
  const all = await Promise.all(targets.map(attempts));
  process.stdout.write(`${JSON.stringify(targets.length === 1 ? { results: all[0] } : { targets: all })}\n`);
  exitWhenFlushed(0);
}

const [mode, ...rest] = process.argv.slice(2);
try {
  const args = parse(rest);
  if (mode === 'serve') await serve(args);
  else if (mode === 'probe') await probe(args);
  else throw new Error('usage: agent.js serve|probe ...');
} catch (e) {
  process.stderr.write(`netlab agent: ${(e as Error).message}\n`);
  exitWhenFlushed(1);
}
