import { describe, expect, it } from 'vitest';
import { InvalidTransitionError } from '../../lambdas/shared/errors.ts';
import { JOB_STATUSES, type JobStatus } from '../../lambdas/shared/job.ts';
import {
  allowedTargets,
  assertTransition,
  canTransition,
  sourcesOf,
} from '../../lambdas/shared/job-state.ts';

const ALLOWED: Array<[JobStatus, JobStatus]> = [
  ['AWAITING_UPLOAD', 'QUEUED'],
  ['AWAITING_UPLOAD', 'FAILED'],
  ['AWAITING_UPLOAD', 'CANCELLED'],
  ['AWAITING_UPLOAD', 'EXPIRED'],
  ['QUEUED', 'PROCESSING'],
  ['QUEUED', 'FAILED'],
  ['QUEUED', 'CANCELLED'],
  ['PROCESSING', 'SUCCEEDED'],
  ['PROCESSING', 'FAILED'],
  ['PROCESSING', 'CANCELLED'],
  ['FAILED', 'QUEUED'],
  ['FAILED', 'EXPIRED'],
  ['SUCCEEDED', 'EXPIRED'],
  ['CANCELLED', 'EXPIRED'],
];
const allowed = new Set(ALLOWED.map(([from, to]) => `${from}→${to}`));
const every = JOB_STATUSES.flatMap((from) => JOB_STATUSES.map((to) => [from, to] as [JobStatus, JobStatus]));

describe('job state machine', () => {
  it.each(ALLOWED)('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(() => assertTransition('j', from, to)).not.toThrow();
    expect(sourcesOf(to)).toContain(from);
  });

  it.each(every.filter(([from, to]) => !allowed.has(`${from}→${to}`)))('refuses %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    expect(() => assertTransition('j', from, to)).toThrow(InvalidTransitionError);
    expect(sourcesOf(to)).not.toContain(from);
  });

  it('never allows a status to follow itself (a repeat is a no-op, not a transition)', () => {
    for (const status of JOB_STATUSES) expect(canTransition(status, status)).toBe(false);
  });

  it('has no way out of EXPIRED and none back to AWAITING_UPLOAD', () => {
    expect(allowedTargets('EXPIRED')).toEqual([]);
    expect(sourcesOf('AWAITING_UPLOAD')).toEqual([]);
  });

  it('moves forward only, except the explicit retry FAILED → QUEUED', () => {
    const rank: Record<JobStatus, number> = {
      AWAITING_UPLOAD: 0,
      QUEUED: 1,
      PROCESSING: 2,
      SUCCEEDED: 3,
      FAILED: 3,
      CANCELLED: 3,
      EXPIRED: 4,
    };
    for (const [from, to] of ALLOWED) {
      if (from === 'FAILED' && to === 'QUEUED') continue;
      expect(rank[to]).toBeGreaterThan(rank[from]);
    }
  });
});
