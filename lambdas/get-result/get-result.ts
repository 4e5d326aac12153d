import { z } from 'zod';
import { RESULT_FORMATS, type ResultFormat, resultDownloadUrl } from '../get-job/get-job.ts';
import { ApiError, ConflictError, NotFoundError, ValidationError } from '../shared/errors.ts';
import { type ApiHandler, apiHandler, pathParameter } from '../shared/http.ts';
import type { Runtime } from '../shared/runtime.ts';

const FormatSchema = z.enum(RESULT_FORMATS).default('json');

/**
 * GET /v1/jobs/{id}/result?format=json|text|hocr|pdf: a redirect to a presigned download. A job
 * finished before hOCR and PDF existed (or whose PDF could not be built) answers 404
 * `FORMAT_NOT_AVAILABLE` for those.
 */
export async function resultLocation(
  runtime: Runtime,
  tenantId: string,
  jobId: string,
  format: ResultFormat,
) {
  const job = await runtime.jobs.get(tenantId, jobId);
  if (!job) throw new NotFoundError(`job ${jobId} not found`);
  if (job.status !== 'SUCCEEDED' || !job.result) {
    throw new ConflictError(
      'RESULT_NOT_READY',
      `job ${jobId} is ${job.status}; results exist once it SUCCEEDED`,
    );
  }
  const url = resultDownloadUrl(runtime, { ...job, result: job.result }, format);
  if (!url) throw new ApiError(404, 'FORMAT_NOT_AVAILABLE', `job ${jobId} has no ${format} result`);
  return url;
}

export function makeGetResultHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event, caller) => {
    const format = FormatSchema.safeParse(event.queryStringParameters?.format ?? undefined);
    if (!format.success) throw new ValidationError(`format must be one of ${RESULT_FORMATS.join(', ')}`);
    const location = await resultLocation(
      runtime,
      caller.tenantId,
      pathParameter(event, 'jobId'),
      format.data,
    );
    return { statusCode: 302, headers: { location, 'cache-control': 'no-store' }, body: '' };
  });
}
