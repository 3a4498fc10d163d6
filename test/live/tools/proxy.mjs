#!/usr/bin/env node
// A userland TCP proxy for live tests, standing for docker-proxy. Plain Node, no dependencies.
//
//   node proxy.mjs --port P --to HOST:PORT [--lifetime SECONDS]
//
// Listens on every address, port P, and relays each connection over a new connection of its own
// to HOST:PORT (so the target sees this host's address, as with docker-proxy). Prints "ready"
// once it listens. Exits after --lifetime seconds (default 60), when stdin closes, or on SIGTERM.
import net from 'node:net';

const args = process.argv.slice(2);
const opt = (k, d) => {
  const i = args.indexOf(k);
  return i >= 0 ? args[i + 1] : d;
};
const port = Number(opt('--port'));
const [host, toPort] = String(opt('--to', '')).split(':');
const lifetime = Number(opt('--lifetime', '60'));
if (!port || !host || !toPort) throw new Error('usage: proxy.mjs --port P --to HOST:PORT');

const server = net.createServer((client) => {
  const upstream = net.connect({ host, port: Number(toPort) });
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.pipe(upstream);
  upstream.pipe(client);
});
const stop = () => {
  server.close();
  process.exit(0);
};
setTimeout(stop, lifetime * 1000).unref();
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
server.listen({ port, host: '0.0.0.0' }, () => process.stdout.write('ready\n'));
