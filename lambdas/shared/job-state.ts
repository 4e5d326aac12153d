import { InvalidTransitionError } from './errors.ts';
import type { JobStatus } from './job.ts';

/**
 * The job state machine: the one place that says which status may follow which.
 * Stores turn each edge into a conditional write (`status IN (allowed sources)`), so a
 * status never moves backwards and a repeated delivery changes nothing twice.
 *
 * FAILED → QUEUED is the explicit retry of a failed job, the only way back from a failure.
 */
const TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  AWAITING_UPLOAD: ['QUEUED', 'FAILED', 'CANCELLED', 'EXPIRED'],
  QUEUED: ['PROCESSING', 'FAILED', 'CANCELLED'],
  PROCESSING: ['SUCCEEDED', 'FAILED', 'CANCELLED'],
  FAILED: ['QUEUED', 'EXPIRED'],
  SUCCEEDED: ['EXPIRED'],
  CANCELLED: ['EXPIRED'],
  EXPIRED: [],
};

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The statuses from which `to` may be reached: the condition of the store's conditional write. */
export function sourcesOf(to: JobStatus): JobStatus[] {
  return (Object.keys(TRANSITIONS) as JobStatus[]).filter((from) => TRANSITIONS[from].includes(to));
}

export function assertTransition(jobId: string, from: JobStatus, to: JobStatus): void {
  if (!canTransition(from, to)) throw new InvalidTransitionError(jobId, from, to);
}

export function allowedTargets(from: JobStatus): readonly JobStatus[] {
  return TRANSITIONS[from];
}
