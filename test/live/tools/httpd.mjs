#!/usr/bin/env node
// A tiny HTTP server for live tests of `run:` processes. Plain Node, no dependencies.
//
//   node httpd.mjs --port P [--name NAME]
//
// Answers every request with one JSON line {"name","peer","pid"} and runs until SIGTERM (unlike
// server.mjs it does not watch stdin: netlab starts processes with stdin on /dev/null).
import http from 'node:http';

const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const port = Number(opt('--port', '8080'));
const name = opt('--name', 'httpd');

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify({ name, peer: req.socket.remoteAddress, pid: process.pid })}\n`);
});
server.listen({ port, host: '0.0.0.0' }, () => process.stdout.write(`listening on ${port}\n`));
process.on('SIGTERM', () => {
  process.stdout.write('SIGTERM: bye\n');
  server.close();
  process.exit(0);
});
