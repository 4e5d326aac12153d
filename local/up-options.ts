import { type Command, InvalidArgumentError } from 'commander';

/**
 * The local stack's command-line options, shared by `npm start --` (local/main.ts) and
 * `ocrq up`; kept apart from local/up.ts so that defining them loads none of the stack.
 */
export interface UpOptions {
  once?: boolean;
  port: number;
  workers: number;
  providers: string;
  samples: boolean;
  workerEnv?: string;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

/** The DESIGN contract's options (`--once`, `--port N`, `--workers N`) and the rest of `npm start`'s. */
export function addLocalStackOptions(command: Command): Command {
  return command
    .option('--once', 'exit after the samples instead of serving until Ctrl-C')
    .option('--port <n>', 'API port (0 = any free port)', nonNegativeInt, 8080)
    .option(
      '--workers <n>',
      'workers polling the queues in this process (0: none; run them with `npm run worker -- --env-file PATH`)',
      nonNegativeInt,
      1,
    )
    .option('--worker-env <path>', 'where to write the worker environment file (default: a temporary file)')
    .option('--providers <list>', 'execution providers for the engine', 'cpu')
    .option('--no-samples', 'do not send the bundled samples');
}
