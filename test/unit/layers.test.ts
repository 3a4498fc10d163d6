// Rules of the code's shape that a reader relies on: failures are typed errors, and layers point
// down (the driver, the model and the state directory know nothing of apply or the CLI).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
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
    const upward = ['driver', 'model', 'state'].flatMap((layer) =>
      sources(join('src', layer)).flatMap((f) =>
        [...readFileSync(f, 'utf8').matchAll(/from '(\.\.\/(?:apply|cli)\/[^']+)'/g)].map((m) => `${f}: ${m[1]}`),
      ),
    );
    expect(upward).toEqual([]);
  });

  it('keeps the model free of I/O: it only computes', () => {
    const io = sources(join('src', 'model')).flatMap((f) =>
      [...readFileSync(f, 'utf8').matchAll(/from '((?:node:)?(?:fs|fs\/promises|child_process|net|dgram)|execa)'/g)].map(
        (m) => `${f}: ${m[1]}`,
      ),
    );
    expect(io).toEqual([]);
  });
});
