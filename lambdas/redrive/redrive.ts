import { z } from 'zod';
import type { ReceivedMessage } from '../shared/adapters/work-queue.ts';
import { deadlineOf } from '../shared/deadline.ts';
import { type ApiHandler, apiHandler, json, parseJsonBody } from '../shared/http.ts';
import { PRIORITIES, type Priority } from '../shared/job.ts';
import { movedOn } from '../shared/lifecycle.ts';
import { InvalidMessageError, parseWorkMessage, type WorkMessage } from '../shared/messages.ts';
import type { Runtime } from '../shared/runtime.ts';

export const RedriveBodySchema = z.object({
  queue: z.enum(PRIORITIES).optional(),
  maxMessages: z.number().int().min(1).max(1000).default(100),
});

/**
 * Time one redrive call may spend when the stack sets no budget: API Gateway ends a request at
 * 29 s, so a call stops early and says `more: true`; the client calls again for the rest.
 */
export const REDRIVE_BUDGET_MS = 20_000;

export interface RedriveResult {
  /** Jobs put back on their queue. */
  moved: number;
  jobIds: string[];
  /** Letters of jobs that finished or were cancelled since: removed. */
  dropped: number;
  /** True when the call stopped at its time or size budget with letters possibly left. */
  more: boolean;
}

/**
 * POST /v1/queues/redrive: puts the caller's dead-lettered jobs back on their queue. A FAILED
 * job is requeued whole (every unfinished chunk is sent, not only the dead letter: chunks that
 * were dropped while it was FAILED come back too) and its letters are removed; a job still
 * QUEUED or PROCESSING (not yet swept) gets its letters' chunks sent back as they are. Other
 * tenants' letters are left where they are; letters of jobs that finished or were cancelled
 * since are dropped.
 */
export async function redrive(
  runtime: Runtime,
  tenantId: string,
  body: z.infer<typeof RedriveBodySchema>,
  deadline = deadlineOf(runtime.config) ?? Date.now() + REDRIVE_BUDGET_MS,
): Promise<RedriveResult> {
  const { queue } = runtime;
  const result: RedriveResult = { moved: 0, jobIds: [], dropped: 0, more: false };
  const priorities = (body.queue ? [body.queue] : [...PRIORITIES]).filter((p: Priority) =>
    queue.hasDeadLetterQueue(p),
  );
  for (const priority of priorities) {
    // The tenant's letters are grouped by job; everyone else's go back at the end.
    const others: ReceivedMessage[] = [];
    const byJob = new Map<string, Array<{ message: ReceivedMessage; work: WorkMessage }>>();
    let letters = 0;
    const spent = () => letters >= body.maxMessages || Date.now() >= deadline;
    if (spent()) {
      result.more = true;
      continue;
    }
    try {
      // The first receive waits a little: the dead-letter sweep may be holding letters.
      for await (const batch of queue.deadLetterBatches(priority, { holdSeconds: 60, firstWaitSeconds: 2 })) {
        for (const message of batch) {
          let work: WorkMessage;
          try {
            work = parseWorkMessage(message.body);
          } catch (error) {
            if (!(error instanceof InvalidMessageError)) throw error;
            others.push(message);
            continue;
          }
          if (work.tenantId !== tenantId) {
            others.push(message);
            continue;
          }
          letters += 1;
          const list = byJob.get(work.jobId) ?? [];
          list.push({ message, work });
          byJob.set(work.jobId, list);
        }
        if (spent()) {
          result.more = true;
          break;
        }
      }
      for (const [jobId, held] of byJob) {
        await redriveJob(runtime, tenantId, jobId, priority, held, result);
      }
    } finally {
      await queue.release([...others, ...[...byJob.values()].flat().map((h) => h.message)]);
    }
  }
  return result;
}

/** Settles one job's held letters; each letter it settles leaves `held`. */
async function redriveJob(
  runtime: Runtime,
  tenantId: string,
  jobId: string,
  priority: Priority,
  held: Array<{ message: ReceivedMessage; work: WorkMessage }>,
  result: RedriveResult,
): Promise<void> {
  const { jobs, lifecycle, queue, logger } = runtime;
  const removeAll = async () => {
    while (held.length > 0) await queue.delete(held[0]!.message).then(() => held.shift());
  };
  const job = await jobs.get(tenantId, jobId);
  if (!job || job.status === 'SUCCEEDED' || job.status === 'CANCELLED' || job.status === 'EXPIRED') {
    result.dropped += held.length;
    await removeAll();
    return;
  }
  if (job.status === 'FAILED' && job.chunks) {
    try {
      await lifecycle.requeue(job, { priority, reason: 'redrive', removeDeadLetters: false });
    } catch (error) {
      if (!movedOn(error)) throw error;
    }
    await removeAll();
  } else {
    // Not swept yet (QUEUED or PROCESSING): its other chunks are alive, so only these go back.
    while (held.length > 0) {
      const { message } = held[0]!;
      await queue.sendBody(priority, message.body);
      await queue.delete(message);
      held.shift();
    }
  }
  result.moved += 1;
  result.jobIds.push(jobId);
  logger.info('redrove a dead-lettered job', { jobId, queue: priority, status: job.status });
}

export function makeRedriveHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event, caller) => {
    const body = event.body ? parseJsonBody(event, RedriveBodySchema) : RedriveBodySchema.parse({});
    return json(200, await redrive(runtime, caller.tenantId, body));
  });
}
