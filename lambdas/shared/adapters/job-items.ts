import { ValidationError } from '../errors.ts';
import { isTerminal, type Job, type JobStatus } from '../job.ts';
import { TABLE, TABLE_INDEXES } from '../resources.ts';

/** How a job is laid out as a table item: its keys, its index keys, and back. */

/** Statuses whose reaching is announced by an event (`job.succeeded`, `job.failed`, `job.cancelled`). */
export const ANNOUNCED_STATUSES: ReadonlySet<JobStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/** Queue-index partition of settled jobs whose event is not published yet. */
export const UNANNOUNCED = 'UNANNOUNCED';
export const jobKey = (jobId: string) => ({ [TABLE.partitionKey]: `JOB#${jobId}`, [TABLE.sortKey]: 'JOB' });
export const KEY_ATTRIBUTES = new Set<string>([
  TABLE.partitionKey,
  TABLE.sortKey,
  ...TABLE_INDEXES.flatMap((index) => [index.partitionKey, index.sortKey]),
]);

/**
 * Index keys of the sparse indexes, as they must be while the job has `status`. The queue
 * index holds QUEUED jobs by queue time (position, ETA, oldest age, jobs whose messages were
 * never sent) and PROCESSING jobs by their last progress (jobs that stalled), each per queue.
 */
export function sparseIndexKeys(
  job: Pick<Job, 'tenantId' | 'jobId' | 'priority'>,
  status: JobStatus,
  at: string,
) {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  if (isTerminal(status)) remove.push(TABLE.activeIndex.partitionKey, TABLE.activeIndex.sortKey);
  else {
    set[TABLE.activeIndex.partitionKey] = `ACTIVE#${job.tenantId}`;
    set[TABLE.activeIndex.sortKey] = job.jobId;
  }
  if (status === 'QUEUED' || status === 'PROCESSING') {
    set[TABLE.waitingIndex.partitionKey] = `${status}#${job.priority}`;
    set[TABLE.waitingIndex.sortKey] = `${at}#${job.jobId}`;
  } else if (ANNOUNCED_STATUSES.has(status)) {
    // Until its event is published (JobStore.markAnnounced), a settled job waits here for the
    // reconciler: the status and the event cannot be written together without transactions.
    set[TABLE.waitingIndex.partitionKey] = UNANNOUNCED;
    set[TABLE.waitingIndex.sortKey] = `${at}#${job.jobId}`;
  } else remove.push(TABLE.waitingIndex.partitionKey, TABLE.waitingIndex.sortKey);
  return { set, remove };
}

export function toItem(job: Job): Record<string, unknown> {
  return {
    ...jobKey(job.jobId),
    [TABLE.tenantIndex.partitionKey]: `TENANT#${job.tenantId}`,
    [TABLE.tenantIndex.sortKey]: `${job.createdAt}#${job.jobId}`,
    ...sparseIndexKeys(job, job.status, job.queuedAt ?? job.createdAt).set,
    ...job,
  };
}

export function fromItem(item: Record<string, unknown>): Job {
  return Object.fromEntries(Object.entries(item).filter(([k]) => !KEY_ATTRIBUTES.has(k))) as unknown as Job;
}

export function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string): Record<string, unknown> {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (key && typeof key === 'object' && !Array.isArray(key)) return key as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new ValidationError('cursor is not valid');
}
