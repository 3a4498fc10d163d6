// Truth-table assertions (`expect: - matrix:`): every cell probed concurrently, and the table
// printed as the Kubernetes network-policy e2e tests print theirs: rows are sources, columns
// destinations, `.` reachable, `X` blocked, `*` after each cell that differs from `want`.
import type { MatrixExpectation } from '../lab/types.js';
import type { AssertionResult } from './report.js';

/** The text of a matrix assertion, for reports. */
export function matrixText(m: MatrixExpectation): string {
  return `matrix ${m.from.length}x${m.to.length} ${m.proto}/${m.port}`;
}

const cell = (ok: boolean | null) => (ok === null ? '?' : ok ? '.' : 'X');

/** Lines of a table of `got` (null = not probed), each cell marked `*` where it differs from `want`. */
export function formatMatrix(from: string[], to: string[], want: boolean[][], got: (boolean | null)[][]): string[] {
  const width = Math.max(...from.map((f) => f.length), 0);
  const colWidth = Math.max(...to.map((t) => t.length), 2);
  const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - s.length));
  const lines = [`${pad('', width)}  ${to.map((t) => pad(t, colWidth)).join(' ')}`.trimEnd()];
  from.forEach((f, i) => {
    const cells = to.map((_, j) => pad(`${cell(got[i]![j]!)}${got[i]![j] !== want[i]![j] ? '*' : ''}`, colWidth));
    lines.push(`${pad(f, width)}  ${cells.join(' ')}`.trimEnd());
  });
  return lines;
}

/** The cells that differ from `want`. */
export function mismatches(want: boolean[][], got: (boolean | null)[][]): number {
  return want.reduce((n, row, i) => n + row.filter((w, j) => got[i]![j] !== w).length, 0);
}

/** What a truth table's observed cells (`got`, null = not probed) say against its `want`. */
export function judgeMatrix(
  m: Pick<MatrixExpectation, 'from' | 'to' | 'want'>,
  got: (boolean | null)[][],
): Omit<AssertionResult, 'lab' | 'text' | 'pos' | 'seconds'> {
  const bad = mismatches(m.want, got);
  const cells = m.from.length * m.to.length;
  if (bad === 0) return { status: 'pass', message: `${cells} cells as expected`, details: [] };
  return {
    status: 'fail',
    message: `${bad} of ${cells} cells differ from want (observed below, * = differs; . reachable, X blocked)`,
    details: formatMatrix(
      m.from,
      m.to.map((t) => t.host),
      m.want,
      got,
    ),
  };
}

/** Runs `tasks` with at most `limit` at once, results in order. */
export async function pooled<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return out;
}
