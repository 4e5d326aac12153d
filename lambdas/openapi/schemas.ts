import { z } from 'zod';
import { EVENT_SCHEMA_VERSION, JOB_EVENT_TYPES } from '../shared/events.ts';
import { ENGINES, JOB_ERROR_CODES, JOB_STATUSES, PRIORITIES } from '../shared/job.ts';

/** The API's response bodies as zod schemas: the OpenAPI document and the contract tests share them. */
export const ErrorResponseSchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});

const Timings = z.object({
  queueWaitMs: z.number().optional(),
  processingMs: z.number().optional(),
  totalMs: z.number().optional(),
});

export const JobSummarySchema = z.object({
  jobId: z.string(),
  status: z.enum(JOB_STATUSES),
  fileName: z.string(),
  contentType: z.string(),
  sizeBytes: z.number().int(),
  priority: z.enum(PRIORITIES),
  /** The engine the job asked for (`paddle` for jobs created before engines existed). */
  engine: z.enum(ENGINES).optional(),
  pages: z.object({ done: z.number().int(), total: z.number().int() }),
  createdAt: z.string(),
  updatedAt: z.string(),
  queuedAt: z.string().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  timings: Timings,
  error: z.object({ code: z.enum(JOB_ERROR_CODES), message: z.string() }).optional(),
  links: z.object({ self: z.string() }),
});

/** One POST of an event to the job's webhook. */
export const WebhookAttemptSchema = z.object({
  eventId: z.string(),
  eventType: z.enum(JOB_EVENT_TYPES),
  attempt: z.number().int(),
  at: z.string(),
  statusCode: z.number().int().optional(),
  latencyMs: z.number(),
  error: z.string().optional(),
  outcome: z.enum(['delivered', 'retrying', 'gave-up']),
});

export const JobViewSchema = JobSummarySchema.extend({
  result: z
    .object({
      json: z.string(),
      text: z.string(),
      /** hOCR (XHTML) and the searchable PDF; absent on jobs finished before they existed. */
      hocr: z.string().optional(),
      pdf: z.string().optional(),
      expiresAt: z.string(),
    })
    .optional(),
  /** The job's webhook and its latest delivery attempts, oldest first. */
  webhook: z
    .object({
      url: z.string(),
      events: z.array(z.enum(JOB_EVENT_TYPES)),
      attempts: z.array(WebhookAttemptSchema),
    })
    .optional(),
  progressEvents: z.boolean().optional(),
  estimate: z
    .object({
      queue: z.enum(PRIORITIES),
      position: z.number().int().optional(),
      pagesAhead: z.number().int().optional(),
      etaSeconds: z.number().nullable(),
    })
    .optional(),
});

/** A single presigned PUT: the client sends the whole file to `url` with exactly `headers`. */
export const PutUploadSchema = z.object({
  url: z.string(),
  method: z.literal('PUT'),
  headers: z.record(z.string(), z.string()),
  expiresAt: z.string(),
});

/** A presigned multipart upload: part URLs from `links.uploadParts`, then `links.completeUpload`. */
export const MultipartUploadSchema = z.object({
  method: z.literal('MULTIPART'),
  uploadId: z.string(),
  /** Every part but the last has exactly this many bytes; the last holds the rest. */
  partSizeBytes: z.number().int(),
  partCount: z.number().int(),
  /** When the bucket aborts the unfinished upload (or the job expires): resume before then. */
  expiresAt: z.string(),
});

export const CreatedJobSchema = z.object({
  jobId: z.string(),
  status: z.enum(JOB_STATUSES),
  upload: z.discriminatedUnion('method', [PutUploadSchema, MultipartUploadSchema]).optional(),
  links: z.object({
    self: z.string(),
    /** Multipart jobs: the upload's state (GET), part URLs (POST) and completion (POST). */
    upload: z.string().optional(),
    uploadParts: z.string().optional(),
    completeUpload: z.string().optional(),
  }),
});

/** GET /v1/jobs/{jobId}/upload: the plan and the parts S3 holds, to resume an upload. */
export const UploadStateSchema = z.object({
  uploadId: z.string(),
  partSizeBytes: z.number().int(),
  partCount: z.number().int(),
  sizeBytes: z.number().int(),
  parts: z.array(z.object({ partNumber: z.number().int(), sizeBytes: z.number().int(), etag: z.string() })),
});

/** POST /v1/jobs/{jobId}/upload/parts: one presigned PUT per part asked for. */
export const UploadPartsSchema = z.object({
  parts: z.array(
    z.object({
      partNumber: z.number().int(),
      url: z.string(),
      method: z.literal('PUT'),
      /** `content-length`: the part's exact size, part of the signature. */
      headers: z.record(z.string(), z.string()),
      expiresAt: z.string(),
    }),
  ),
});

/** POST /v1/jobs/{jobId}/upload/complete: the job after its parts were joined. */
export const CompletedUploadSchema = z.object({
  jobId: z.string(),
  status: z.enum(JOB_STATUSES),
});

export const JobListSchema = z.object({
  jobs: z.array(JobSummarySchema),
  nextCursor: z.string().optional(),
  links: z.object({ next: z.string().optional() }).optional(),
});

const QueueFigures = z.object({
  visible: z.number().int(),
  inFlight: z.number().int(),
  delayed: z.number().int(),
  deadLetters: z.number().int(),
  oldestAgeSeconds: z.number(),
});

const EngineFigures = z.object({
  pages: z.number().int(),
  pagesPerMinute: z.number(),
  meanMsPerPage: z.number().nullable(),
  /** Pages `auto` sent to this engine after PP-OCR found them hard. */
  escalations: z.number().int(),
});

export const QueueStatsSchema = z.object({
  queues: z.object({ express: QueueFigures, bulk: QueueFigures }),
  workers: z.number().int(),
  pagesPerMinute: z.number(),
  /** Per engine that read pages: an `auto` job's pages count under the engine whose page was kept. */
  engines: z.object({ paddle: EngineFigures, textract: EngineFigures }),
  throughputWindowMinutes: z.number().int(),
  generatedAt: z.string(),
});

export const RedriveResultSchema = z.object({
  moved: z.number().int(),
  jobIds: z.array(z.string()),
  dropped: z.number().int(),
  /** The call stopped at its time or size budget: call again for the rest. */
  more: z.boolean(),
});

/** The tenant's webhook signing secret; `previousExpiresAt` while the rotated-out one still signs. */
export const WebhookSecretSchema = z.object({
  secret: z.string(),
  createdAt: z.string(),
  previousExpiresAt: z.string().optional(),
});

/** What the events topic carries and a webhook receives (see lambdas/shared/events.ts). */
export const JobEventSchema = z.object({
  version: z.literal(EVENT_SCHEMA_VERSION),
  id: z.string(),
  type: z.enum(JOB_EVENT_TYPES),
  tenantId: z.string(),
  jobId: z.string(),
  status: z.enum(JOB_STATUSES),
  occurredAt: z.string(),
  fileName: z.string().optional(),
  pages: z.object({ done: z.number().int(), total: z.number().int() }),
  chunk: z.object({ index: z.number().int(), total: z.number().int() }).optional(),
  error: z.object({ code: z.enum(JOB_ERROR_CODES), message: z.string() }).optional(),
});
