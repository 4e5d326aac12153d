import { presentJob } from '../get-job/get-job.ts';
import { ConflictError, InvalidTransitionError, NotFoundError } from '../shared/errors.ts';
import { type ApiHandler, apiHandler, baseUrl, json, pathParameter } from '../shared/http.ts';
import type { Runtime } from '../shared/runtime.ts';

/**
 * DELETE /v1/jobs/{id}: cancels a job that has not finished. Chunks still queued are dropped
 * by the workers when they see the status; a chunk in progress is not recorded. Cancelling a
 * cancelled job again answers the same; a finished job cannot be cancelled (409).
 */
export async function cancelJob(runtime: Runtime, tenantId: string, jobId: string, base: string) {
  const job = await runtime.jobs.get(tenantId, jobId);
  if (!job) throw new NotFoundError(`job ${jobId} not found`);
  try {
    const { job: cancelled } = await runtime.lifecycle.cancel(tenantId, jobId);
    // Parts of an upload that will never be completed cost storage until the lifecycle rule runs.
    if (cancelled.upload && job.status === 'AWAITING_UPLOAD') {
      await runtime.blobs.abortMultipart(cancelled.inputKey, cancelled.upload.uploadId);
    }
    return presentJob(runtime, cancelled, base);
  } catch (error) {
    if (error instanceof InvalidTransitionError) {
      throw new ConflictError('JOB_FINISHED', `job ${jobId} is ${error.from} and can no longer be cancelled`);
    }
    throw error;
  }
}

export function makeCancelJobHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event, caller) =>
    json(200, await cancelJob(runtime, caller.tenantId, pathParameter(event, 'jobId'), baseUrl(event))),
  );
}
