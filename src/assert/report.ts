// Results of `netlab test` as text, JUnit XML and TAP 13. Pure functions of the results.
import type { SourcePos } from '../lab/types.js';

export interface AssertionResult {
  lab: string;
  /** The assertion as written. */
  text: string;
  pos: SourcePos;
  /** pass; fail: the network did not behave as asserted; error: the assertion could not be run. */
  status: 'pass' | 'fail' | 'error';
  /** What happened, one line. */
  message: string;
  /** More lines (per-connection answers, tool output). */
  details: string[];
  seconds: number;
}

export interface LabResult {
  lab: string;
  file: string;
  /** When the lab as a whole could not be tested (not applied): every assertion is an error. */
  error: string | null;
  results: AssertionResult[];
  seconds: number;
  timestamp: string;
}

export function where(p: SourcePos): string {
  return `${p.file}:${p.line}:${p.col}`;
}

export function counts(labs: LabResult[]): { passed: number; failed: number; errors: number; total: number } {
  const all = labs.flatMap((l) => l.results);
  const passed = all.filter((r) => r.status === 'pass').length;
  const failed = all.filter((r) => r.status === 'fail').length;
  const errors = all.filter((r) => r.status === 'error').length;
  return { passed, failed, errors, total: all.length };
}

/** The human report: one line per assertion, failures with file:line:col and what happened. */
export function formatText(labs: LabResult[], colour: { ok(s: string): string; bad(s: string): string; dim(s: string): string }): string[] {
  const lines: string[] = [];
  for (const l of labs) {
    lines.push(`${l.lab} (${l.file})`);
    if (l.error) lines.push(`  ${colour.bad('ERROR')} ${l.error}`);
    for (const r of l.results) {
      if (r.status === 'pass') {
        lines.push(`  ${colour.ok('ok  ')} ${r.text}  ${colour.dim(`(${r.message})`)}`);
        continue;
      }
      lines.push(`  ${colour.bad(r.status === 'fail' ? 'FAIL' : 'ERR ')} ${where(r.pos)}: ${r.text}`);
      // The lab's own error (not applied) is said once above, not under every assertion.
      if (!(l.error && r.message === l.error)) lines.push(`       ${r.message}`);
      for (const d of r.details) lines.push(`       ${colour.dim(d)}`);
    }
  }
  const c = counts(labs);
  lines.push(`${c.passed} passed, ${c.failed + c.errors} failed`);
  return lines;
}

/** XML 1.0 text: escaped, and characters XML cannot hold at all dropped. */
export function xmlEscape(s: string): string {
  return (
    s
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

const secs = (n: number) => n.toFixed(3);

/** JUnit XML as Jenkins, GitLab and GitHub test reporters read it. */
export function formatJunit(labs: LabResult[], hostname = 'localhost'): string {
  const c = counts(labs);
  const time = labs.reduce((n, l) => n + l.seconds, 0);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="netlab test" tests="${c.total}" failures="${c.failed}" errors="${c.errors}" time="${secs(time)}">`,
  ];
  for (const l of labs) {
    const lc = counts([l]);
    out.push(
      `  <testsuite name="${xmlEscape(l.lab)}" tests="${lc.total}" failures="${lc.failed}" errors="${lc.errors}" skipped="0" time="${secs(l.seconds)}" timestamp="${xmlEscape(l.timestamp)}" hostname="${xmlEscape(hostname)}" file="${xmlEscape(l.file)}">`,
    );
    for (const r of l.results) {
      const head = `    <testcase name="${xmlEscape(r.text)}" classname="${xmlEscape(`netlab.${l.lab}`)}" file="${xmlEscape(r.pos.file)}" line="${r.pos.line}" time="${secs(r.seconds)}"`;
      const body = [`${where(r.pos)}: ${r.text}`, r.message, ...r.details].join('\n');
      if (r.status === 'pass') {
        out.push(`${head}>`, `      <system-out>${xmlEscape(r.message)}</system-out>`, '    </testcase>');
      } else {
        const tag = r.status === 'fail' ? 'failure' : 'error';
        out.push(
          `${head}>`,
          `      <${tag} message="${xmlEscape(r.message)}" type="${r.status === 'fail' ? 'AssertionFailed' : 'AssertionError'}">${xmlEscape(body)}</${tag}>`,
          '    </testcase>',
        );
      }
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

/** A TAP description may not contain an unescaped `#` (it starts a directive). */
function tapDescription(s: string): string {
  return s
    .replace(/\\/g, '\\\\')
    .replace(/#/g, '\\#')
    .replace(/[\r\n]+/g, ' ');
}

/** TAP version 13, with a YAML diagnostic block under every failure. */
export function formatTap(labs: LabResult[]): string {
  const all = labs.flatMap((l) => l.results);
  const out = ['TAP version 13', `1..${all.length}`];
  all.forEach((r, i) => {
    const ok = r.status === 'pass';
    out.push(`${ok ? 'ok' : 'not ok'} ${i + 1} - ${tapDescription(`${r.lab}: ${r.text}`)}`);
    if (ok) return;
    out.push(
      '  ---',
      `  message: ${JSON.stringify(r.message)}`,
      `  severity: ${r.status === 'fail' ? 'fail' : 'error'}`,
      '  at:',
      `    file: ${JSON.stringify(r.pos.file)}`,
      `    line: ${r.pos.line}`,
      `    column: ${r.pos.col}`,
    );
    if (r.details.length) out.push('  details:', ...r.details.map((d) => `    - ${JSON.stringify(d)}`));
    out.push('  ...');
  });
  const c = counts(labs);
  out.push(`# ${c.passed} passed, ${c.failed + c.errors} failed`);
  return `${out.join('\n')}\n`;
}
