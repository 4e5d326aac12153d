import { z } from 'zod';
import { JOB_ERROR_CODES, JOB_STATUSES, PRIORITIES } from '../shared/job.ts';

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

export const JobViewSchema = JobSummarySchema.extend({
  result: z.object({ json: z.string(), text: z.string(), expiresAt: z.string() }).optional(),
  estimate: z
    .object({
      queue: z.enum(PRIORITIES),
      position: z.number().int().optional(),
      pagesAhead: z.number().int().optional(),
      etaSeconds: z.number().nullable(),
    })
    .optional(),
});

export const CreatedJobSchema = z.object({
  jobId: z.string(),
  status: z.enum(JOB_STATUSES),
  upload: z
    .object({
      url: z.string(),
      method: z.literal('PUT'),
      headers: z.record(z.string(), z.string()),
      expiresAt: z.string(),
    })
    .optional(),
  links: z.object({ self: z.string() }),
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

export const QueueStatsSchema = z.object({
  queues: z.object({ express: QueueFigures, bulk: QueueFigures }),
  workers: z.number().int(),
  pagesPerMinute: z.number(),
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
