// Every golden plan, and plans of every catalogue lab (built from nothing, torn down, changed),
// rendered to the text the real driver sends (`ip`/`bridge`/`tc` batch lines, nft scripts,
// sysctl writes) and `plan -v` shows, held equal to that text as it was when plans still carried
// it (fixtures/rendered.txt, captured before operations became data).
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyLab, planLab } from '../../src/apply/engine.js';
import { FakeDriver } from '../../src/driver/fake.js';
import { operationText } from '../../src/driver/render.js';
import type { Operation } from '../../src/model/operations.js';
import { desiredState } from '../../src/model/desired.js';
import { plan, type Step } from '../../src/plan/plan.js';
import { labOf, useTempStateDir } from './helpers.js';

useTempStateDir();

/**
 * A lab across machines is never planned as one lab: each machine plans and renders its own slice
 * (test/unit/machines-slice.test.ts and lab-two-machines.test.ts hold what the slices contain).
 */
const ACROSS_MACHINES = readdirSync('labs')
  .filter((f) => f.endsWith('.yaml') && lab(`labs/${f}`).machines !== undefined)
  .sort();

function lab(file: string, edit: (t: string) => string = (t) => t) {
  let text = edit(readFileSync(file, 'utf8'));
  if (!/^ {2}db:$/m.test(text)) text = text.replace(/^ {2}- .*\bdb\b.*\n/gm, '');
  return labOf(file, text);
}

function rendered(c: Operation): string[] {
  const out = [`[${c.phase}] ${operationText(c)}`];
  if (c.op === 'nft.replace' || c.op === 'nft.delete') out.push(...c.script.split('\n').map((l) => `      | ${l}`));
  return out;
}

function text(name: string, steps: Step[]): string {
  return [`== ${name}`, ...steps.flatMap((s) => [`${s.op} ${s.title}`, ...s.commands.flatMap(rendered).map((l) => `    ${l}`)])].join('\n');
}

const CHANGES = `name: ch
hosts:
  a:
    interfaces:
      eth0: { addresses: [10.0.0.1/24], mtu: 1500 }
      br0: { kind: bridge, stp: false, vlan_filtering: true }
      p0: { bridge: br0, vlans: { pvid: 10, tagged: [20] } }
      p1: { bridge: br0 }
      e0: { addresses: [10.0.2.1/24] }
  b:
    interfaces:
      eth0: { addresses: [10.0.0.2/24] }
  c:
    interfaces:
      eth0: { link: a:p0, addresses: [10.0.1.2/24] }
  d:
    interfaces:
      eth0: { link: a:p1, addresses: [10.0.1.3/24] }
  e:
    interfaces:
      eth0: { link: a:e0, addresses: [10.0.2.2/24], conditions: { delay: 5ms } }
links:
  - { a: a:eth0, b: b:eth0, conditions: { rate: 5mbit, loss: 1% } }
`;

function changed(t: string): string {
  return t
    .replace('mtu: 1500', 'mtu: 1400, up: false')
    .replace('stp: false', 'stp: true')
    .replace('pvid: 10, tagged: [20]', 'pvid: 20, tagged: [30]')
    .replace('rate: 5mbit, loss: 1%', 'rate: 10mbit, delay: 20ms')
    .replace('p1: { bridge: br0 }', 'p1: { mtu: 1500 }')
    .replace(', conditions: { delay: 5ms }', ', conditions: { rate: 1mbit }');
}

describe('operations rendered to command text', () => {
  it('renders every golden plan, and every catalogue lab made, changed and removed, as before', async () => {
    const parts: string[] = [];
    parts.push(text('docker-bridge create', (await planLab(new FakeDriver(), lab('labs/docker-bridge.yaml'))).plan.steps));
    parts.push(text('k8s-flat create', (await planLab(new FakeDriver(), lab('labs/k8s-flat.yaml'))).plan.steps));
    {
      const d = new FakeDriver();
      await applyLab(d, lab('labs/docker-bridge.yaml'));
      const edited = lab('labs/docker-bridge.yaml', (t) =>
        t
          .replace('eth0: { addresses: [172.17.0.3/16] }', 'eth0: { addresses: [172.17.0.4/16], mtu: 1400 }')
          .replace(/(db:\n[\s\S]*?)- \{ to: default, via: 172.17.0.1 \}/, '$1- { to: default, via: 172.17.0.1, metric: 50 }'),
      );
      parts.push(text('docker-bridge change', (await planLab(d, edited)).plan.steps));
      const smaller = lab('labs/docker-bridge.yaml', (t) =>
        t.replace(/ {2}db:\n( {4}.*\n)+/, '').replace('  - { a: db:eth0, b: host:docker0 }\n', ''),
      );
      parts.push(text('docker-bridge remove-host', (await planLab(d, smaller)).plan.steps));
    }
    const extras = readFileSync('test/unit/processes.test.ts', 'utf8').match(/const LAB = `([\s\S]*?)`;/)![1]!;
    parts.push(text('extras create', plan(desiredState(labOf('ex.yaml', extras)), new Map()).steps));
    for (const f of readdirSync('labs')
      .filter((x) => x.endsWith('.yaml') && x !== 'scale.yaml' && !ACROSS_MACHINES.includes(x))
      .sort()) {
      const s = desiredState(lab(`labs/${f}`));
      parts.push(text(`${f} create`, plan(s, new Map()).steps));
      parts.push(text(`${f} destroy`, plan(new Map(), s).steps));
    }
    const before = desiredState(labOf('ch.yaml', CHANGES));
    const after = desiredState(labOf('ch.yaml', changed(CHANGES)));
    parts.push(text('changes forward', plan(after, before).steps));
    parts.push(text('changes back', plan(before, after).steps));
    await expect(`${parts.join('\n\n')}\n`).toMatchFileSnapshot('fixtures/rendered.txt');
  });

  for (const f of ACROSS_MACHINES) {
    const why = 'a lab across machines is rendered per machine, from its slices';
    it(`labs/${f}: not rendered as one lab (${why})`, (ctx) => {
      console.log(`skipped labs/${f}: ${why}`);
      ctx.skip(why);
    });
  }
});
