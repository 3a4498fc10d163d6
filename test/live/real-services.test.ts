// `reaches [HOSTS]` when the DNAT targets run a real service (`run:`), so netlab's responder cannot
// listen there: each answer is credited to the host whose namespace accepted the connection.
import { afterAll, describe, expect, it } from 'vitest';
import { labFile, netlab } from './cli.js';
import { sandboxSkipReason } from './sandbox.js';

const http = (host: string) =>
  `      - { name: http, command: "exec node -e \\"require('http').createServer((q, s) => s.end('${host}\\\\n')).listen(8080)\\"" }`;

// A node port on `lb` spread over a and b, which run HTTP servers; c runs nothing.
const LAB = `name: svc
hosts:
  lb:
    sysctls: { net.ipv4.ip_forward: 1 }
    interfaces:
      br0: { kind: bridge, addresses: [10.0.0.1/24] }
      eth0: { addresses: [192.0.2.1/24] }
    nat:
      services:
        - { name: web, vip: 192.0.2.1, port: 30080, backends: [a:8080, b:8080] }
${['a', 'b', 'c']
  .map(
    (h, i) => `  ${h}:
    interfaces:
      eth0: { addresses: [10.0.0.${i + 2}/24], link: lb:br0 }
    routes:
      - { to: default, via: 10.0.0.1 }
${h === 'c' ? '' : `    run:\n${http(h)}\n`}`,
  )
  .join('')}  client:
    interfaces:
      eth0: { addresses: [192.0.2.100/24], link: lb:eth0 }
    routes:
      - { to: 10.0.0.0/24, via: 192.0.2.1 }
expect:
  - client -> 192.0.2.1:30080 reaches [a, b]
  - client -> 192.0.2.1:30080 reaches [c]
  - client -> a:8080 tcp reachable
`;

describe.skipIf(sandboxSkipReason !== null)('netlab test with real services behind a published port', () => {
  const file = labFile('svc', LAB);
  afterAll(async () => {
    await netlab(['destroy', '--yes', file]);
  });

  it('reaches [a, b] passes, reaches [c] fails naming a and b, reachable names the host', async () => {
    const applied = await netlab(['apply', file]);
    expect(applied.code, applied.all).toBe(0);
    const r = await netlab(['test', '--json', file]);
    expect(r.code, r.all).toBe(1);
    const doc = JSON.parse(r.stdout) as { labs: { results: { text: string; status: string; message: string }[] }[] };
    const [both, wrong, one] = doc.labs[0]!.results;
    expect(both, JSON.stringify(both)).toMatchObject({ status: 'pass' });
    expect(both!.message).toMatch(/^12 connections to tcp 192\.0\.2\.1:30080: (a x6, b x6|b x6, a x6)$/);
    expect(wrong).toMatchObject({ status: 'fail' });
    expect(wrong!.message).toContain('never answered: c; unexpected answers from ');
    expect(wrong!.message).toMatch(/unexpected answers from (a, b|b, a)$/);
    expect(one).toMatchObject({ status: 'pass', message: 'a answered tcp 10.0.0.2:8080 (a)' });
    expect(r.stderr).not.toContain('cannot listen');
  });

  it('right after apply, a server still starting gets its port: the responder does not take it first', async () => {
    // The server listens only 1.5 s after it starts, as a slow one does; apply returns after 0.3 s.
    // Had a responder taken port 8080 first, the server would fail to listen and exit.
    const slow = labFile(
      'slow',
      [
        'name: slow',
        'hosts:',
        '  a:',
        '    interfaces:',
        '      eth0: { addresses: [10.0.1.1/24] }',
        '    run:',
        `      - { name: http, command: "sleep 1.5; exec node -e \\"require('http').createServer((q, s) => s.end('a\\\\n')).listen(8080)\\"" }`,
        '  b:',
        '    interfaces:',
        '      eth0: { addresses: [10.0.1.2/24], link: a:eth0 }',
        'expect:',
        '  - b -> a:8080 tcp reachable',
        // Keeps the responders up well past the server's start: a ping nobody answers.
        '  - b -> 10.0.1.99 unreachable',
        '',
      ].join('\n'),
    );
    try {
      const applied = await netlab(['apply', slow]);
      expect(applied.code, applied.all).toBe(0);
      const r = await netlab(['test', '--timeout', '3s', slow]);
      expect(r.code, r.all).toBe(0);
      // The server is still running: it listened, so nothing is pending.
      const plan = await netlab(['plan', slow]);
      expect(plan.code, plan.all).toBe(0);
    } finally {
      await netlab(['destroy', '--yes', slow]);
    }
  });
});
