import { z } from 'zod';
import { resultDownloadUrl } from '../get-job/get-job.ts';
import { ConflictError, NotFoundError, ValidationError } from '../shared/errors.ts';
import { type ApiHandler, apiHandler, pathParameter } from '../shared/http.ts';
import type { Runtime } from '../shared/runtime.ts';

const FormatSchema = z.enum(['json', 'text']).default('json');

/** GET /v1/jobs/{id}/result?format=json|text: a redirect to a presigned download. */
export async function resultLocation(
  runtime: Runtime,
  tenantId: string,
  jobId: string,
  format: 'json' | 'text',
) {
  const job = await runtime.jobs.get(tenantId, jobId);
  if (!job) throw new NotFoundError(`job ${jobId} not found`);
  if (job.status !== 'SUCCEEDED' || !job.result) {
    throw new ConflictError(
      'RESULT_NOT_READY',
      `job ${jobId} is ${job.status}; results exist once it SUCCEEDED`,
    );
  }
  return resultDownloadUrl(runtime, { ...job, result: job.result }, format);
}

export function makeGetResultHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event, caller) => {
    const format = FormatSchema.safeParse(event.queryStringParameters?.format ?? undefined);
    if (!format.success) throw new ValidationError('format must be json or text');
    const location = await resultLocation(
      runtime,
      caller.tenantId,
      pathParameter(event, 'jobId'),
      format.data,
    );
    return { statusCode: 302, headers: { location, 'cache-control': 'no-store' }, body: '' };
  });
}
