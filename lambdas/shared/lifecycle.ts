import type { JobPatch, TransitionResult } from './adapters/job-store.ts';
import { InvalidTransitionError } from './errors.ts';
import { type JobEventType, jobEvent, wantsProgress, webhookWants } from './events.ts';
import type { Job, JobError, Priority } from './job.ts';
import { chunkMessages, parseWorkMessage } from './messages.ts';
import type { Runtime } from './runtime.ts';

/** What the lifecycle needs of the runtime (so the runtime can build it before it is complete). */
export type LifecycleDeps = Pick<Runtime, 'jobs' | 'queue' | 'events' | 'logger' | 'config'> & {
  /** Counts job outcomes (EMF in AWS, Prometheus locally); optional for tests that do not care. */
  onOutcome?: (outcome: 'succeeded' | 'failed' | 'cancelled', error?: JobError) => void;
};

export interface RequeueResult {
  job: Job;
  /** Work messages sent: one per unfinished chunk. */
  sent: number;
  /** Dead letters of the job removed from the dead-letter queues. */
  deadLettersRemoved: number;
}

/**
 * The rules of a job's life that several steps share, written once: how a job ends (FAILED,
 * SUCCEEDED, CANCELLED: finish time, TTL, one event), and how it goes (back) onto a queue
 * (QUEUED, every unfinished chunk sent, `enqueuedAt` recorded, `job.queued` once). Ingest, the
 * worker, the dead-letter sweep, cancel, retry, redrive and the reconciler all call these.
 *
 * Each method throws what the store throws (throttling, network): callers that settle a queue
 * message delete it only after the call returned, so a failed write means a redelivery, never
 * a job left without a message. A job that has already moved on answers `changed: false`
 * (already there) or {@link InvalidTransitionError} (elsewhere), as `JobStore.transition` does.
 *
 * @example
 * const { changed } = await runtime.lifecycle.fail(tenantId, jobId, { code: 'INVALID_INPUT', message });
 * if (changed) logger.info('job failed');
 */
export class JobLifecycle {
  constructor(private readonly deps: LifecycleDeps) {}

  /** Epoch seconds at which a job settled now may be removed by the table's TTL. */
  expiresAt(now = Date.now()): number {
    return Math.floor(now / 1000) + this.deps.config.jobTtlDays * 86_400;
  }

  /** FAILED with `error`, a TTL and `job.failed` (once, whoever gets there first). */
  async fail(
    tenantId: string,
    jobId: string,
    error: JobError,
    patch: JobPatch = {},
  ): Promise<TransitionResult> {
    const now = new Date();
    const result = await this.deps.jobs.transition(tenantId, jobId, 'FAILED', {
      ...patch,
      error,
      finishedAt: now.toISOString(),
      expiresAt: this.expiresAt(now.getTime()),
    });
    if (result.changed) {
      await this.announce(result.job);
      this.deps.onOutcome?.('failed', error);
      this.deps.logger.info('job failed', { jobId, tenantId, ...error });
    }
    return result;
  }

  /** SUCCEEDED with the result's keys, a TTL and `job.succeeded` (once). */
  async succeed(job: Job, result: NonNullable<Job['result']>, pagesDone: number): Promise<TransitionResult> {
    const now = new Date();
    const settled = await this.deps.jobs.transition(job.tenantId, job.jobId, 'SUCCEEDED', {
      pages: { done: pagesDone, total: job.pages.total },
      finishedAt: now.toISOString(),
      result,
      expiresAt: this.expiresAt(now.getTime()),
    });
    if (settled.changed) {
      await this.announce(settled.job);
      this.deps.onOutcome?.('succeeded');
      this.deps.logger.info('job succeeded', { jobId: job.jobId, pages: pagesDone });
    }
    return settled;
  }

  /** CANCELLED with a TTL and `job.cancelled` (once). Queued chunks are dropped by the workers. */
  async cancel(tenantId: string, jobId: string): Promise<TransitionResult> {
    const now = new Date();
    const result = await this.deps.jobs.transition(tenantId, jobId, 'CANCELLED', {
      finishedAt: now.toISOString(),
      expiresAt: this.expiresAt(now.getTime()),
    });
    if (result.changed) {
      await this.announce(result.job);
      this.deps.onOutcome?.('cancelled');
    }
    return result;
  }

  /**
   * Publishes the event of a settled job's status and records that it was published. A settled
   * job stays listed as unannounced until then, so an event lost to a failed publish (after its
   * status was written, which a redelivery does not write again) is published by the reconciler.
   * Subscribers may therefore see an event twice, never not at all.
   */
  async announce(job: Job): Promise<void> {
    const type = ANNOUNCEMENTS[job.status];
    if (!type) throw new Error(`job ${job.jobId} is ${job.status}: no event announces that`);
    await this.deps.events.publish(jobEvent(job, type), { webhook: webhookWants(job, type) });
    await this.deps.jobs.markAnnounced(job.tenantId, job.jobId, job.status).catch((error: unknown) => {
      this.deps.logger.warn('could not record an event as published; it may be published again', {
        jobId: job.jobId,
        error: error as Error,
      });
    });
  }

