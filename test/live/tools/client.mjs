#!/usr/bin/env node
// A TCP client for live tests. Plain Node, no dependencies.
//
//   node client.mjs --to HOST:PORT [--count N] [--timeout MS]
//
// HOST may be an IPv6 address in brackets ([fd00::1]:80). Makes N connections one after another
// (default 1), each bounded by --timeout (default 2000 ms), reads the one-line JSON answer of
// server.mjs, and prints one JSON document: {"results":[{"ok":true,"reply":{...},"local":"A:P"}
// | {"ok":false,"error":"ETIMEDOUT"}]}. Always exits by itself, with 0 (the results say what happened).
import net from 'node:net';

function parseArgs(argv) {
  const out = { to: '', count: 1, timeout: 2000 };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`missing value for ${k}`);
    if (k === '--to') out.to = v;
    else if (k === '--count') out.count = Number(v);
    else if (k === '--timeout') out.timeout = Number(v);
    else throw new Error(`unknown argument ${k}`);
  }
  const m = /^\[(.+)\]:(\d+)$/.exec(out.to) ?? /^([^:]+):(\d+)$/.exec(out.to);
  if (!m) throw new Error(`--to must be HOST:PORT or [V6]:PORT, got "${out.to}"`);
  return { ...out, host: m[1], port: Number(m[2]) };
}

function once(host, port, timeout) {
  return new Promise((resolve) => {
    let data = '';
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => finish({ ok: false, error: 'ETIMEDOUT' }), timeout);
    let local = '';
    sock.on('connect', () => (local = `${sock.localAddress}:${sock.localPort}`));
    sock.on('data', (d) => (data += d));
    sock.on('error', (e) => finish({ ok: false, error: e.code ?? e.message }));
    sock.on('end', () => {
      try {
        finish({ ok: true, reply: JSON.parse(data.trim()), local });
      } catch {
        finish({ ok: false, error: `bad answer: ${JSON.stringify(data)}` });
      }
    });
  });
}

const opts = parseArgs(process.argv.slice(2));
// Hard bound on the whole run, whatever happens.
setTimeout(() => process.exit(2), opts.count * (opts.timeout + 200) + 1000).unref();
const results = [];
for (let i = 0; i < opts.count; i++) results.push(await once(opts.host, opts.port, opts.timeout));
process.stdout.write(`${JSON.stringify({ results })}\n`);
process.exit(0);
