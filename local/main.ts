import { Command } from 'commander';
import { runLocalStack } from './up.ts';
import { addLocalStackOptions, type UpOptions } from './up-options.ts';

/** `npm start -- [options]`: the local stack (`ocrq up` runs the same). */
const program = addLocalStackOptions(
  new Command()
    .name('npm start --')
    .description(
      'Runs the whole pipeline on this machine and sends the bundled samples through its public API.',
    ),
).parse();

runLocalStack(program.opts<UpOptions>()).catch((error: unknown) => {
  console.error(error instanceof Error ? `error: ${error.message}` : error);
  process.exit(1);
});
