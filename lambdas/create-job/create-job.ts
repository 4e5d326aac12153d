import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { PayloadTooLargeError, UnsupportedMediaTypeError } from '../shared/errors.ts';
import { isSupportedContentType, SUPPORTED_CONTENT_TYPES } from '../shared/file-types.ts';
import { type ApiEvent, type ApiHandler, apiHandler, baseUrl, json, parseJsonBody } from '../shared/http.ts';
import { type Job, PRIORITIES } from '../shared/job.ts';
import { objectKeys, UPLOAD_URL_TTL_SECONDS } from '../shared/resources.ts';
import type { Runtime } from '../shared/runtime.ts';

export const CreateJobBodySchema = z.object({
  fileName: z
    .string()
    .min(1)
    .max(255)
    .refine((s) => ![...s].some((c) => c.charCodeAt(0) < 0x20), 'must not contain control characters'),
  contentType: z.string().min(1),
  sizeBytes: z.number().int().positive(),
  priority: z.enum(PRIORITIES).optional(),
  webhook: z.object({ url: z.string().url().startsWith('https://', 'must be an https URL') }).optional(),
});
export type CreateJobBody = z.infer<typeof CreateJobBodySchema>;

/** 128 random bits, URL-safe: job ids cannot be guessed or enumerated. */
export function newJobId(): string {
  return randomBytes(16).toString('base64url');
}

/** POST /v1/jobs: records the job as AWAITING_UPLOAD and hands back a presigned upload. */
export async function createJob(runtime: Runtime, tenantId: string, body: CreateJobBody, base: string) {
  const contentType = body.contentType.toLowerCase();
  if (!isSupportedContentType(contentType)) {
    throw new UnsupportedMediaTypeError(
      `contentType ${body.contentType} is not supported; use one of ${SUPPORTED_CONTENT_TYPES.join(', ')}`,
    );
  }
  if (body.sizeBytes > runtime.config.maxUploadBytes) {
    throw new PayloadTooLargeError(
      `sizeBytes ${body.sizeBytes} exceeds the maximum upload size of ${runtime.config.maxUploadBytes} bytes`,
    );
  }
  const jobId = newJobId();
  const now = new Date().toISOString();
  const job: Job = {
    tenantId,
    jobId,
    status: 'AWAITING_UPLOAD',
    fileName: body.fileName,
    contentType,
    sizeBytes: body.sizeBytes,
    priority: body.priority ?? 'express',
    webhookUrl: body.webhook?.url,
    inputKey: objectKeys.input(tenantId, jobId),
    pages: { done: 0, total: 0 },
    createdAt: now,
    updatedAt: now,
  };
  const upload = await runtime.blobs.presignUpload(
    job.inputKey,
    contentType,
    body.sizeBytes,
    UPLOAD_URL_TTL_SECONDS,
  );
  await runtime.jobs.create(job);
  return {
    jobId,
    status: job.status,
    upload,
    links: { self: `${base}/v1/jobs/${jobId}` },
  };
}

export function makeCreateJobHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event: ApiEvent, caller) => {
    const body = parseJsonBody(event, CreateJobBodySchema);
    return json(201, await createJob(runtime, caller.tenantId, body, baseUrl(event)));
  });
}
