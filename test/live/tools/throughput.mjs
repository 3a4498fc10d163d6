#!/usr/bin/env node
// TCP throughput for live tests, bounded in size and time. Plain Node, no dependencies.
//
//   node throughput.mjs receive --port P [--host ADDR] [--timeout SECONDS]
//   node throughput.mjs send --to ADDR:PORT --bytes N [--timeout SECONDS]
//
// The receiver prints "ready" once it listens, takes one connection, counts what arrives and,
// when the sender closes, prints one JSON line {"bytes","seconds","bitsPerSecond"} measured from
// the first byte to the last (so connection setup and the token bucket's first burst barely
// count). Either side gives up after --timeout seconds (default 30) with exit 2.
import net from 'node:net';

function parseArgs(argv) {
  const [mode, ...rest] = argv;
  const out = { mode, port: 0, host: '0.0.0.0', to: null, bytes: 0, timeout: 30 };
  for (let i = 0; i < rest.length; i += 2) {
    const [k, v] = [rest[i], rest[i + 1]];
    if (v === undefined) throw new Error(`missing value for ${k}`);
    if (k === '--port') out.port = Number(v);
    else if (k === '--host') out.host = v;
    else if (k === '--to') out.to = v;
    else if (k === '--bytes') out.bytes = Number(v);
    else if (k === '--timeout') out.timeout = Number(v);
    else throw new Error(`unknown argument ${k}`);
  }
  if (mode !== 'receive' && mode !== 'send') throw new Error('first argument: receive or send');
  return out;
}

const opts = parseArgs(process.argv.slice(2));
setTimeout(() => {
  process.stderr.write(`${opts.mode}: timed out after ${opts.timeout}s\n`);
  process.exit(2);
}, opts.timeout * 1000).unref();

if (opts.mode === 'receive') {
  const server = net.createServer((sock) => {
    server.close();
    let bytes = 0;
    let first = 0n;
    let last = 0n;
    sock.on('data', (d) => {
      const now = process.hrtime.bigint();
      if (bytes === 0) first = now;
      bytes += d.length;
      last = now;
    });
    sock.on('end', () => {
      const seconds = Number(last - first) / 1e9;
      process.stdout.write(`${JSON.stringify({ bytes, seconds, bitsPerSecond: seconds > 0 ? (bytes * 8) / seconds : 0 })}\n`);
      process.exit(0);
    });
    sock.on('error', (e) => {
      process.stderr.write(`receive: ${e.message}\n`);
      process.exit(1);
    });
  });
  server.listen(opts.port, opts.host, () => process.stdout.write('ready\n'));
} else {
  const [host, port] = [opts.to.slice(0, opts.to.lastIndexOf(':')), Number(opts.to.slice(opts.to.lastIndexOf(':') + 1))];
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const sock = net.connect({ host, port }, () => {
    let left = opts.bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!sock.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return sock.once('drain', pump);
      }
      sock.end();
    };
    pump();
  });
  sock.on('close', () => process.exit(0));
  sock.on('error', (e) => {
    process.stderr.write(`send: ${e.message}\n`);
    process.exit(1);
  });
}
