// A plan shows an nft change rule by rule (text, JSON and markdown), so a reviewer of a GitOps
// pull request sees the firewall change instead of "nft -f -: 20 lines".
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { desiredState } from '../../src/model/desired.js';
import { plan } from '../../src/plan/plan.js';
import { formatSteps, markdownPlan, stepJson, stripColour } from '../../src/cli/output.js';
import { labOf } from './helpers.js';

const docker = readFileSync('labs/docker-bridge.yaml', 'utf8');
const withPublish = docker.replace(
  '- { proto: tcp, port: 8080, to: web:80 }',
  '- { proto: tcp, port: 8080, to: web:80 }\n        - { proto: tcp, port: 5432, to: db:5432 }',
);

describe('nft changes in a plan', () => {
  it('one new publish: the rules it adds, in every format', () => {
    const before = desiredState(labOf('a.yaml', docker));
    const after = desiredState(labOf('b.yaml', withPublish));
    const p = plan(after, before);
    const nft = p.steps.filter((s) => s.objects.some((id) => id.startsWith('nft:')));
    expect(nft).toHaveLength(1);
    const rules = nft[0]!.rules!;
    const added = rules.filter((r) => r.op === '+').map((r) => `${r.chain}: ${r.rule}`);
    expect(
      added.some((r) => r.startsWith('nl_prerouting:') && r.includes('tcp dport 5432 dnat ip to 172.17.0.3:5432')),
      added.join('\n'),
    ).toBe(true);
    // Rules that stay are not listed.
    expect(rules.some((r) => r.rule.includes('oifname "uplink" masquerade'))).toBe(false);
    // Colours are on when CI is set (picocolors): compare the text a reader sees.
    const text = stripColour(formatSteps(p.steps, false).join('\n'));
    expect(text).toMatch(/\+ nl_prerouting: .*tcp dport 5432 dnat ip to 172\.17\.0\.3:5432/);
    expect(markdownPlan([{ lab: 'docker', plan: p }])).toMatch(/\n\+ {5}nl_prerouting: .*dport 5432/);
    expect(stepJson(nft[0]!).rules).toEqual(rules);
  });
  it('a new table lists all its rules as added; a removed table all as removed', () => {
    const lab = desiredState(labOf('a.yaml', docker));
    const created = plan(lab, new Map()).steps.find((s) => s.objects.some((id) => id.startsWith('nft:')))!;
    expect(created.rules!.every((r) => r.op === '+')).toBe(true);
    expect(created.rules!.length).toBeGreaterThan(3);
    const gone = new Map([...lab].filter(([id]) => !id.startsWith('nft:')));
    const removed = plan(gone, lab).steps.find((s) => s.objects.some((id) => id.startsWith('nft:')))!;
    expect(removed.op).toBe('delete');
    expect(removed.rules!.map((r) => r.op)).toEqual(created.rules!.map(() => '-'));
  });
});
