import { presentJob } from '../get-job/get-job.ts';
import { ConflictError, InvalidTransitionError, NotFoundError } from '../shared/errors.ts';
import { jobEvent } from '../shared/events.ts';
import { type ApiHandler, apiHandler, baseUrl, json, pathParameter } from '../shared/http.ts';
import { chunkMessages } from '../shared/messages.ts';
import type { Runtime } from '../shared/runtime.ts';

/**
 * POST /v1/jobs/{id}/retry: a FAILED job goes back to QUEUED and its unfinished chunks back on
 * its queue; pages already stored are kept. A job that failed before it was ever queued (its
 * upload was refused) has nothing to retry: the client creates a new job with a good file.
 */
export async function retryJob(runtime: Runtime, tenantId: string, jobId: string, base: string) {
  const { jobs, queue, events } = runtime;
  const job = await jobs.get(tenantId, jobId);
  if (!job) throw new NotFoundError(`job ${jobId} not found`);
  if (job.status !== 'FAILED')
    throw new ConflictError(
      'NOT_RETRYABLE',
      `job ${jobId} is ${job.status}; only FAILED jobs can be retried`,
    );
  if (!job.chunks) {
    throw new ConflictError(
      'NOT_RETRYABLE',
      `job ${jobId} failed before it was queued (${job.error?.code ?? 'no error'}); upload the file again as a new job`,
    );
  }
  const now = new Date().toISOString();
  let requeued: typeof job;
  try {
    requeued = (
      await jobs.transition(tenantId, jobId, 'QUEUED', { queuedAt: now, priority: job.priority }, [
        'error',
        'finishedAt',
        'expiresAt',
        'enqueuedAt',
      ])
    ).job;
  } catch (error) {
    if (error instanceof InvalidTransitionError)
      throw new ConflictError('NOT_RETRYABLE', `job ${jobId} is ${error.from}`);
    throw error;
  }
  const pending = chunkMessages(
    requeued,
    requeued.pages.total,
    requeued.chunks?.pages ?? job.chunks.pages,
    now,
  ).filter((m) => !requeued.chunksDone?.has(m.chunk.index));
  await queue.sendMany(requeued.priority, pending);
  await jobs.markEnqueued(tenantId, jobId, now);
  await events.publish(jobEvent(requeued, 'job.queued'));
  return presentJob(runtime, requeued, base);
}

export function makeRetryJobHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event, caller) =>
    json(202, await retryJob(runtime, caller.tenantId, pathParameter(event, 'jobId'), baseUrl(event))),
  );
}
