// The CLI as users run it (the built dist/): exit codes and messages of commands that need no
// kernel access. `npm test` builds before running the tiers.
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const NETLAB = join(import.meta.dirname, '../../dist/cli/netlab.js');

// A state directory of the tests' own: the machine's netlab state is never read or written.
const STATE = mkdtempSync(join(tmpdir(), 'netlab-cli-state-'));
afterAll(() => rmSync(STATE, { recursive: true, force: true }));

async function netlab(...args: string[]) {
  const r = await execa('node', [NETLAB, ...args], {
    reject: false,
    env: { NO_COLOR: '1', NETLAB_STATE_DIR: STATE, NETLAB_SERVE: '0' },
    input: '',
  });
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

function tempLab(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'netlab-cli-')), 'lab.yaml');
  writeFileSync(file, text);
  return file;
}

/** The ES modules a run loads (dist/... and node_modules/...), logged by a module hook as they load. */
async function loadedModules(...args: string[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-modules-'));
  const log = join(dir, 'loaded');
  const hook = join(dir, 'hook.mjs');
  const register = join(dir, 'register.mjs');
  // Appended synchronously: the hooks run on their own thread, which may end before a write completes.
  writeFileSync(
    hook,
    `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  appendFileSync(${JSON.stringify(log)}, url + '\\n');\n  return next(url, context);\n}\n`,
  );
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`);
  // Its own state directory: nothing of the machine's netlab state is read or written.
  await execa('node', ['--import', pathToFileURL(register).href, NETLAB, ...args], {
    reject: false,
    input: '',
    env: { NETLAB_STATE_DIR: join(dir, 'state'), NETLAB_SERVE: '0' },
  });
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((u) => /\/(dist|node_modules)\//.test(u))
    .map((u) => u.replace(/^.*?\/(dist|node_modules)\//, '$1/'));
}

describe('netlab CLI', () => {
  it('validate: exit 0 for every example lab', async () => {
    const r = await netlab('validate', 'labs/');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('lab "docker" is valid');
  });

  it('validate: exit 1 with file:line:col, the key and a suggestion', async () => {
    const file = tempLab(
      'name: t\nhosts:\n  web:\n    interfaces:\n      eth0: { addresses: [10.0.0.1/24] }\n  db:\n    interfaces:\n      eth0: {}\nlinks:\n  - { a: wbe:eth0, b: db:eth0 }\n',
    );
    const r = await netlab('validate', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:10:`);
    expect(r.stderr).toMatch(/links\[0\]\.a: .*host "wbe".*did you mean "web"/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it('validate --json lists every issue for machines', async () => {
    const file = tempLab('name: T!\nhosts: {}\n');
    const r = await netlab('validate', '--json', file);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { valid: boolean; issues: { line: number; col: number; message: string }[] };
    expect(doc.valid).toBe(false);
    expect(doc.issues.length).toBeGreaterThanOrEqual(2);
    expect(doc.issues.every((i) => i.line > 0 && i.col > 0)).toBe(true);
  });

  it('writes all of a multi-megabyte answer into a pipe', { timeout: 60_000 }, async () => {
    // A 20,000-host lab printed to stdout: some 3 MB, far more than a pipe holds. (validate
    // reports at most 1,000 problems, so it no longer writes megabytes; the live tier pipes a
    // multi-megabyte JSON plan through cat.)
    const dir = mkdtempSync(join(tmpdir(), 'netlab-pipe-'));
    const env = { NO_COLOR: '1', NETLAB_STATE_DIR: STATE, NETLAB_SERVE: '0' };
    await execa('node', [NETLAB, 'gen', '--hosts', '20000', '-o', join(dir, 'lab.yaml')], { env });
    const r = await execa('sh', ['-c', 'node "$0" gen --hosts 20000 | cat', NETLAB], { reject: false, env });
    expect(r.stdout.length).toBeGreaterThan(2_000_000);
    expect(`${r.stdout}\n`).toBe(readFileSync(join(dir, 'lab.yaml'), 'utf8'));
  });

  it('bad input never gives a stack trace: binary, not YAML, missing file', async () => {
    const binary = tempLab('\u0000\u0001\u0002');
    const notYaml = tempLab('name: [unclosed\n');
    for (const f of [binary, notYaml, '/nonexistent/lab.yaml']) {
      const r = await netlab('validate', f);
      expect(r.code, f).toBe(1);
      expect(r.stderr).toContain(f);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('plan and apply refuse invalid input with exit 1 before touching anything', async () => {
    const file = tempLab('name: t\nhosts:\n  a:\n    netns: root\n');
    for (const cmd of ['plan', 'apply']) {
      const r = await netlab(cmd, file);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/root: true/);
      expect(r.stderr).toContain('nothing was changed');
    }
  });

  it('schema prints the JSON Schema', async () => {
    const r = await netlab('schema');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { $schema: string }).$schema).toContain('2020-12');
  });

  it('help documents the exit codes; an unknown command exits 1', async () => {
    const help = await netlab('apply', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/3 {2}a failure whose rollback did not complete/);
    expect((await netlab('frobnicate')).code).toBe(1);
    expect((await netlab('destroy')).stderr).toContain('name what to destroy');
  });

  it('loads only the code of the command that runs', async () => {
    // The command line itself (here --version, as for --help) loads no command's code: only the
    // entry, the serve client that looks for a server first, and the program's definition.
    const version = await loadedModules('--version');
    expect(
      version.filter(
        (m) =>
          m.startsWith('dist/') && !/^dist\/(cli\/(netlab|client|wire|main|output)|state\/dir|errors|words|driver\/render)\.js$/.test(m),
      ),
    ).toEqual([]);
    // apply without a terminal: its own modules (the engine, the driver), no other command's, no listr2.
    // A lab that does not check: apply loads its modules, and stops before reading the kernel.
    const apply = await loadedModules('apply', '--yes', tempLab('name: t\nhosts: {}\nnot-a-key: 1\n'));
    expect(apply).toEqual(expect.arrayContaining(['dist/cli/apply.js', 'dist/apply/engine.js', 'dist/driver/real.js']));
    const others =
      /^dist\/(cli\/(validate|status|gen|watch|link|capture|logs|labcmds|inspect|graph|test|completion|serve)\.js|assert\/|graph\/)|^node_modules\/listr2\//;
    expect(apply.filter((m) => others.test(m))).toEqual([]);
  });
});
