// `netlab completion bash|zsh`: the script is generated from the program, completes commands,
// options, option values, lab names (state directory) and host names (state record).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bashScript, describeProgram, zshScript } from '../../src/cli/completion.js';
import { buildProgram } from '../../src/cli/main.js';

const program = buildProgram() as unknown as Parameters<typeof bashScript>[0];
const state = mkdtempSync(join(tmpdir(), 'netlab-completion-'));
for (const lab of ['docker', 'k8s']) mkdirSync(join(state, lab));
writeFileSync(
  join(state, 'docker', 'state.json'),
  JSON.stringify({
    lab: 'docker',
    desired: [
      { kind: 'link', id: 'link:docker-web/eth0', ns: 'docker-web', ifname: 'eth0' },
      { kind: 'link', id: 'link:docker-web/lo', ns: 'docker-web', ifname: 'lo' },
      { kind: 'link', id: 'link:docker-db/eth0', ns: 'docker-db', ifname: 'eth0' },
      { kind: 'link', id: 'link:/nl0a1b2c3d', ns: '', ifname: 'nl0a1b2c3d', altname: 'netlab.docker.gw.uplink' },
    ],
    hosts: [
      { name: 'db', ns: 'docker-db' },
      { name: 'web', ns: 'docker-web' },
    ],
  }),
);
const dir = mkdtempSync(join(tmpdir(), 'netlab-completion-script-'));
const bashFile = join(dir, 'netlab.bash');
writeFileSync(bashFile, bashScript(program));

/** Completes the last word of `line` (a trailing space starts a new, empty word) in bash. */
function complete(line: string): string[] {
  const script = `source "$1"; read -ra COMP_WORDS <<< "$2"; [[ "$2" == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _netlab; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', script, '_', bashFile, line], { encoding: 'utf8', env: { ...process.env, NETLAB_STATE_DIR: state } });
  expect(r.stderr).toBe('');
  return r.stdout.split('\n').filter(Boolean);
}

describe('completion', () => {
  it('knows every command and its options from the program', () => {
    const d = describeProgram(program);
    expect(d.commands.map((c) => c.name)).toEqual(
      expect.arrayContaining(['apply', 'exec', 'shell', 'inspect', 'graph', 'test', 'completion']),
    );
    expect(d.commands.find((c) => c.name === 'exec')!.args).toEqual(['lab', 'host', 'command']);
    expect(d.global).toEqual(expect.arrayContaining(['--quiet', '-q', '--verbose', '-v']));
  });

  it('bash: HOST:IF endpoints of link and capture from the record, split at the colon as bash does', () => {
    expect(complete('netlab link docker ')).toEqual(['web:eth0', 'db:eth0', 'gw:uplink']);
    expect(complete('netlab capture docker w')).toEqual(['web:eth0']);
    // `web:<TAB>`: bash gives the words "web" and ":"; `web:e<TAB>`: "web", ":", "e".
    expect(complete('netlab link docker web :')).toEqual(['eth0']);
    expect(complete('netlab link docker web : e')).toEqual(['eth0']);
    expect(complete('netlab link docker web : eth0 ')).toEqual(['up', 'down']);
    expect(complete('netlab capture docker web : eth0 ')).toEqual([]);
  });

  it('bash: every option once', () => {
    const flags = /flags="([^"]*)"/.exec(bashScript(program).split('    apply)')[1]!)![1]!.split(' ');
    expect(flags.length).toBe(new Set(flags).size);
    expect(flags).toContain('--help');
  });

  it('bash: commands, options, choices, labs and hosts', () => {
    expect(complete('netlab ins')).toEqual(['inspect']);
    expect(complete('netlab -q insp')).toEqual(['inspect']);
    expect(complete('netlab apply --dr')).toEqual(['--dry-run']);
    expect(complete('netlab graph --format ')).toEqual(['mermaid', 'dot', 'svg', 'json']);
    expect(complete('netlab completion ')).toEqual(['bash', 'zsh']);
    expect(complete('netlab exec ')).toEqual(['docker', 'k8s']);
    expect(complete('netlab inspect d')).toEqual(['docker']);
    expect(complete('netlab status --lab ')).toEqual(['docker', 'k8s']);
    expect(complete('netlab destroy --lab k')).toEqual(['k8s']);
    expect(complete('netlab exec docker ')).toEqual(['db', 'web']);
    expect(complete('netlab shell docker w')).toEqual(['web']);
    expect(complete('netlab exec --file x.yaml docker ')).toEqual(['db', 'web']);
    expect(complete('netlab exec docker web ')).toEqual(['--']);
    expect(complete('netlab exec docker web -- prin')).toContain('printf');
  });

  it.skipIf(spawnSync('zsh', ['--version']).status !== 0)('zsh: the script parses and completes through bashcompinit', () => {
    const zshFile = join(dir, 'netlab.zsh');
    writeFileSync(zshFile, zshScript(program));
    expect(spawnSync('zsh', ['-n', zshFile]).status).toBe(0);
    const script = `autoload -U compinit && compinit -u; source "$1"; COMP_WORDS=(netlab exec docker ""); COMP_CWORD=3; _netlab; print -l -- $COMPREPLY`;
    const r = spawnSync('zsh', ['-f', '-c', script, '_', zshFile], { encoding: 'utf8', env: { ...process.env, NETLAB_STATE_DIR: state } });
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['db', 'web']);
  });
});
