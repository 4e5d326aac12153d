import type { Context, S3Event } from 'aws-lambda';
import { decodeS3Key, ingestObject } from '../ingest/ingest.ts';
import { deadlineOf } from '../shared/deadline.ts';
import type { Job } from '../shared/job.ts';
import { PRIORITIES } from '../shared/job.ts';
import { movedOn } from '../shared/lifecycle.ts';
import { objectKeys } from '../shared/resources.ts';
import type { Runtime } from '../shared/runtime.ts';

export interface ReconcileOptions {
  /** A QUEUED job whose messages were not recorded as sent this long after queuing is sent again. */
  unsentAfterSeconds?: number;
  /**
   * A PROCESSING job without progress this long, on a queue with nothing waiting, has lost its
   * messages: its unfinished chunks are sent again. Must exceed the longest retry backoff plus a
   * message's visibility, so a message that is only backing off is not taken for lost.
   */
  stalledAfterSeconds?: number;
  /** Resends of a stalled job before it fails with STALLED. */
  maxResends?: number;
  /** A settled job whose event is still unpublished this long after settling gets it published. */
  unannouncedAfterSeconds?: number;
  /** Reads of an ingest failure before its job fails (the event cannot be taken in). */
  maxIngestAttempts?: number;
  /** How long an ingest failure that failed again stays hidden before the next try. */
  ingestRetrySeconds?: number;
  /** Jobs looked at per queue and kind in one run. */
  limit?: number;
  /** Epoch ms by which the run stops (a Lambda's remaining time less a margin). */
  deadline?: number;
  now?: Date;
}

export interface ReconcileResult {
  /** QUEUED jobs whose messages were sent now. */
  enqueued: number;
  /** Stalled PROCESSING jobs whose unfinished chunks were sent again. */
  resent: number;
  /** Jobs failed: STALLED, or an upload ingest could never take in. */
  failed: number;
  /** Failed S3 events taken in again (queued, refused with a code, or found done). */
  ingested: number;
  /** Settled jobs whose event had not been published (a publish that failed), published now. */
  announced: number;
}

export const RECONCILE_DEFAULTS = {
  unsentAfterSeconds: 120,
  stalledAfterSeconds: 30 * 60,
  maxResends: 2,
  maxIngestAttempts: 5,
  unannouncedAfterSeconds: 60,
  ingestRetrySeconds: 60,
  limit: 100,
} as const;

/**
 * Finds the jobs that no message will move any more and moves them: a job is never left
 * waiting for work that is not on a queue.
 * - QUEUED without `enqueuedAt` (ingest or a requeue died between the status and the send):
 *   its unfinished chunks are sent.
 * - PROCESSING without progress past a bound while its queue has nothing waiting (so none of
 *   its messages can still be queued behind others): its unfinished chunks are sent again, and
 *   after `maxResends` the job fails with STALLED.
 * - S3 events ingest gave up on (its failure queue): taken in again; one that keeps failing
 *   fails its job with PROCESSING_ERROR rather than leave it AWAITING_UPLOAD.
 * - Settled jobs whose event was never published (the publish failed after the status was
 *   written): published now.
 * Everything it does is safe to repeat; a run that stops at its deadline is continued by the next.
 */
