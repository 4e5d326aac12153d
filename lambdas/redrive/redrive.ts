import { z } from 'zod';
import { InvalidTransitionError } from '../shared/errors.ts';
import { type ApiHandler, apiHandler, json, parseJsonBody } from '../shared/http.ts';
import { PRIORITIES, type Priority } from '../shared/job.ts';
import { InvalidMessageError, parseWorkMessage } from '../shared/messages.ts';
import type { Runtime } from '../shared/runtime.ts';

export const RedriveBodySchema = z.object({
  queue: z.enum(PRIORITIES).optional(),
  maxMessages: z.number().int().min(1).max(1000).default(100),
});

/**
 * POST /v1/queues/redrive: moves the caller's dead letters back to their work queue and their
 * jobs from FAILED back to QUEUED. Other tenants' dead letters are left where they are; dead
 * letters of jobs that finished or were cancelled since are dropped.
 */
export async function redrive(runtime: Runtime, tenantId: string, body: z.infer<typeof RedriveBodySchema>) {
  const { queue, jobs, logger } = runtime;
  const moved: string[] = [];
  let dropped = 0;
  const priorities = (body.queue ? [body.queue] : [...PRIORITIES]).filter((p: Priority) =>
    queue.hasDeadLetterQueue(p),
  );
  for (const priority of priorities) {
    const seen = new Set<string>();
    let first = true;
    while (moved.length < body.maxMessages) {
      // The first receive waits a little: the dead-letter sweep may be holding messages for a second.
      const batch = await queue.receive(priority, {
        dead: true,
        maxMessages: 10,
        waitSeconds: first ? 2 : 0,
        visibilitySeconds: 30,
      });
      first = false;
      const fresh = batch.filter((m) => !seen.has(m.messageId));
      // Letters seen before in this call (left for another tenant) go straight back.
      await Promise.all(
        batch
          .filter((m) => seen.has(m.messageId))
          .map((m) => queue.extendVisibility(m, 0).catch(() => undefined)),
      );
      if (fresh.length === 0) break;
      for (const message of fresh) {
        seen.add(message.messageId);
        let work: ReturnType<typeof parseWorkMessage>;
        try {
          work = parseWorkMessage(message.body);
        } catch (error) {
          if (!(error instanceof InvalidMessageError)) throw error;
          continue;
        }
        if (work.tenantId !== tenantId || moved.length >= body.maxMessages) {
          await queue.extendVisibility(message, 0);
          continue;
        }
        const job = await jobs.get(tenantId, work.jobId);
        if (!job || job.status === 'SUCCEEDED' || job.status === 'CANCELLED' || job.status === 'EXPIRED') {
          await queue.delete(message);
          dropped += 1;
          continue;
        }
        try {
          await jobs.transition(
            tenantId,
            job.jobId,
            'QUEUED',
            { queuedAt: new Date().toISOString(), priority },
            ['error', 'finishedAt', 'expiresAt'],
          );
        } catch (error) {
          // Still QUEUED or PROCESSING (not yet swept to FAILED): the work goes back all the same.
          if (!(error instanceof InvalidTransitionError)) throw error;
        }
        await queue.sendBody(priority, message.body);
        await queue.delete(message);
        if (!moved.includes(job.jobId)) moved.push(job.jobId);
        logger.info('redrove a dead letter', { jobId: job.jobId, queue: priority });
      }
    }
  }
  return { moved: moved.length, jobIds: moved, dropped };
}

export function makeRedriveHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event, caller) => {
    const body = event.body ? parseJsonBody(event, RedriveBodySchema) : RedriveBodySchema.parse({});
    return json(200, await redrive(runtime, caller.tenantId, body));
  });
}
