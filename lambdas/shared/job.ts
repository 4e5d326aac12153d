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
  webhookUrl?: string;
  /** S3 key of the uploaded source document. */
  inputKey: string;
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
  result?: { jsonKey: string; textKey: string };
  /** Epoch seconds after which DynamoDB may delete the item. */
  expiresAt?: number;
  /** The client's Idempotency-Key and a hash of the request it came with. */
  idempotencyKey?: string;
  requestHash?: string;
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