export async function reconcile(runtime: Runtime, options: ReconcileOptions = {}): Promise<ReconcileResult> {
  const o = { ...RECONCILE_DEFAULTS, ...options };
  const now = options.now ?? new Date();
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
  const result: ReconcileResult = { enqueued: 0, resent: 0, failed: 0, ingested: 0, announced: 0 };
  const { jobQueries, lifecycle, queue, logger } = runtime;
  const before = (seconds: number) => new Date(now.getTime() - seconds * 1000).toISOString();

  for (const priority of PRIORITIES) {
    for (const job of await jobQueries.unsentQueued(priority, before(o.unsentAfterSeconds), o.limit)) {
      if (Date.now() >= deadline) return result;
      await settle(runtime, job, async () => {
        await lifecycle.enqueue(job);
        result.enqueued += 1;
      });
    }
    const depth = await queue.depth(priority);
    // Work still waiting may include this job's chunks: nothing is lost until the queue drains.
    if (depth.visible + depth.delayed > 0) continue;
    for (const job of await jobQueries.stalledProcessing(priority, before(o.stalledAfterSeconds), o.limit)) {
      if (Date.now() >= deadline) return result;
      await settle(runtime, job, async () => {
        const resends = await runtime.jobs.recordResend(job.tenantId, job.jobId);
        if (resends > o.maxResends) {
          const minutes = Math.round(o.stalledAfterSeconds / 60);
          const { changed } = await lifecycle.fail(job.tenantId, job.jobId, {
            code: 'STALLED',
            message: `no progress for ${minutes} minutes after its unfinished pages were sent again ${o.maxResends} times`,
          });
          if (changed) result.failed += 1;
          return;
        }
        await lifecycle.resend(job);
        result.resent += 1;
      });
    }
  }

  for (const job of await jobQueries.unannounced(before(o.unannouncedAfterSeconds), o.limit)) {
    if (Date.now() >= deadline) return result;
    await settle(runtime, job, async () => {
      await lifecycle.announce(job);
      result.announced += 1;
    });
  }

  const failures = runtime.ingestFailures;
  const tried = new Set<string>();
  while (failures && Date.now() < deadline) {
    const records = (await failures.receive(10, o.ingestRetrySeconds)).filter((r) => !tried.has(r.messageId));
    // Each record is tried once a run; one that failed again waits for the next run.
    if (records.length === 0) break;
    for (const record of records) {
      tried.add(record.messageId);
      const keys = s3KeysOf(record.body);
      try {
        for (const key of keys) await ingestObject(runtime, key);
        result.ingested += keys.length;
        await failures.delete(record);
      } catch (error) {
        logger.warn('an upload still cannot be taken in', {
          keys,
          attempt: record.receiveCount,
          error: error as Error,
        });
        if (record.receiveCount < o.maxIngestAttempts) continue;
        result.failed += await failUploads(runtime, keys, error);
        await failures.delete(record);
      }
    }
  }
  if (result.enqueued + result.resent + result.failed + result.ingested + result.announced > 0)
    logger.info('reconciled jobs that no message would move', { ...result });
  return result;
}

/** Runs one job's repair; a job that moved on meanwhile needs none, other errors wait for the next run. */
async function settle(runtime: Runtime, job: Job, repair: () => Promise<void>): Promise<void> {
  try {
    await repair();
  } catch (error) {
    if (movedOn(error)) return;
    runtime.logger.error('could not reconcile a job; the next run tries again', {
      jobId: job.jobId,
      status: job.status,
      error: error as Error,
    });
  }
}

/** The object keys of a failure record: Lambda's destination record wraps the S3 event it was given. */
export function s3KeysOf(body: string): string[] {
  try {
    const record = JSON.parse(body) as { requestPayload?: S3Event } & Partial<S3Event>;
    const event = record.requestPayload ?? record;
    return (event.Records ?? []).map((r) => decodeS3Key(r.s3.object.key));
  } catch {
    return [];
  }
}

async function failUploads(runtime: Runtime, keys: string[], error: unknown): Promise<number> {
  let failed = 0;
  for (const key of keys) {
    const ids = objectKeys.parseInput(key);
    if (!ids) continue;
    const { tenantId, jobId } = ids;
    try {
      const { changed } = await runtime.lifecycle.fail(tenantId, jobId, {
        code: 'PROCESSING_ERROR',
        message: `the upload could not be taken in: ${error instanceof Error ? error.message : String(error)}`,
      });
      if (changed) failed += 1;
    } catch (failError) {
      if (!movedOn(failError)) throw failError;
    }
  }
  return failed;
}

/** Scheduled every few minutes in AWS (never overlapping itself); the local stack runs it on a timer. */
export function makeReconcilerHandler(runtime: Runtime, options: ReconcileOptions = {}) {
  return async (
    _event?: unknown,
    context?: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<ReconcileResult> => {
    const deadline = deadlineOf(runtime.config, context);
    return reconcile(runtime, { ...options, ...(deadline ? { deadline } : {}) });
  };
}
