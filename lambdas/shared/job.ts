import type { JobEventType } from './events.ts';

/**
 * The job record: what a client created, where its bytes live, and how far it got.
 * The status field only ever moves along the edges of {@link ./job-state.ts}.
 */
export const JOB_STATUSES = [
  'AWAITING_UPLOAD',
  'QUEUED',
  'PROCESSING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'EXPIRED',
] as const;

export type JobStatus = (typeof JOB_STATUSES)[number];

export const PRIORITIES = ['express', 'bulk'] as const;
export type Priority = (typeof PRIORITIES)[number];

/**
 * The OCR engine a job asks for: PP-OCR on the workers (`paddle`, the default), Amazon Textract,
 * or `auto`: PP-OCR first, its hard pages again through Textract (gpu-worker/src/engines/).
 */
export const ENGINES = ['paddle', 'textract', 'auto'] as const;
export type Engine = (typeof ENGINES)[number];

/** Error codes a job can end with; clients switch on these, so extend, never rename. */
export const JOB_ERROR_CODES = [
  'INVALID_INPUT',
  'PAGE_TOO_LARGE',
  'TOO_MANY_PAGES',
  'ENCRYPTED_DOCUMENT',
  'PROCESSING_ERROR',
  'MAX_ATTEMPTS',
  /** The reconciler found the job without a live message and resending did not help. */
  'STALLED',
  /** The document is larger than the pipeline can read whole (a PDF beyond PDFium's memory). */
  'DOCUMENT_TOO_LARGE',
  /** Textract refused the document: over its size limit, a format it does not read, or corrupt. */
  'TEXTRACT_DOCUMENT_TOO_LARGE',
  'TEXTRACT_UNSUPPORTED_DOCUMENT',
  'TEXTRACT_BAD_DOCUMENT',
  /** More pages than one Textract detection takes (3,000). */
  'TEXTRACT_TOO_MANY_PAGES',
  /** Transient (a chunk's `lastError`): Textract's quotas said slow down, or its job failed. */
  'TEXTRACT_THROTTLED',
  'TEXTRACT_FAILED',
  /** The job asked for Textract on a deployment without it (create answers 400 with this code). */
  'ENGINE_UNAVAILABLE',
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

export interface JobError {
  code: JobErrorCode;
  message: string;
}

export interface Job {
  tenantId: string;
  jobId: string;
  status: JobStatus;
  fileName: string;
  contentType: string;
  sizeBytes: number;
  priority: Priority;
  /** The engine asked for at create; absent on jobs created before engines existed (`paddle`). */
  engine?: Engine;
  /** Where the job's events are POSTed, and which of them (see lambdas/webhook-dispatcher). */
  webhook?: JobWebhook;
  /** Whether `job.progress` is published per chunk (also when the webhook wants it). */
  progressEvents?: boolean;
  /** The latest webhook delivery attempts, oldest first (at most `WEBHOOK_ATTEMPTS_KEPT`). */
  webhookAttempts?: WebhookAttempt[];
  /** S3 key of the uploaded source document. */
  inputKey: string;
  /** The S3 multipart upload of a job that uploads in parts; absent for a single presigned PUT. */
  upload?: MultipartUpload;
  pages: { done: number; total: number };
  /** How the document was split into work messages: `total` chunks of up to `pages` pages. */
  chunks?: { total: number; pages: number };
  /** Indexes of the chunks whose pages are stored; each is added exactly once. */
  chunksDone?: Set<number>;
  /** Whether the client chose the priority (else it follows the document's size). */
  priorityRequested?: boolean;
  createdAt: string;
  updatedAt: string;
  uploadedAt?: string;
  queuedAt?: string;
  /** Set once the work message is on the queue, so a repeated S3 event does not send it twice. */
  enqueuedAt?: string;
  startedAt?: string;
  finishedAt?: string;
  error?: JobError;
  /** The latest transient failure, kept for the MAX_ATTEMPTS error should retries run out. */
  lastError?: JobError;
  /** Failed attempts per chunk index (see `JobStore.recordFailedAttempt`); cleared by a requeue. */
  chunkFailures?: Record<string, number>;
  /** Times the reconciler sent a stalled job's unfinished chunks again; cleared by a requeue. */
  resends?: number;
  /** Result objects; hOCR and the searchable PDF are absent on jobs finished before they existed. */
  result?: { jsonKey: string; textKey: string; hocrKey?: string; pdfKey?: string };
  /** Epoch seconds after which DynamoDB may delete the item. */
  expiresAt?: number;
  /** The client's Idempotency-Key and a hash of the request it came with. */
  idempotencyKey?: string;
  requestHash?: string;
}

export interface JobWebhook {
  url: string;
  /** Event types to deliver. */
  events: JobEventType[];
}

/** One POST of an event to the job's webhook, as GET /v1/jobs/{id} shows it. */
export interface WebhookAttempt {
  eventId: string;
  eventType: JobEventType;
  /** 1 for the event's first attempt. */
  attempt: number;
  at: string;
  /** The receiver's HTTP status, when it answered. */
  statusCode?: number;
  latencyMs: number;
  /** Why the attempt failed (timeout, refused address, non-2xx ...). */
  error?: string;
  /** `delivered` (2xx), `retrying` (another attempt is scheduled) or `gave-up` (no more attempts). */
  outcome: 'delivered' | 'retrying' | 'gave-up';
}

/** Webhook attempts kept on a job: the latest ones, so the item stays small. */
export const WEBHOOK_ATTEMPTS_KEPT = 50;

/** How a large document is uploaded: S3's multipart upload, in `partCount` parts of `partSizeBytes`. */
export interface MultipartUpload {
  uploadId: string;
  partSizeBytes: number;
  partCount: number;
}

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set([
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'EXPIRED',
]);

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}
