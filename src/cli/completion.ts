// `netlab completion bash|zsh`: a completion script generated from the program itself (so new
// commands and options complete without editing this file). Lab names come from the state
// directory, host names from the lab's state record, files from the shell.
import type { Argument } from '@commander-js/extra-typings';

interface CmdInfo {
  name: string;
  /** Every flag (long and short). */
  flags: string[];
  /** Flags that take a value, with what completes it: choices, `lab`, or `file`. */
  values: { flags: string[]; complete: string[] | 'lab' | 'file' }[];
  /** Positional arguments: kind per position; the last repeats when variadic. */
  args: string[];
  variadic: boolean;
}

type AnyCommand = {
  name(): string;
  commands: readonly AnyCommand[];
  options: readonly {
    short?: string;
    long?: string;
    required: boolean;
    optional: boolean;
    argChoices?: string[];
    attributeName(): string;
  }[];
  registeredArguments: readonly Argument[];
  _hidden?: boolean;
};

function kindOf(argName: string): string {
  if (argName === 'lab') return 'lab';
  if (argName === 'host') return 'host';
  if (argName === 'command') return 'command';
  if (argName === 'shell') return 'shell';
  if (argName === 'endpoint') return 'endpoint';
  if (argName === 'state') return 'state';
  if (argName === 'filter') return 'none';
  return 'file';
}

export function describeProgram(program: AnyCommand): { global: string[]; commands: CmdInfo[] } {
  const flagsOf = (o: AnyCommand['options'][number]) => [o.long, o.short].filter((f): f is string => Boolean(f));
  // commander lists --version among the options already, and --help of every command.
  const unique = (xs: string[]) => [...new Set(xs)];
  const global = unique(program.options.flatMap(flagsOf).concat(['--help', '--version']));
  const commands = program.commands
    .filter((c) => !c._hidden)
    .map((c) => ({
      name: c.name(),
      flags: unique([...c.options.flatMap(flagsOf), '--help']),
      values: c.options
        .filter((o) => o.required || o.optional)
        .map((o) => ({
          flags: flagsOf(o),
          complete: o.argChoices ?? (o.attributeName() === 'lab' ? ('lab' as const) : ('file' as const)),
        })),
      args: c.registeredArguments.map((a) => kindOf(a.name())),
      variadic: c.registeredArguments.some((a) => a.variadic),
    }));
  return { global, commands };
}

const words = (xs: string[]) => xs.join(' ');

