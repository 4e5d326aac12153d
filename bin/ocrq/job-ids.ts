import type { Command } from 'commander';

/**
 * A job id is 22 base64url characters, so one in 64 begins with '-', and commander would take
 * `ocrq cancel -vOiljBS95HDe18nfK8qsg` for an unknown option (or, for `-h…`, a call for help).
 * No option of ours looks like that: a single dash and 21 more id characters.
 */
const DASHED_JOB_ID = /^-[A-Za-z0-9_-]{21}$/;

/**
 * The command line with the operands of `command` moved behind a `--`, in their order, when one
 * of them is a job id that begins with '-'; otherwise `args` unchanged. `args` are the words after
 * the command's name. Options stay where they were, each with its value, so commander still checks
 * them; a word that begins with '-' and is not id-shaped stays an option (an unknown one is still
 * refused).
 */
export function dashedIdsAsOperands(command: Command, args: readonly string[]): string[] {
  const takesValue = new Set<string>();
  for (const option of command.options) {
    if (!option.required && !option.optional) continue;
    if (option.long) takesValue.add(option.long);
    if (option.short) takesValue.add(option.short);
  }
  const options: string[] = [];
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as string;
    if (word === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (DASHED_JOB_ID.test(word) || !word.startsWith('-') || word === '-') {
      operands.push(word);
    } else {
      options.push(word);
      const next = args[i + 1];
      if (takesValue.has(word) && next !== undefined) options.push(args[++i] as string);
    }
  }
  if (!operands.some((word) => word.startsWith('-'))) return [...args];
  return [...options, '--', ...operands];
}

/**
 * `argv` (node, script, words…) with `dashedIdsAsOperands` applied to the words after the name of
 * whichever of `commands` the first word names.
 */
export function withDashedIds(
  program: Command,
  argv: readonly string[],
  commands: readonly string[],
): string[] {
  const [node, script, name, ...rest] = argv;
  const command = program.commands.find((c) => c.name() === name);
  if (node === undefined || script === undefined || !command || !commands.includes(name as string)) {
    return [...argv];
  }
  return [node, script, name as string, ...dashedIdsAsOperands(command, rest)];
}
