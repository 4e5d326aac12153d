import type { Context } from 'aws-lambda';
import type { ReceivedMessage } from '../shared/adapters/work-queue.ts';
import { deadlineOf } from '../shared/deadline.ts';
import { isTerminal, PRIORITIES, type Priority } from '../shared/job.ts';
import { movedOn } from '../shared/lifecycle.ts';
import { InvalidMessageError, parseWorkMessage } from '../shared/messages.ts';
import { QUEUE_SETTINGS } from '../shared/resources.ts';
import type { Runtime } from '../shared/runtime.ts';

export interface SweepResult {
  /** Dead letters looked at. */
  seen: number;
  /** Jobs this sweep moved to FAILED/MAX_ATTEMPTS (each notified once). */
  failed: number;
  /** Letters of attempts that a requeue since made obsolete (removed). */
  obsolete: number;
  /** True when the sweep stopped at its time or size budget with letters left to read. */
  truncated: boolean;
}

export interface SweepOptions {
  /** Most letters read in one sweep. */
  maxMessages?: number;
  /** Epoch ms by which the sweep stops reading (a Lambda's remaining time less a margin). */
  deadline?: number;
}

/** How long a letter stays hidden while one sweep runs; all are made visible again at its end. */
const HOLD_SECONDS = 60;

/**
 * Marks the jobs of dead-lettered work FAILED with MAX_ATTEMPTS (keeping the last error) and
 * publishes `job.failed`, leaving the letters for redrive: it peeks rather than consumes. A
 * job already failed is left as it is, so sweeping again changes nothing. A letter sent before
 * its job's last requeue belongs to an attempt that is over (the requeue sent that chunk again)
 * and is removed instead of failing the job a second time.
 */
export async function sweepDeadLetters(runtime: Runtime, options: SweepOptions = {}): Promise<SweepResult> {
  const { queue } = runtime;
  const result: SweepResult = { seen: 0, failed: 0, obsolete: 0, truncated: false };
  const max = options.maxMessages ?? 1000;
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
  const spent = () => result.seen >= max || Date.now() >= deadline;
  for (const priority of PRIORITIES.filter((p: Priority) => queue.hasDeadLetterQueue(p))) {
    if (spent()) {
      result.truncated = true;
      continue;
    }
    const held: ReceivedMessage[] = [];
    try {
      for await (const batch of queue.deadLetterBatches(priority, { holdSeconds: HOLD_SECONDS })) {
        for (const message of batch) {
          result.seen += 1;
          const verdict = await sweepLetter(runtime, message);
          if (verdict === 'failed') result.failed += 1;
          if (verdict === 'obsolete') {
            await queue.delete(message);
            result.obsolete += 1;
          } else held.push(message);
        }
        if (spent()) {
          result.truncated = true;
          break;
        }
      }
    } finally {
      // Redrive may take any of them from now on.
      await queue.release(held);
    }
  }
  return result;
}

async function sweepLetter(
  runtime: Runtime,
  message: ReceivedMessage,
): Promise<'failed' | 'obsolete' | 'kept'> {
  const { jobs, lifecycle, logger } = runtime;
  let work: ReturnType<typeof parseWorkMessage>;
  try {
    work = parseWorkMessage(message.body);
  } catch (error) {
    if (!(error instanceof InvalidMessageError)) throw error;
    logger.error('a dead letter is not a work message; leaving it for inspection', {
      messageId: message.messageId,
    });
    return 'kept';
  }
  const job = await jobs.get(work.tenantId, work.jobId);
  if (!job || isTerminal(job.status)) return 'kept';
  if (job.queuedAt && work.enqueuedAt < job.queuedAt) return 'obsolete';
  if (job.chunksDone?.has(work.chunk.index)) return 'obsolete';
  const last = job.lastError?.message ?? 'no error was recorded (the worker may have crashed)';
  try {
    const { changed } = await lifecycle.fail(job.tenantId, job.jobId, {
      code: 'MAX_ATTEMPTS',
      message: `gave up after ${QUEUE_SETTINGS.maxReceiveCount} deliveries; last error: ${last}`,
    });
    return changed ? 'failed' : 'kept';
  } catch (error) {
    if (!movedOn(error)) throw error;
    return 'kept';
  }
}

/**
 * Scheduled (every minute) in AWS, with a reserved concurrency of one so runs never overlap; the
 * local stack calls it every few seconds. It stops at its time budget; the next run goes on.
 */
export function makeDlqHandler(runtime: Runtime) {
  return async (
    _event?: unknown,
    context?: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<SweepResult> => {
    const deadline = deadlineOf(runtime.config, context);
    const result = await sweepDeadLetters(runtime, deadline ? { deadline } : {});
    if (result.seen > 0) runtime.logger.info('swept dead letters', { ...result });
    return result;
  };
}
