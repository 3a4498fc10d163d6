// Printing: plans, errors, tables. Colour follows picocolors (NO_COLOR, --no-color, non-TTY).
import pc from 'picocolors';
import { formatLabIssue, MAX_REPORTED_ISSUES, NetlabError, LabError, specIssueLines, type LabIssue } from '../errors.js';
import { operationText } from '../driver/render.js';
import type { Step } from '../plan/plan.js';
import { counted } from '../words.js';

// eslint-disable-next-line no-control-regex -- the escape character starts a colour sequence
const COLOUR = /\x1b\[[0-9;]*m/g;

/** Text without its colour codes. */
export const stripColour = (s: string): string => s.replace(COLOUR, '');

export const out = {
  quiet: false,
  verbose: false,
  line(text = ''): void {
    if (!this.quiet) process.stdout.write(`${text}\n`);
  },
  info(text: string): void {
    if (!this.quiet) process.stderr.write(`${text}\n`);
  },
  warn(text: string): void {
    process.stderr.write(`${pc.yellow('warning:')} ${text}\n`);
  },
  json(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  },
};

const OP_MARK = { create: pc.green('+'), modify: pc.yellow('~'), delete: pc.red('-') } as const;

export function formatSteps(steps: Step[], verbose: boolean): string[] {
  const width = Math.min(60, Math.max(10, ...steps.map((s) => s.title.length)));
  const lines: string[] = [];
  for (const s of steps) {
    lines.push(`  ${OP_MARK[s.op]} ${s.op.padEnd(6)} ${s.title.padEnd(width)}  ${pc.dim(s.reason)}`);
    // A firewall change is shown rule by rule, always: it is what a reviewer must see.
    for (const r of s.rules ?? []) lines.push(`        ${r.op === '+' ? pc.green('+') : pc.red('-')} ${r.chain}: ${r.rule}`);
    if (verbose) for (const c of s.commands) lines.push(pc.dim(`        ${operationText(c)}`));
  }
  return lines;
}

export function summarise(steps: Step[]): string {
  const n = { create: 0, modify: 0, delete: 0 };
  for (const s of steps) n[s.op]++;
  return `${n.create} to create, ${n.modify} to change, ${n.delete} to delete`;
}

export function stepJson(s: Step) {
  return {
    op: s.op,
    objects: s.objects,
    title: s.title,
    reason: s.reason,
    commands: s.commands.map(operationText),
    ...(s.rules ? { rules: s.rules } : {}),
  };
}

/** The first MAX_REPORTED_ISSUES issues for JSON output (the count of all is beside them). */
export function issuesJson(issues: LabIssue[]) {
  return issues.slice(0, MAX_REPORTED_ISSUES).map((i) => ({ ...i, text: formatLabIssue(i) }));
}

/** Prints an error the way every command does: message, hints, no stack trace. */
export function printError(err: unknown): void {
  if (err instanceof LabError) {
    for (const line of specIssueLines(err.issues)) process.stderr.write(`${pc.red('error:')} ${line}\n`);
    process.stderr.write(`${err.issues.length} error(s); nothing was changed\n`);
    return;
  }
  if (err instanceof NetlabError) {
    process.stderr.write(`${pc.red('error:')} ${err.message}\n`);
    for (const h of err.hints) process.stderr.write(`  ${pc.cyan('hint:')} ${h}\n`);
    return;
  }
  const e = err as Error;
  process.stderr.write(`${pc.red('error:')} ${e?.message ?? String(err)}\n`);
  if (process.env.NETLAB_DEBUG && e?.stack) process.stderr.write(`${e.stack}\n`);
}

/** A pull-request comment: a summary table per lab, then each lab's steps folded. */
export function markdownPlan(plans: { lab: string; plan: { steps: Step[] } }[]): string {
  const lines = ['| lab | create | change | delete |', '|---|---:|---:|---:|'];
  for (const p of plans) {
    const n = { create: 0, modify: 0, delete: 0 };
    for (const s of p.plan.steps) n[s.op]++;
    lines.push(`| ${p.lab} | ${n.create} | ${n.modify} | ${n.delete} |`);
  }
  for (const p of plans) {
    if (!p.plan.steps.length) continue;
    lines.push('', `<details><summary>${p.lab}: ${counted(p.plan.steps.length, 'step')}</summary>`, '', '```diff');
    for (const s of p.plan.steps) {
      lines.push(`${s.op === 'create' ? '+' : s.op === 'delete' ? '-' : '!'} ${s.op} ${s.title} (${s.reason})`);
      for (const r of s.rules ?? []) lines.push(`${r.op}     ${r.chain}: ${r.rule}`);
    }
    lines.push('```', '', '</details>');
  }
  return lines.join('\n');
}
