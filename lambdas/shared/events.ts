import { createHash } from 'node:crypto';
import type { Job, JobError, JobStatus } from './job.ts';

/**
 * The job events: what the events topic carries and what a webhook receives, in one schema.
 * `version` changes only when a field changes meaning; fields are only ever added.
 */
export const EVENT_SCHEMA_VERSION = 1;

export const JOB_EVENT_TYPES = [
  'job.queued',
  /** A chunk of pages is done; published only for jobs that ask for progress. */
  'job.progress',
  'job.succeeded',
  'job.failed',
  'job.cancelled',
] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

/** What a webhook receives when its job does not name the events it wants: the job's end. */
export const DEFAULT_WEBHOOK_EVENTS: readonly JobEventType[] = [
  'job.succeeded',
  'job.failed',
  'job.cancelled',
];

export interface JobEvent {
  version: typeof EVENT_SCHEMA_VERSION;
  /**
   * The same for every copy of one event (a duplicate publish, the reconciler's republish, each
   * webhook attempt), so subscribers and receivers can drop repeats.
   */
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
  error?: JobError;
}

type EventSource = Pick<
  Job,
  'tenantId' | 'jobId' | 'status' | 'pages' | 'error' | 'fileName' | 'queuedAt' | 'finishedAt' | 'chunks'
>;

/**
 * The event for a job as it stands now. Its id is derived from what the event is about (the
 * job, the type, and the moment of the transition, or the chunk), not drawn at random, so that
 * publishing the same event again gives the same id.
 */
export function jobEvent(job: EventSource, type: JobEventType, chunkIndex?: number): JobEvent {
  const moment =
    type === 'job.progress'
      ? `${job.queuedAt ?? ''}#${chunkIndex ?? ''}`
      : type === 'job.queued'
        ? (job.queuedAt ?? '')
        : (job.finishedAt ?? '');
  return {
    version: EVENT_SCHEMA_VERSION,
    id: `evt_${createHash('sha256').update(`${job.jobId}\n${type}\n${moment}`).digest('base64url').slice(0, 22)}`,
    type,
    tenantId: job.tenantId,
    jobId: job.jobId,
    status: job.status,
    occurredAt: new Date().toISOString(),
    ...(job.fileName ? { fileName: job.fileName } : {}),
    pages: job.pages,
    ...(type === 'job.progress' && chunkIndex !== undefined
      ? { chunk: { index: chunkIndex, total: job.chunks?.total ?? 1 } }
      : {}),
    ...(job.error ? { error: job.error } : {}),
  };
}

/** Whether the job's webhook wants events of this type. */
export function webhookWants(job: Pick<Job, 'webhook'>, type: JobEventType): boolean {
  return job.webhook?.events.includes(type) === true;
}

/** Whether `job.progress` events are published for the job (it asked, or its webhook wants them). */
export function wantsProgress(job: Pick<Job, 'webhook' | 'progressEvents'>): boolean {
  return job.progressEvents === true || webhookWants(job, 'job.progress');
}
