import { jobEvent } from '../shared/events.ts';
import { PRIORITIES, type Priority } from '../shared/job.ts';
import { InvalidMessageError, parseWorkMessage } from '../shared/messages.ts';
import { QUEUE_SETTINGS } from '../shared/resources.ts';
import type { Runtime } from '../shared/runtime.ts';

export interface SweepResult {
  /** Dead letters looked at. */
  seen: number;
  /** Jobs this sweep moved to FAILED/MAX_ATTEMPTS (each notified once). */
  failed: number;
}

/** How long a swept dead letter stays hidden: short, so that redrive finds it right after. */
const PEEK_VISIBILITY_SECONDS = 1;

/**
 * Marks the jobs of dead-lettered work FAILED with MAX_ATTEMPTS (keeping the last error) and
 * publishes `job.failed`, leaving the messages in the DLQ for redrive: it peeks rather than
 * consumes. A job already failed is left as it is, so sweeping again changes nothing.
 */
export async function sweepDeadLetters(
  runtime: Runtime,
  options: { maxMessages?: number } = {},
): Promise<SweepResult> {
  const { queue, jobs, events, logger } = runtime;
  const result: SweepResult = { seen: 0, failed: 0 };
  const max = options.maxMessages ?? 500;
  for (const priority of PRIORITIES.filter((p: Priority) => queue.hasDeadLetterQueue(p))) {
    const seenIds = new Set<string>();
    while (result.seen < max) {
      const batch = await queue.receive(priority, {
        dead: true,
        maxMessages: 10,
        waitSeconds: 0,
        visibilitySeconds: PEEK_VISIBILITY_SECONDS,
      });
      const fresh = batch.filter((m) => !seenIds.has(m.messageId));
      // Peeked letters go straight back to visible, so redrive can take them at any time.
      await Promise.all(batch.map((m) => queue.extendVisibility(m, 0).catch(() => undefined)));
      if (fresh.length === 0) break;
      for (const message of fresh) {
        seenIds.add(message.messageId);
        result.seen += 1;
        let work: ReturnType<typeof parseWorkMessage>;
        try {
          work = parseWorkMessage(message.body);
        } catch (error) {
          if (!(error instanceof InvalidMessageError)) throw error;
          logger.error('a dead letter is not a work message; leaving it for inspection', {
            messageId: message.messageId,
          });
          continue;
        }
        const job = await jobs.get(work.tenantId, work.jobId);
        if (!job || job.status === 'FAILED' || job.status === 'SUCCEEDED' || job.status === 'CANCELLED')
          continue;
        const last = job.lastError?.message ?? 'no error was recorded (the worker may have crashed)';
        try {
          const moved = await jobs.transition(job.tenantId, job.jobId, 'FAILED', {
            error: {
              code: 'MAX_ATTEMPTS',
              message: `gave up after ${QUEUE_SETTINGS.maxReceiveCount} attempts; last error: ${last}`,
            },
            finishedAt: new Date().toISOString(),
            expiresAt: Math.floor(Date.now() / 1000) + runtime.config.jobTtlDays * 86_400,
          });
          if (moved.changed) {
            result.failed += 1;
            await events.publish(jobEvent(moved.job, 'job.failed'));
          }
        } catch (error) {
          logger.warn('could not fail a dead-lettered job', { jobId: job.jobId, error: error as Error });
        }
      }
    }
  }
  return result;
}

/** Scheduled (every minute) in AWS; the local stack calls it every second or so. */
export function makeDlqHandler(runtime: Runtime) {
  return async (): Promise<SweepResult> => {
    const result = await sweepDeadLetters(runtime);
    if (result.seen > 0) runtime.logger.info('swept dead letters', { ...result });
    return result;
  };
}