  /**
   * Publishes `job.progress` for a chunk just counted, if the job asked for progress. Best
   * effort: a lost progress event is not published again (the job's end always is), so a
   * failure here is logged and never fails the chunk.
   */
  async progress(job: Job, chunkIndex: number): Promise<void> {
    if (!wantsProgress(job)) return;
    try {
      await this.deps.events.publish(jobEvent(job, 'job.progress', chunkIndex), {
        webhook: webhookWants(job, 'job.progress'),
      });
    } catch (error) {
      this.deps.logger.warn('could not publish a progress event', {
        jobId: job.jobId,
        error: error as Error,
      });
    }
  }

  /**
   * Sends every unfinished chunk of a QUEUED job and records `enqueuedAt` (only while QUEUED
   * and not yet recorded), then announces `job.queued`. Returns the messages sent. A job that
   * was cancelled meanwhile gets its messages all the same: the workers drop them.
   */
  async enqueue(job: Job): Promise<number> {
    const at = new Date().toISOString();
    const pending = unfinishedChunks(job, at);
    await this.deps.queue.sendMany(job.priority, pending);
    if (await this.deps.jobs.markEnqueued(job.tenantId, job.jobId, at)) {
      await this.deps.events.publish(jobEvent(job, 'job.queued'), {
        webhook: webhookWants(job, 'job.queued'),
      });
      this.deps.logger.info('job queued', {
        jobId: job.jobId,
        priority: job.priority,
        chunks: pending.length,
        pages: job.pages.total,
      });
    }
    return pending.length;
  }

  /**
   * Puts a FAILED job (retry, redrive) back on its queue:
   * QUEUED with a fresh `queuedAt` (the dead-letter sweep ignores letters sent before it),
   * error and expiry cleared, every unfinished chunk sent, and the job's dead letters removed
   * so that no later sweep fails it again for an attempt that is over.
   *
   * The status moves first and the messages follow: should sending fail, the job is QUEUED
   * without `enqueuedAt`, which the reconciler finds and completes.
   */
  async requeue(
    job: Job,
    options: { priority?: Priority; reason: string; removeDeadLetters?: boolean },
  ): Promise<RequeueResult> {
    const moved = await this.deps.jobs.transition(
      job.tenantId,
      job.jobId,
      'QUEUED',
      { queuedAt: new Date().toISOString(), priority: options.priority ?? job.priority },
      ['error', 'finishedAt', 'expiresAt', 'enqueuedAt', 'lastError', 'chunkFailures', 'resends'],
    );
    let sent = 0;
    try {
      sent = await this.enqueue(moved.job);
    } catch (error) {
      this.deps.logger.error('could not send the chunks of a requeued job; the reconciler will', {
        jobId: job.jobId,
        error: error as Error,
      });
    }
    const deadLettersRemoved =
      options.removeDeadLetters === false ? 0 : await this.removeDeadLetters(moved.job);
    this.deps.logger.info('job requeued', {
      jobId: job.jobId,
      reason: options.reason,
      sent,
      deadLettersRemoved,
    });
    return { job: moved.job, sent, deadLettersRemoved };
  }

  /**
   * Sends the unfinished chunks of a PROCESSING job again (the reconciler found no live message
   * for it). Chunks are counted once, so a chunk whose message was only late is not done twice
   * over: a duplicate delivery finds it counted and is dropped.
   */
  async resend(job: Job): Promise<number> {
    const pending = unfinishedChunks(job, new Date().toISOString());
    await this.deps.queue.sendMany(job.priority, pending);
    this.deps.logger.warn('resent the chunks of a stalled job', { jobId: job.jobId, chunks: pending.length });
    return pending.length;
  }

  /**
   * Deletes the job's letters from both dead-letter queues, reading at most `maxMessages` of
   * each. Other jobs' letters seen on the way are made visible again at once.
   */
  async removeDeadLetters(job: Pick<Job, 'tenantId' | 'jobId'>, maxMessages = 1000): Promise<number> {
    const { queue } = this.deps;
    let removed = 0;
    for (const priority of (['express', 'bulk'] as const).filter((p) => queue.hasDeadLetterQueue(p))) {
      const held = [];
      let read = 0;
      for await (const batch of queue.deadLetterBatches(priority, { holdSeconds: 30 })) {
        read += batch.length;
        for (const message of batch) {
          let ours = false;
          try {
            const work = parseWorkMessage(message.body);
            ours = work.jobId === job.jobId && work.tenantId === job.tenantId;
          } catch {
            ours = false;
          }
          if (ours) {
            await queue.delete(message);
            removed += 1;
          } else held.push(message);
        }
        if (read >= maxMessages) break;
      }
      await queue.release(held);
    }
    return removed;
  }
}

/** The work messages of the chunks whose pages are not stored yet, stamped `at`. */
function unfinishedChunks(job: Job, at: string) {
  if (!job.chunks) throw new Error(`job ${job.jobId} has no chunk plan to send`);
  return chunkMessages(job, job.pages.total, job.chunks.pages, at).filter(
    (m) => !job.chunksDone?.has(m.chunk.index),
  );
}

const ANNOUNCEMENTS: Partial<Record<Job['status'], JobEventType>> = {
  SUCCEEDED: 'job.succeeded',
  FAILED: 'job.failed',
  CANCELLED: 'job.cancelled',
};

/** True when `error` says the job was elsewhere than the move expected (it moved on). */
export function movedOn(error: unknown): error is InvalidTransitionError {
  return error instanceof InvalidTransitionError;
}