export function bashScript(program: AnyCommand): string {
  const { global, commands } = describeProgram(program);
  const cases = commands.map((c) => {
    const valueFlags = c.values.flatMap((v) => v.flags);
    const prevCases = c.values
      .map((v) => {
        const action =
          v.complete === 'lab'
            ? 'COMPREPLY=($(compgen -W "$(_netlab_labs)" -- "$cur"))'
            : v.complete === 'file'
              ? 'COMPREPLY=($(compgen -f -- "$cur"))'
              : `COMPREPLY=($(compgen -W "${words(v.complete)}" -- "$cur"))`;
        return `        ${v.flags.join('|')}) ${action}; return ;;`;
      })
      .join('\n');
    return [
      `    ${c.name})`,
      `      flags="${words([...new Set([...c.flags, ...global])])}"`,
      `      valueflags="${words(valueFlags)}"`,
      `      args="${words(c.args)}"`,
      `      variadic=${c.variadic ? 1 : 0}`,
      `      case "$prev" in`,
      prevCases,
      `      esac ;;`,
    ]
      .filter((l) => l !== '')
      .join('\n');
  });
  return `# netlab completion for bash. Load it with: source <(netlab completion bash)
# or install it: netlab completion bash > /etc/bash_completion.d/netlab
_netlab_labs() {
  local d="\${NETLAB_STATE_DIR:-/run/netlab}" x
  [ -d "$d" ] || return 0
  for x in "$d"/*/; do [ -d "$x" ] && x="\${x%/}" && printf '%s\\n' "\${x##*/}"; done
}
_netlab_hosts() {
  local f="\${NETLAB_STATE_DIR:-/run/netlab}/$1/state.json"
  [ -r "$f" ] || return 0
  grep -o '"name":"[a-z][a-z0-9-]*","ns"' "$f" | cut -d'"' -f4
}
# HOST:IF of every interface the lab's record names (namespaces it created, and altnames in shared ones).
_netlab_endpoints() {
  local f="\${NETLAB_STATE_DIR:-/run/netlab}/$1/state.json" ns ifn host
  [ -r "$f" ] || return 0
  local pairs
  pairs=$(grep -o '"name":"[a-z][a-z0-9-]*","ns":"[^"]*"' "$f" | sed 's/"name":"\\([^"]*\\)","ns":"\\([^"]*\\)"/\\2 \\1/')
  grep -o '"id":"link:[^"]*"' "$f" | sed 's/"id":"link:\\(.*\\)\\/\\(.*\\)"/\\1 \\2/' | while read -r ns ifn; do
    host=$(printf '%s\\n' "$pairs" | awk -v n="$ns" '$1 == n { print $2; exit }')
    [ -n "$host" ] && [ "$ifn" != lo ] && printf '%s:%s\\n' "$host" "$ifn"
  done
  grep -o '"altname":"netlab\\.[^"]*"' "$f" | sed 's/"altname":"netlab\\.[^.]*\\.\\([^.]*\\)\\.\\(.*\\)"/\\1:\\2/'
}
_netlab() {
  # Arrays start at 1 in zsh (bashcompinit), at 0 in bash.
  local o=0
  [ -n "\${ZSH_VERSION:-}" ] && o=1
  local cur="\${COMP_WORDS[COMP_CWORD+o]}" prev="" cmd="" flags="" valueflags="" args="" variadic=0
  local i w pos=0 skip=0 dashdash=0 lab=""
  [ "$COMP_CWORD" -gt 0 ] && prev="\${COMP_WORDS[COMP_CWORD-1+o]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i+o]}"
    if [ -z "$cmd" ]; then
      case "$w" in -*) ;; *) cmd="$w" ;; esac
    fi
  done
  if [ -z "$cmd" ]; then
    case "$cur" in
      -*) COMPREPLY=($(compgen -W "${words(global)}" -- "$cur")) ;;
      *) COMPREPLY=($(compgen -W "${words(commands.map((c) => c.name))}" -- "$cur")) ;;
    esac
    return 0
  fi
  case "$cmd" in
${cases.join('\n')}
    *) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
  esac
  # Which positional argument is being completed: count words after the command, skipping option values.
  local seen=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i+o]}"
    if [ "$seen" = 0 ]; then [ "$w" = "$cmd" ] && seen=1; continue; fi
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    if [ "$dashdash" = 0 ] && [ "$w" = "--" ]; then dashdash=1; continue; fi
    # bash splits HOST:IF at ':' (COMP_WORDBREAKS): the colon and the word after it are one argument.
    if [ "$w" = ":" ]; then skip=1; continue; fi
    if [ "$dashdash" = 0 ]; then
      case "$w" in
        -*) case " $valueflags " in *" $w "*) skip=1 ;; esac; continue ;;
      esac
    fi
    [ "$pos" = 0 ] && lab="$w"
    pos=$((pos + 1))
  done
  if [ "$dashdash" = 0 ]; then
    case "$cur" in -*) COMPREPLY=($(compgen -W "$flags" -- "$cur")); return 0 ;; esac
  fi
  # The word being completed continues an argument split at its colon.
  local joined="$cur"
  if [ "$cur" = ":" ]; then joined="$prev:"; pos=$((pos - 1)); elif [ "$prev" = ":" ]; then joined="\${COMP_WORDS[COMP_CWORD-2+o]}:$cur"; pos=$((pos - 1)); fi
  local -a kinds
  eval "kinds=($args)"
  local n=\${#kinds[@]} kind=""
  if [ "$pos" -lt "$n" ]; then kind="\${kinds[pos+o]}"; elif [ "$variadic" = 1 ] && [ "$n" -gt 0 ]; then kind="\${kinds[n-1+o]}"; fi
  case "$kind" in
    lab) COMPREPLY=($(compgen -W "$(_netlab_labs)" -- "$cur")) ;;
    host) COMPREPLY=($(compgen -W "$(_netlab_hosts "$lab")" -- "$cur")) ;;
    shell) COMPREPLY=($(compgen -W "bash zsh" -- "$cur")) ;;
    state) COMPREPLY=($(compgen -W "up down" -- "$cur")) ;;
    endpoint)
      COMPREPLY=($(compgen -W "$(_netlab_endpoints "$lab")" -- "$joined"))
      # bash puts back what came before the colon: offer only the rest.
      local before="\${joined%"\${joined##*:}"}" k
      for k in "\${!COMPREPLY[@]}"; do COMPREPLY[k]="\${COMPREPLY[k]#"$before"}"; done ;;
    command) [ "$dashdash" = 1 ] && COMPREPLY=($(compgen -c -- "$cur")) || COMPREPLY=($(compgen -W "--" -- "$cur")) ;;
    file) COMPREPLY=($(compgen -f -- "$cur")) ;;
    *) COMPREPLY=() ;;
  esac
  return 0
}
complete -o default -F _netlab netlab
`;
}

export function zshScript(program: AnyCommand): string {
  return `#compdef netlab
# netlab completion for zsh (the bash completion through bashcompinit). Load it with:
#   autoload -Uz compinit && compinit; source <(netlab completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashScript(program).replace(/^# .*\n/gm, '')}`;
}

/** Prints the script for `shell`, generated from the program the command belongs to. */
export function completion(shell: 'bash' | 'zsh', _o: object, cmd: { parent: unknown }): void {
  const program = cmd.parent as AnyCommand;
  process.stdout.write(shell === 'bash' ? bashScript(program) : zshScript(program));
}
