// Truth-table assertions: `expect: - matrix: { from, to, port, protocol, want }`, the way the
// Kubernetes network-policy e2e tests state reachability. `want` has one string per `from` host
// and one character per `to` host: `.` reachable, `X` blocked (spaces between them are ignored).
import type { LabContext } from './context.js';
import type { Path } from './locate.js';
import type { RawMatrixExpect } from './raw.js';
import { firstAddress } from './semantic-nat.js';
import type { MatrixExpectation } from './types.js';

export const MATRIX_EXAMPLE = 'want: ["X..", ".X.", "..."] for 3 from hosts and 3 to hosts';

/** `want` as booleans, or a message saying what is wrong with it (and where: the row index). */
export function parseWant(want: string[], rows: number, cols: number): boolean[][] | { row: number | null; message: string } {
  if (want.length !== rows)
    return { row: null, message: `want has ${want.length} rows but from names ${rows} hosts: one row per from host (${MATRIX_EXAMPLE})` };
  const out: boolean[][] = [];
  for (const [i, text] of want.entries()) {
    const cells = text.replace(/\s+/g, '');
    const bad = /[^.X]/.exec(cells);
    if (bad) return { row: i, message: `"${bad[0]}" is not a cell: write "." for reachable and "X" for blocked` };
    if (cells.length !== cols)
      return { row: i, message: `row ${i + 1} has ${cells.length} cells but to names ${cols} hosts: one cell per to host` };
    out.push([...cells].map((c) => c === '.'));
  }
  return out;
}

export function checkMatrix(ctx: LabContext, raw: RawMatrixExpect, path: Path): void {
  const m = raw.matrix;
  const at: Path = [...path, 'matrix'];
  for (const [i, h] of m.from.entries()) ctx.host(h, [...at, 'from', i]);
  for (const [i, h] of m.to.entries()) {
    const host = ctx.host(h, [...at, 'to', i]);
    if (host && !firstAddress(ctx, host, null)) ctx.report([...at, 'to', i], `host "${h}" has no address to send traffic to`);
  }
  const w = parseWant(m.want, m.from.length, m.to.length);
  if (!Array.isArray(w)) ctx.report(w.row === null ? [...at, 'want'] : [...at, 'want', w.row], w.message);
}

export function normaliseMatrices(ctx: LabContext): MatrixExpectation[] {
  return (ctx.raw.expect ?? []).flatMap((item, i) => {
    if (typeof item === 'string') return [];
    const m = item.matrix;
    return {
      from: m.from,
      to: m.to.map((h) => ({ host: h, address: firstAddress(ctx, ctx.hosts.get(h)!, null)!.toString() })),
      proto: m.protocol ?? 'tcp',
      port: m.port,
      want: parseWant(m.want, m.from.length, m.to.length) as boolean[][],
      pos: ctx.locator.source(['expect', i]),
    };
  });
}
