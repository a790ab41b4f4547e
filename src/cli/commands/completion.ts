import { COMMANDS, MCP_COMMANDS } from '../program.js';
import type { Cli } from '../runtime.js';
import { UsageError } from '../usage.js';

const GLOBAL = [
  '--store',
  '--key-file',
  '--config',
  '--simulator',
  '--json',
  '--no-color',
  '--debug',
  '--help',
  '--version',
];
/**
 * `baton mcp show` completes the ids of MCP connections, from `baton mcp list --json`.
 *
 * Commands whose first argument is a stored connection id, completed from `baton list --json`
 * (in bash, `--prefix` the word typed: the store's index finds ids beyond the first page).
 */
const BY_ID = [
  'reconnect',
  'show',
  'token',
  'request',
  'refresh',
  'revoke',
  'remove',
  'rm',
  'logout',
  'doctor',
];
const BY_PROVIDER = ['connect', 'providers'];
const PROVIDERS = ['checkfront', 'checkbook', 'checkissuing', 'cronofy'];

function bash(): string {
  return `# baton completion for bash: source it, or save it as ~/.local/share/bash-completion/completions/baton
_baton() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd=\${COMP_WORDS[1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${COMMANDS.join(' ')} ${GLOBAL.join(' ')}" -- "$cur"))
    return
  fi
  case "$cur" in -*) COMPREPLY=($(compgen -W "${GLOBAL.join(' ')}" -- "$cur")); return;; esac
  if [ "$COMP_CWORD" -eq 2 ]; then
    case "$cmd" in
      ${BY_ID.join('|')}) COMPREPLY=($(compgen -W "$(baton list --json --prefix "$cur" 2>/dev/null | sed -n 's/^    "id": "\\(.*\\)",$/\\1/p')" -- "$cur"));;
      ${BY_PROVIDER.join('|')}) COMPREPLY=($(compgen -W "${PROVIDERS.join(' ')}" -- "$cur"));;
      config) COMPREPLY=($(compgen -W "get set list" -- "$cur"));;
      completion) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur"));;
      mcp) COMPREPLY=($(compgen -W "${MCP_COMMANDS.join(' ')}" -- "$cur"));;
    esac
  elif [ "$COMP_CWORD" -eq 3 ] && [ "$cmd" = mcp ] && [ "\${COMP_WORDS[2]}" = show ]; then
    COMPREPLY=($(compgen -W "$(baton mcp list --json 2>/dev/null | sed -n 's/^    "id": "\\(.*\\)",$/\\1/p')" -- "$cur"))
  fi
}
complete -F _baton baton
`;
}

function zsh(): string {
  return `#compdef baton
# baton completion for zsh: save it as _baton in a directory of $fpath
_baton() {
  local -a commands
  commands=(${COMMANDS.map((c) => `'${c}'`).join(' ')})
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case $words[2] in
    ${BY_ID.join('|')}) compadd -- \${(f)"$(baton list --json 2>/dev/null | sed -n 's/^    "id": "\\(.*\\)",$/\\1/p')"};;
    ${BY_PROVIDER.join('|')}) compadd -- ${PROVIDERS.join(' ')};;
    config) compadd -- get set list;;
    completion) compadd -- bash zsh fish;;
    mcp)
      if (( CURRENT == 3 )); then compadd -- ${MCP_COMMANDS.join(' ')}
      elif [[ $words[3] == show ]]; then compadd -- \${(f)"$(baton mcp list --json 2>/dev/null | sed -n 's/^    "id": "\\(.*\\)",$/\\1/p')"}
      fi;;
  esac
}
compdef _baton baton
`;
}

function fish(): string {
  const lines = [
    '# baton completion for fish: save it as ~/.config/fish/completions/baton.fish',
    'complete -c baton -f',
    `complete -c baton -n __fish_use_subcommand -a '${COMMANDS.join(' ')}'`,
    `complete -c baton -n '__fish_seen_subcommand_from ${BY_ID.join(' ')}' -a '(baton list --json 2>/dev/null | string match -r -g "^    \\"id\\": \\"(.*)\\",\\$")'`,
    `complete -c baton -n '__fish_seen_subcommand_from ${BY_PROVIDER.join(' ')}' -a '${PROVIDERS.join(' ')}'`,
    "complete -c baton -n '__fish_seen_subcommand_from config' -a 'get set list'",
    "complete -c baton -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'",
    `complete -c baton -n '__fish_seen_subcommand_from mcp; and not __fish_seen_subcommand_from ${MCP_COMMANDS.join(' ')}' -a '${MCP_COMMANDS.join(' ')}'`,
    `complete -c baton -n '__fish_seen_subcommand_from mcp; and __fish_seen_subcommand_from show' -a '(baton mcp list --json 2>/dev/null | string match -r -g "^    \\"id\\": \\"(.*)\\",\\$")'`,
    ...GLOBAL.map((g) => `complete -c baton -l ${g.slice(2)}`),
  ];
  return `${lines.join('\n')}\n`;
}

export async function completion(cli: Cli, shell: string): Promise<void> {
  const scripts: Record<string, () => string> = { bash, zsh, fish };
  const make = scripts[shell];
  if (!make)
    throw new UsageError(
      `No completion for the shell "${shell}".`,
      'Use baton completion bash, zsh or fish.',
    );
  cli.stdout.write(make());
}
