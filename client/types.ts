/**
 * The API's request and response bodies as the client sees them. Written out here rather than
 * inferred from the server's zod schemas (lambdas/openapi/schemas.ts) so the published client
 * carries no server code or zod in its types; test/client/types.test.ts checks at compile time
 * that every answer those schemas allow is one of these.
 */

export type JobStatus =
  | 'AWAITING_UPLOAD'
  | 'QUEUED'
  | 'PROCESSING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'CANCELLED'
  | 'EXPIRED';

/** The statuses a job never leaves. */
export const FINISHED_STATUSES: ReadonlySet<JobStatus> = new Set([
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'EXPIRED',
]);

export type Priority = 'express' | 'bulk';

/** `paddle` (PP-OCR, the default), `textract`, or `auto` (PP-OCR, hard pages again by Textract). */
export type Engine = 'paddle' | 'textract' | 'auto';

/** The events a webhook can ask for (a job's end by default). */
export type JobEventType = 'job.queued' | 'job.progress' | 'job.succeeded' | 'job.failed' | 'job.cancelled';

/** Formats `getResult` downloads (hocr and pdf where the deployment produces them). */
export type ResultFormat = 'json' | 'text' | 'hocr' | 'pdf';

export interface JobTimings {
  queueWaitMs?: number;
  processingMs?: number;
  totalMs?: number;
}

/** A job as `GET /v1/jobs` lists it. */
export interface JobSummary {
  jobId: string;
  status: JobStatus;
  fileName: string;
  contentType: string;
  sizeBytes: number;
  priority: Priority;
  engine?: Engine;
  pages: { done: number; total: number };
  createdAt: string;
  updatedAt: string;
  queuedAt?: string;
  startedAt?: string;
  finishedAt?: string;
  timings: JobTimings;
  /** Why a job FAILED; `code` is one of the README's job error codes. */
  error?: { code: string; message: string };
  links: { self: string };
}

/**
 * What a webhook receives (and the events topic carries): `verifyWebhook` returns it. `id` is the
 * same on every copy of one event; `version` changes only if a field changes meaning.
 */
export interface JobEvent {
  version: 1;
  id: string;
  type: JobEventType;
  tenantId: string;
  jobId: string;
  status: JobStatus;
  occurredAt: string;
  fileName?: string;
  pages: { done: number; total: number };
  /** `job.progress`: the chunk whose pages are done, of how many. */
  chunk?: { index: number; total: number };
  error?: { code: string; message: string };
}

/** One POST of an event to the job's webhook. */
export interface WebhookAttempt {
  eventId: string;
  eventType: JobEventType;
  attempt: number;
  at: string;
  statusCode?: number;
  latencyMs: number;
  error?: string;
  outcome: 'delivered' | 'retrying' | 'gave-up';
}

/** A job as `GET /v1/jobs/{id}` shows it: the summary, result links once done, and the ETA. */
export interface Job extends JobSummary {
  /** Presigned downloads; hOCR and PDF where the deployment produced them. */
  result?: { json: string; text: string; hocr?: string; pdf?: string; expiresAt: string };
  webhook?: { url: string; events: JobEventType[]; attempts: WebhookAttempt[] };
  progressEvents?: boolean;
  estimate?: {
    queue: Priority;
    position?: number;
    pagesAhead?: number;
    etaSeconds: number | null;
  };
}

export interface CreateJobRequest {
  fileName: string;
  contentType: string;
  sizeBytes: number;
  priority?: Priority;
  engine?: Engine;
  /** An https URL the API POSTs the job's events to (signed: see `verifyWebhook`). */
  webhook?: { url: string; events?: JobEventType[] };
  /** Publish `job.progress` per chunk of pages. */
  progressEvents?: boolean;
  /** Ask for a multipart upload whatever the size (the server also picks it above its threshold). */
  multipart?: boolean;
}

/** One PUT of the whole file to `url` with exactly `headers`. */
export interface SingleUpload {
  url: string;
  method: 'PUT';
  headers: Record<string, string>;
  expiresAt: string;
}

/** Parts PUT to URLs the API presigns on request (`POST …/upload/parts`), then completed. */
export interface MultipartUpload {
  method: 'MULTIPART';
  uploadId: string;
  partSizeBytes: number;
  partCount: number;
  expiresAt: string;
}

export interface CreatedJob {
  jobId: string;
  status: JobStatus;
  /** Present while the job awaits its upload (a replayed create of an uploaded job has none). */
  upload?: SingleUpload | MultipartUpload;
  links: { self: string; upload?: string; uploadParts?: string; completeUpload?: string };
}

/** `GET /v1/jobs/{id}/upload`: a multipart upload and the parts already stored. */
export interface UploadState {
  uploadId: string;
  partSizeBytes: number;
  partCount: number;
  sizeBytes: number;
  parts: Array<{ partNumber: number; sizeBytes: number; etag: string }>;
}

/** A presigned PUT for one part. */
export interface PartUpload {
  partNumber: number;
  url: string;
  method: 'PUT';
  headers: Record<string, string>;
  expiresAt: string;
}

export interface JobList {
  jobs: JobSummary[];
  nextCursor?: string;
  links?: { next?: string };
}

export interface QueueFigures {
  visible: number;
  inFlight: number;
  delayed: number;
  deadLetters: number;
  oldestAgeSeconds: number;
}

export interface EngineFigures {
  pages: number;
  pagesPerMinute: number;
  meanMsPerPage: number | null;
  /** Pages `auto` sent to this engine after PP-OCR found them hard. */
  escalations: number;
}

export interface QueueStats {
  queues: { express: QueueFigures; bulk: QueueFigures };
  workers: number;
  pagesPerMinute: number;
  /** Per engine (deployments that have engines). */
  engines?: { paddle: EngineFigures; textract: EngineFigures };
  throughputWindowMinutes: number;
  generatedAt: string;
}

/** The result JSON (engine and pipeline alike): lines in reading order, boxes in page pixels. */
export interface OcrResult {
  pages: Array<{
    page: number;
    width: number;
    height: number;
    lines: Array<{
      text: string;
      confidence: number;
      box: Array<[number, number]>;
      words?: Array<{ text: string; confidence: number; box: Array<[number, number]> }>;
    }>;
  }>;
}
