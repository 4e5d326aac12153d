import { constants } from 'node:os';
import type { Logger } from '@aws-lambda-powertools/logger';

type ShutdownSignal = 'SIGTERM' | 'SIGINT';

/** What the shutdown handler needs of a process (the real one, or a test's stand-in). */
export interface SignalTarget {
  on(signal: ShutdownSignal, listener: () => void): unknown;
}

/**
 * Drains on the first SIGTERM or SIGINT and exits with what `drain` resolves to (0 for a clean
 * drain); a second signal, of either kind, exits at once with 128 + its number, as a shell would
 * report it. ECS sends SIGTERM on scale-in, deploys and spot interruptions, then SIGKILL after
 * the task's stopTimeout: the drain must end before that (OCRQ_WORKER_DRAIN_SECONDS < stopTimeout).
 *
 * @example
 * onShutdownSignals(async () => { await worker.close({ graceMs: 110_000 }); return 0; }, { logger });
 */
export function onShutdownSignals(
  drain: (signal: ShutdownSignal) => Promise<number>,
  options: {
    logger: Pick<Logger, 'info' | 'warn'>;
    exit?: (code: number) => void;
    target?: SignalTarget;
  },
): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const target = options.target ?? process;
  let draining = false;
  const handle = (signal: ShutdownSignal) => {
    if (draining) {
      options.logger.warn('second signal while draining: exiting at once', { signal });
      exit(128 + constants.signals[signal]);
      return;
    }
    draining = true;
    options.logger.info('draining before exit', { signal });
    drain(signal).then(exit, (error: unknown) => {
      options.logger.warn('draining failed; exiting', {
        error: error instanceof Error ? error.message : String(error),
      });
      exit(1);
    });
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) target.on(signal, () => handle(signal));
}
