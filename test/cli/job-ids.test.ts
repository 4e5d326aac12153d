import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { dashedIdsAsOperands, withDashedIds } from '../../bin/ocrq/job-ids.ts';

/** Job ids that begin with '-' reach the command as ids; options keep their place and values. */
describe('ocrq job ids that begin with a dash', () => {
  const program = new Command().exitOverride();
  const cancel = program
    .command('cancel')
    .argument('<jobIds...>')
    .option('--endpoint <url>')
    .option('--json')
    .addOption(new Option('--format <format>').choices(['json', 'text']))
    .action(() => undefined);
  program.command('ls').option('--limit <n>');
  const dashed = '-vOiljBS95HDe18nfK8qsg';

  it('moves the operands, in order, behind --, with every option and its value before it', () => {
    expect(dashedIdsAsOperands(cancel, ['a', dashed, '--endpoint', '-not-an-id', '--json', 'c'])).toEqual([
      '--endpoint',
      '-not-an-id',
      '--json',
      '--',
      'a',
      dashed,
      'c',
    ]);
    expect(dashedIdsAsOperands(cancel, ['--format=text', dashed, '--', '--x'])).toEqual([
      '--format=text',
      '--',
      dashed,
      '--x',
    ]);
  });

  it('leaves a command line without a dashed id as it was, unknown options included', () => {
    expect(dashedIdsAsOperands(cancel, ['a', '--jsn', '-h', 'b'])).toEqual(['a', '--jsn', '-h', 'b']);
    expect(dashedIdsAsOperands(cancel, ['-abc', 'b'])).toEqual(['-abc', 'b']);
  });

  it('commander then gets the ids as ids and still refuses an unknown option', async () => {
    const seen: string[][] = [];
    cancel.action((ids: string[]) => {
      seen.push(ids);
    });
    const argv = ['node', 'ocrq', 'cancel', dashed, '--json', '-hAAAAAAAAAAAAAAAAAAAA'];
    await program.parseAsync(withDashedIds(program, argv, ['cancel']));
    expect(seen).toEqual([[dashed, '-hAAAAAAAAAAAAAAAAAAAA']]);
    expect(cancel.opts().json).toBe(true);

    await expect(
      program.parseAsync(withDashedIds(program, ['node', 'ocrq', 'cancel', dashed, '--jsn'], ['cancel'])),
    ).rejects.toThrow(/unknown option '--jsn'/);
    // Only the commands named are touched.
    expect(withDashedIds(program, ['node', 'ocrq', 'ls', dashed], ['cancel'])).toEqual([
      'node',
      'ocrq',
      'ls',
      dashed,
    ]);
  });
});
