/**
 * `metabroker completion bash|zsh`: a completion script written from the
 * command tree itself, so that it always knows every command and option.
 * Words after a command's own subcommands fall back to file names.
 */
import type { Command } from 'commander';

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

interface Node {
  /** Command names from the top, joined by spaces ('' for the program). */
  readonly path: string;
  readonly subcommands: string[];
  readonly options: string[];
}

function flagsOf(command: Command): string[] {
  return command.options.flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined));
}

/** Options that take a value: the word after them is that value, not a command. */
function valueOptions(command: Command): string[] {
  return command.options
    .filter((o) => o.required || o.optional)
    .flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined));
}

function walk(command: Command, path: string, globals: readonly string[], out: Node[]): void {
  const subcommands = command.commands.map((c) => c.name());
  out.push({ path, subcommands, options: [...new Set([...flagsOf(command), ...globals, '--help'])] });
  for (const sub of command.commands) walk(sub, path === '' ? sub.name() : `${path} ${sub.name()}`, globals, out);
}

function treeOf(program: Command): { nodes: Node[]; valueOptions: string[]; formats: string[] } {
  const nodes: Node[] = [];
  walk(program, '', flagsOf(program), nodes);
  const all = new Set<string>(valueOptions(program));
  const visit = (c: Command) => {
    for (const flag of valueOptions(c)) all.add(flag);
    c.commands.forEach(visit);
  };
  visit(program);
  const output = program.options.find((o) => o.long === '--output');
  return { nodes, valueOptions: [...all].sort(), formats: output?.argChoices ?? [] };
}

const quote = (words: readonly string[]) => words.join(' ');

function bashScript(program: Command): string {
  const { nodes, valueOptions: takesValue, formats } = treeOf(program);
  const cases = nodes
    .map((n) => `    "${n.path}") commands="${quote(n.subcommands)}"; options="${quote(n.options)}" ;;`)
    .join('\n');
  return `# bash completion for metabroker. Load it with: source <(metabroker completion bash)
# or save it as /etc/bash_completion.d/metabroker
_metabroker() {
  local cur prev word i command_path="" commands="" options=""
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    -o|--output) COMPREPLY=( $(compgen -W "${quote(formats)}" -- "$cur") ); return ;;
    ${takesValue.join('|')}) return ;;
  esac
  # The command path: the words before the cursor that are neither options nor their values.
  for (( i = 1; i < COMP_CWORD; i++ )); do
    word="\${COMP_WORDS[i]}"
    case "$word" in
      ${takesValue.join('|')}) (( i++ )) ;;
      -*) ;;
      *) command_path="\${command_path:+$command_path }$word" ;;
    esac
  done
  case "$command_path" in
${cases}
    *) return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$options" -- "$cur") )
  elif [[ -n "$commands" ]]; then
    COMPREPLY=( $(compgen -W "$commands" -- "$cur") )
  fi
}
complete -o default -F _metabroker metabroker
`;
}

function zshScript(program: Command): string {
  const { nodes, valueOptions: takesValue, formats } = treeOf(program);
  const cases = nodes
    .map((n) => `    ("${n.path}") commands=(${quote(n.subcommands)}); options=(${quote(n.options)}) ;;`)
    .join('\n');
  return `#compdef metabroker
# zsh completion for metabroker. Load it with: source <(metabroker completion zsh)
# or save it as _metabroker in a folder of $fpath
_metabroker() {
  local -a commands options
  local i word command_path=""
  case "\${words[CURRENT-1]}" in
    (-o|--output) compadd -- ${quote(formats)}; return ;;
    (${takesValue.join('|')}) return ;;
  esac
  for (( i = 2; i < CURRENT; i++ )); do
    word="\${words[i]}"
    case "$word" in
      (${takesValue.join('|')}) (( i++ )) ;;
      (-*) ;;
      (*) command_path="\${command_path:+$command_path }$word" ;;
    esac
  done
  case "$command_path" in
${cases}
    (*) _files; return ;;
  esac
  if [[ "\${words[CURRENT]}" == -* ]]; then
    compadd -- "\${options[@]}"
  elif (( \${#commands} > 0 )); then
    compadd -- "\${commands[@]}"
  else
    _files
  fi
}
if (( $+functions[compdef] )); then compdef _metabroker metabroker; fi
`;
}

export function completionScript(program: Command, shell: Shell): string {
  return shell === 'bash' ? bashScript(program) : zshScript(program);
}
