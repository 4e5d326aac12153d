import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { isSupportedContentType, SUPPORTED_CONTENT_TYPES } from '../shared/documents/file-types.ts';
import {
  ConflictError,
  PayloadTooLargeError,
  ServiceBusyError,
  TooManyRequestsError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../shared/errors.ts';
import {
  type ApiEvent,
  type ApiHandler,
  apiHandler,
  baseUrl,
  header,
  json,
  parseJsonBody,
} from '../shared/http.ts';
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

/**
 * The job id an Idempotency-Key stands for: derived from tenant and key, so a repeated create
 * hits the same item and the conditional put decides (dynalite has no transactions).
 */
export function idempotentJobId(tenantId: string, idempotencyKey: string): string {
  return createHash('sha256').update(`${tenantId}\n${idempotencyKey}`).digest('base64url').slice(0, 22);
}

/** A hash of the request's meaning (keys sorted), to tell a replay from a different request. */
export function requestHash(body: CreateJobBody): string {
  const canonical = JSON.stringify(body, Object.keys(body).sort());
  return createHash('sha256')
    .update(`${canonical}|${JSON.stringify(body.webhook ?? null)}`)
    .digest('hex');
}

export function parseIdempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw new ValidationError('Idempotency-Key must be 1 to 255 printable ASCII characters');
  }
  return value;
}

/**
 * Refuses new work the pipeline should not take now: a tenant at its limit of unfinished
 * jobs or of pages waiting to be done (429: one tenant's backlog must not crowd out the
 * others), or queues deeper than the backpressure bound (503). Each says when to retry.
 */
export async function checkCapacity(runtime: Runtime, tenantId: string): Promise<void> {
  const { limits } = runtime.config;
  const [active, pending] = await Promise.all([
    runtime.jobQueries.countActive(tenantId, limits.tenantMaxActiveJobs),
    runtime.jobQueries.pendingPages(tenantId, limits.tenantMaxQueuedPages),
  ]);
  if (active >= limits.tenantMaxActiveJobs) {
    throw new TooManyRequestsError(
      `this tenant has ${limits.tenantMaxActiveJobs} unfinished jobs, the most allowed at once; wait for some to finish`,
      30,
    );
  }
  if (pending >= limits.tenantMaxQueuedPages) {
    throw new TooManyRequestsError(
      `this tenant has ${pending} pages waiting to be done, the most allowed is ${limits.tenantMaxQueuedPages}; wait for some to finish`,
      60,
      'TOO_MANY_QUEUED_PAGES',
    );
  }
  const [express, bulk] = await Promise.all([runtime.queue.depth('express'), runtime.queue.depth('bulk')]);
  const depth = express.visible + bulk.visible;
  if (depth > limits.maxQueueDepth) {
    throw new ServiceBusyError(`the work queues hold ${depth} waiting messages; try again shortly`, 60);
  }
}

/**
 * POST /v1/jobs: records the job as AWAITING_UPLOAD and hands back a presigned upload.
 * With an Idempotency-Key, the same key and body give back the same job (`replayed`), and the
 * same key with another body is refused (409).
 */
export async function createJob(
  runtime: Runtime,
  tenantId: string,
  body: CreateJobBody,
  base: string,
  idempotencyKey?: string,
) {
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
  const jobId = idempotencyKey ? idempotentJobId(tenantId, idempotencyKey) : newJobId();
  const hash = idempotencyKey ? requestHash(body) : undefined;
  // A replay answers with the job it made, whatever the load is now: only new work is refused.
  const earlier = idempotencyKey ? await runtime.jobs.get(tenantId, jobId) : undefined;
  if (earlier) return replay(runtime, earlier, hash, base);
  await checkCapacity(runtime, tenantId);
  const now = new Date().toISOString();
  const job: Job = {
    tenantId,
    jobId,
    status: 'AWAITING_UPLOAD',
    fileName: body.fileName,
    contentType,
    sizeBytes: body.sizeBytes,
    priority: body.priority ?? 'express',
    priorityRequested: body.priority !== undefined,
    webhookUrl: body.webhook?.url,
    inputKey: objectKeys.input(tenantId, jobId),
    pages: { done: 0, total: 0 },
    createdAt: now,
    updatedAt: now,
    // A job whose upload never comes is deleted by TTL; queuing it clears the expiry.
    expiresAt: Math.floor(Date.now() / 1000) + runtime.config.jobTtlDays * 86_400,
    ...(idempotencyKey ? { idempotencyKey, requestHash: hash } : {}),
  };
  try {
    await runtime.jobs.create(job);
  } catch (error) {
    if (!(error instanceof ConflictError) || !idempotencyKey) throw error;
    // The same key raced this request to the create.
    const existing = await runtime.jobs.get(tenantId, jobId);
    if (!existing) throw error;
    return replay(runtime, existing, hash, base);
  }
  return { replayed: false, response: await jobResponse(runtime, job, base) };
}

/** The answer to a replayed create: the earlier job, if the key came with the same request. */
async function replay(runtime: Runtime, existing: Job, hash: string | undefined, base: string) {
  if (existing.requestHash !== hash) {
    throw new ConflictError(
      'IDEMPOTENCY_KEY_REUSED',
      'this Idempotency-Key was already used with a different request',
    );
  }
  return { replayed: true, response: await jobResponse(runtime, existing, base) };
}

async function jobResponse(runtime: Runtime, stored: Job, base: string) {
  const response = {
    jobId: stored.jobId,
    status: stored.status,
    links: { self: `${base}/v1/jobs/${stored.jobId}` },
  };
  if (stored.status !== 'AWAITING_UPLOAD') return response;
  // A replay gets a fresh upload URL: the first one may have expired.
  const upload = await runtime.blobs.presignUpload(
    stored.inputKey,
    stored.contentType,
    stored.sizeBytes,
    UPLOAD_URL_TTL_SECONDS,
  );
  return { ...response, upload };
}

export function makeCreateJobHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event: ApiEvent, caller) => {
    const body = parseJsonBody(event, CreateJobBodySchema);
    const key = parseIdempotencyKey(header(event, 'idempotency-key'));
    const { replayed, response } = await createJob(runtime, caller.tenantId, body, baseUrl(event), key);
    return json(replayed ? 200 : 201, response);
  });
}
