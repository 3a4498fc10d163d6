#!/usr/bin/env node
// A TCP server for live tests. Plain Node, no dependencies.
//
//   node server.mjs --name NAME --port P [--port P ...] [--host ADDR] [--lifetime SECONDS]
//
// Answers every connection with one JSON line {"name","local","peer"} (the addresses as this
// server sees them) and closes it. Prints "ready" once every port listens. Exits by itself after
// --lifetime seconds (default 60), when its stdin closes, or on SIGTERM.
import net from 'node:net';

function parseArgs(argv) {
  const out = { name: 'server', ports: [], host: '::', lifetime: 60 };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`missing value for ${k}`);
    if (k === '--name') out.name = v;
    else if (k === '--port') out.ports.push(Number(v));
    else if (k === '--host') out.host = v;
    else if (k === '--lifetime') out.lifetime = Number(v);
    else throw new Error(`unknown argument ${k}`);
  }
  if (out.ports.length === 0) throw new Error('at least one --port is needed');
  return out;
}

/** `::ffff:1.2.3.4` (a v4 peer on a dual-stack socket) is reported as `1.2.3.4`. */
function plain(addr) {
  return addr?.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

const opts = parseArgs(process.argv.slice(2));
const servers = [];
const stop = (code) => {
  for (const s of servers) s.close();
  process.exit(code);
};
setTimeout(() => stop(0), opts.lifetime * 1000).unref();
process.on('SIGTERM', () => stop(0));
process.stdin.on('end', () => stop(0));
process.stdin.on('error', () => stop(0));
process.stdin.resume();

function listen(port, host) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((sock) => {
      sock.on('error', () => {});
      const reply = {
        name: opts.name,
        local: `${plain(sock.localAddress)}:${sock.localPort}`,
        peer: `${plain(sock.remoteAddress)}:${sock.remotePort}`,
      };
      sock.end(`${JSON.stringify(reply)}\n`);
    });
    srv.once('error', reject);
    srv.listen({ port, host, ipv6Only: false }, () => resolve(srv));
  });
}

try {
  for (const port of opts.ports) {
    let srv;
    try {
      srv = await listen(port, opts.host);
    } catch (e) {
      // No IPv6 in this namespace: fall back to IPv4 only.
      if (opts.host !== '::' || e.code !== 'EAFNOSUPPORT') throw e;
      srv = await listen(port, '0.0.0.0');
    }
    servers.push(srv);
  }
  process.stdout.write('ready\n');
} catch (e) {
  process.stderr.write(`server: ${e.message}\n`);
  stop(1);
}
