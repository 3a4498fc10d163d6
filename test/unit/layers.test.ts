// Rules of the code's shape that a reader relies on: failures are typed errors, and layers point
// down (lab -> model -> observe -> plan -> apply -> driver; each knows nothing of those above it).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

/** Relative imports of the files under src/LAYER that reach into one of `banned` (folders or files under src). */
function importsInto(layer: string, banned: string[]): string[] {
  return sources(join('src', layer)).flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/from '(\.\.\/([^']+))'/g)]
      .filter((m) => banned.some((b) => m[2] === `${b}.js` || m[2].startsWith(`${b}/`)))
      .map((m) => `${f}: ${m[1]}`),
  );
}

/** Imports of node I/O modules (or execa) by the files under src/LAYER. */
function ioImports(layer: string): string[] {
  return sources(join('src', layer)).flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/from '((?:node:)?(?:fs|fs\/promises|child_process|net|dgram)|execa)'/g)].map(
      (m) => `${f}: ${m[1]}`,
    ),
  );
}

describe('code shape', () => {
  it('throws only errors of src/errors.ts', () => {
    // agent.ts runs alone inside lab namespaces and imports nothing but node: modules.
    const plain = sources('src')
      .filter((f) => f !== join('src', 'assert', 'agent.ts'))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .flatMap((line, i) => (/\bnew Error\(/.test(line) ? [`${f}:${i + 1}: ${line.trim()}`] : [])),
      );
    expect(plain).toEqual([]);
  });

  it('keeps the driver, the model and the state directory below apply and the CLI', () => {
    expect(['driver', 'model', 'state'].flatMap((layer) => importsInto(layer, ['apply', 'cli']))).toEqual([]);
  });

  it('keeps the model below observation, planning and the driver', () => {
    expect(importsInto('model', ['observe', 'plan', 'driver'])).toEqual([]);
  });

  it('keeps observation below apply, the CLI and the real kernel', () => {
    // The fake and the real driver both hand observation their dumps: it reads the model only.
    expect(importsInto('observe', ['apply', 'cli', 'driver/real'])).toEqual([]);
  });

  it('keeps the planner pure: no I/O, nothing from apply, the CLI or the driver', () => {
    expect([...ioImports('plan'), ...importsInto('plan', ['apply', 'cli', 'driver'])]).toEqual([]);
  });

  it('keeps the model free of I/O: it only computes', () => {
    expect(ioImports('model')).toEqual([]);
  });
});
