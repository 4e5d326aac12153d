import { presentJob } from '../get-job/get-job.ts';
import { ConflictError, InvalidTransitionError, NotFoundError } from '../shared/errors.ts';
import { type ApiHandler, apiHandler, baseUrl, json, pathParameter } from '../shared/http.ts';
import type { Runtime } from '../shared/runtime.ts';

/**
 * POST /v1/jobs/{id}/retry: a FAILED job goes back to QUEUED, its unfinished chunks back on
 * its queue and its dead letters out of the dead-letter queues (so no later sweep fails it again
 * for the attempt that is over); pages already stored are kept. A job that failed before it was ever queued (its
 * upload was refused) has nothing to retry: the client creates a new job with a good file.
 */
export async function retryJob(runtime: Runtime, tenantId: string, jobId: string, base: string) {
  const { jobs } = runtime;
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
  let requeued: typeof job;
  try {
    requeued = (await runtime.lifecycle.requeue(job, { reason: 'retry' })).job;
  } catch (error) {
    if (error instanceof InvalidTransitionError)
      throw new ConflictError('NOT_RETRYABLE', `job ${jobId} is ${error.from}`);
    throw error;
  }
  return presentJob(runtime, requeued, base);
}

export function makeRetryJobHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event, caller) =>
    json(202, await retryJob(runtime, caller.tenantId, pathParameter(event, 'jobId'), baseUrl(event))),
  );
}
