import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { multipartSettings, webhookSettings } from '../shared/config.ts';
import { isSupportedContentType, SUPPORTED_CONTENT_TYPES } from '../shared/documents/file-types.ts';
import {
  ApiError,
  ConflictError,
  PayloadTooLargeError,
  ServiceBusyError,
  TooManyRequestsError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../shared/errors.ts';
import { DEFAULT_WEBHOOK_EVENTS, JOB_EVENT_TYPES } from '../shared/events.ts';
import {
  type ApiEvent,
  type ApiHandler,
  apiHandler,
  baseUrl,
  header,
  json,
  parseJsonBody,
} from '../shared/http.ts';
import { ENGINES, type Job, type MultipartUpload, PRIORITIES } from '../shared/job.ts';
import { planParts } from '../shared/multipart.ts';
import { INCOMPLETE_UPLOAD_DAYS, objectKeys, UPLOAD_URL_TTL_SECONDS } from '../shared/resources.ts';
import type { Runtime } from '../shared/runtime.ts';
import { checkWebhookTarget, WebhookAddressError } from '../shared/webhooks/address-guard.ts';

export const CreateJobBodySchema = z.object({
  fileName: z
    .string()
    .min(1)
    .max(255)
    .refine((s) => ![...s].some((c) => c.charCodeAt(0) < 0x20), 'must not contain control characters'),
  contentType: z.string().min(1),
  sizeBytes: z.number().int().positive(),
  priority: z.enum(PRIORITIES).optional(),
  /** `paddle` (PP-OCR, the default), `textract`, or `auto` (PP-OCR, hard pages again by Textract). */
  engine: z.enum(ENGINES).optional(),
  /** Where the job's events are POSTed (checked by the address guard below), and which ones. */
  webhook: z
    .object({
      url: z.string().min(1).max(2048),
      events: z.array(z.enum(JOB_EVENT_TYPES)).min(1).max(JOB_EVENT_TYPES.length).optional(),
    })
    .optional(),
  /** Publish `job.progress` per chunk of pages (to the topic, and to the webhook if it wants it). */
  progressEvents: z.boolean().optional(),
  /** Upload in parts (presigned multipart) whatever the size; larger documents always do. */
  multipart: z.boolean().optional(),
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
 * Refuses a webhook URL the dispatcher would not deliver to (see the address guard: https, no
 * credentials, every resolved address public; loopback where the stack allows it), and makes
 * sure the tenant has a signing secret before its first delivery.
 */
async function checkWebhook(runtime: Runtime, tenantId: string, url: string): Promise<void> {
  try {
    await checkWebhookTarget(url, { allowLoopback: webhookSettings(runtime.config).allowLoopback });
  } catch (error) {
    if (error instanceof WebhookAddressError) throw new ApiError(400, error.code, error.message);
    throw error;
  }
  await runtime.webhookSecrets.get(tenantId);
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
  const multipart = multipartSettings(runtime.config);
  const inParts = body.multipart === true || body.sizeBytes > multipart.thresholdBytes;
  if (inParts && body.sizeBytes > multipart.maxUploadBytes) {
    throw new PayloadTooLargeError(
      `sizeBytes ${body.sizeBytes} exceeds the maximum multipart upload size of ${multipart.maxUploadBytes} bytes`,
    );
  }
  if (!inParts && body.sizeBytes > runtime.config.maxUploadBytes) {
    throw new PayloadTooLargeError(
      `sizeBytes ${body.sizeBytes} exceeds the maximum upload size of ${runtime.config.maxUploadBytes} bytes`,
    );
  }
  const jobId = idempotencyKey ? idempotentJobId(tenantId, idempotencyKey) : newJobId();
  const hash = idempotencyKey ? requestHash(body) : undefined;
  // A replay answers with the job it made, whatever the load is now: only new work is refused.
  const earlier = idempotencyKey ? await runtime.jobs.get(tenantId, jobId) : undefined;
  if (earlier) return replay(runtime, earlier, hash, base);
  if (body.engine === 'textract' && !runtime.config.textract) {
    throw new ApiError(
      400,
      'ENGINE_UNAVAILABLE',
      "engine textract is not available on this deployment; use paddle or auto (auto then keeps PP-OCR's pages)",
    );
  }
  if (body.webhook) await checkWebhook(runtime, tenantId, body.webhook.url);
  await checkCapacity(runtime, tenantId);
  const inputKey = objectKeys.input(tenantId, jobId);
  // The multipart upload exists before the job that names it, so a stored job always has one.
  const upload = inParts
    ? {
        uploadId: await runtime.blobs.createMultipart(inputKey, contentType),
        ...planParts(body.sizeBytes, multipart),
      }
    : undefined;
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
    engine: body.engine ?? 'paddle',
    ...(body.webhook
      ? {
          webhook: {
            url: body.webhook.url,
            events: [...new Set(body.webhook.events ?? DEFAULT_WEBHOOK_EVENTS)],
          },
        }
      : {}),
    ...(body.progressEvents ? { progressEvents: true } : {}),
    inputKey,
    ...(upload ? { upload } : {}),
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
    // No job names this multipart upload: drop it (a replay answers with the winner's).
    if (upload) await runtime.blobs.abortMultipart(inputKey, upload.uploadId).catch(() => undefined);
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
  if (stored.upload) return multipartResponse(stored, stored.upload, response, base);
  // A replay gets a fresh upload URL: the first one may have expired.
  const upload = await runtime.blobs.presignUpload(
    stored.inputKey,
    stored.contentType,
    stored.sizeBytes,
    UPLOAD_URL_TTL_SECONDS,
  );
  return { ...response, upload };
}

/**
 * A multipart job's answer: the part plan and where to get part URLs, list the parts and
 * complete. The upload lasts until the bucket's lifecycle rule aborts it or the job expires.
 */
function multipartResponse(
  stored: Job,
  upload: MultipartUpload,
  response: { jobId: string; status: Job['status']; links: { self: string } },
  base: string,
) {
  const abortedAt = Date.parse(stored.createdAt) + INCOMPLETE_UPLOAD_DAYS * 86_400_000;
  const expiresAt = Math.min(abortedAt, (stored.expiresAt ?? Number.POSITIVE_INFINITY) * 1000);
  const self = `${base}/v1/jobs/${stored.jobId}`;
  return {
    ...response,
    upload: {
      method: 'MULTIPART' as const,
      uploadId: upload.uploadId,
      partSizeBytes: upload.partSizeBytes,
      partCount: upload.partCount,
      expiresAt: new Date(expiresAt).toISOString(),
    },
    links: {
      ...response.links,
      upload: `${self}/upload`,
      uploadParts: `${self}/upload/parts`,
      completeUpload: `${self}/upload/complete`,
    },
  };
}

export function makeCreateJobHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event: ApiEvent, caller) => {
    const body = parseJsonBody(event, CreateJobBodySchema);
    const key = parseIdempotencyKey(header(event, 'idempotency-key'));
    const { replayed, response } = await createJob(runtime, caller.tenantId, body, baseUrl(event), key);
    return json(replayed ? 200 : 201, response);
  });
}
