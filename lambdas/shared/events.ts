import type { Job, JobError, JobStatus } from './job.ts';

/** What the event bus carries when a job reaches a status clients care about. */
export const JOB_EVENT_TYPES = ['job.queued', 'job.succeeded', 'job.failed', 'job.cancelled'] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

export interface JobEvent {
  type: JobEventType;
  tenantId: string;
  jobId: string;
  status: JobStatus;
  occurredAt: string;
  pages?: { done: number; total: number };
  error?: JobError;
  webhookUrl?: string;
}

/** The event for a job as it stands now. */
export function jobEvent(
  job: Pick<Job, 'tenantId' | 'jobId' | 'status' | 'pages' | 'error' | 'webhookUrl'>,
  type: JobEventType,
): JobEvent {
  return {
    type,
    tenantId: job.tenantId,
    jobId: job.jobId,
    status: job.status,
    occurredAt: new Date().toISOString(),
    pages: job.pages,
    ...(job.error ? { error: job.error } : {}),
    ...(job.webhookUrl ? { webhookUrl: job.webhookUrl } : {}),
  };
}
