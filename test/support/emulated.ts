import { Logger } from '@aws-lambda-powertools/logger';
import { WorkQueue } from '../../lambdas/shared/adapters/work-queue.ts';
import { createAwsClients } from '../../lambdas/shared/aws-clients.ts';
import { type Config, DEFAULT_LIMITS, type Limits } from '../../lambdas/shared/config.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { chunkMessages } from '../../lambdas/shared/messages.ts';
import { objectKeys } from '../../lambdas/shared/resources.ts';
import { createRuntime, type Runtime } from '../../lambdas/shared/runtime.ts';
import { type Emulators, startEmulators } from '../../local/emulators.ts';
import { provisionLocalResources } from '../../local/resources.ts';

/**
 * The runtime over the real emulators (dynalite enforces condition expressions, fauxqs has SQS
 * visibility and redrive): for tests of sequences that a mock would let through.
 */
export interface EmulatedRuntime {
  runtime: Runtime;
  config: Config;
  emulators: Emulators;
  /** The dead-letter queues as if they were work queues, to put letters in and count them. */
  deadLetters: WorkQueue;
  stop(): Promise<void>;
}

export async function startEmulatedRuntime(limits: Partial<Limits> = {}): Promise<EmulatedRuntime> {
  const emulators = await startEmulators({ region: 'us-east-1' });
  const config = await provisionLocalResources(emulators, {
    region: 'us-east-1',
    maxUploadBytes: 50 * 1024 * 1024,
    resultUrlTtlSeconds: 600,
    jobTtlDays: 7,
    limits: { ...DEFAULT_LIMITS, ...limits },
  });
  const clients = createAwsClients(config);
  const runtime = createRuntime(config, { clients, logger: new Logger({ logLevel: 'SILENT' }) });
  const dlq = config.deadLetterQueues;
  const deadLetters = new WorkQueue(clients.sqs, { express: dlq.express!, bulk: dlq.bulk! });
  return { runtime, config, emulators, deadLetters, stop: () => emulators.stop() };
}

let counter = 0;

/** A job record as ingest leaves it: QUEUED with `pages` pages in chunks of `chunkPages`. */
export function queuedJob(overrides: Partial<Job> & { pages?: Job['pages'] } = {}, chunkPages = 8): Job {
  counter += 1;
  const tenantId = overrides.tenantId ?? 'tenant-a';
  const jobId = overrides.jobId ?? `job-${Date.now().toString(36)}-${counter}`;
  const total = overrides.pages?.total ?? 1;
  const now = new Date().toISOString();
  return {
    tenantId,
    jobId,
    status: 'QUEUED',
    fileName: 'scan.pdf',
    contentType: 'application/pdf',
    sizeBytes: 1000,
    priority: 'express',
    inputKey: objectKeys.input(tenantId, jobId),
    pages: { done: 0, total },
    chunks: { total: Math.ceil(total / chunkPages), pages: chunkPages },
    createdAt: now,
    updatedAt: now,
    queuedAt: now,
    enqueuedAt: now,
    ...overrides,
  };
}

/** The work messages of a job (all its chunks), stamped now. */
export function messagesOf(job: Job) {
  return chunkMessages(job, job.pages.total, job.chunks?.pages ?? 8, new Date().toISOString());
}

/** Receives everything visible on a queue (hiding it for a minute) and returns the bodies parsed. */
export async function drain(queue: WorkQueue, priority: 'express' | 'bulk' = 'express') {
  const bodies: Array<{ jobId: string; chunk: { index: number } }> = [];
  while (true) {
    const batch = await queue.receive(priority, { maxMessages: 10, waitSeconds: 0, visibilitySeconds: 60 });
    if (batch.length === 0) return bodies;
    bodies.push(...batch.map((m) => JSON.parse(m.body) as { jobId: string; chunk: { index: number } }));
  }
}

/** Deletes every message of the work queues and their dead-letter queues (between tests). */
export async function purgeQueues(emulated: EmulatedRuntime): Promise<void> {
  for (const queue of [emulated.runtime.queue, emulated.deadLetters]) {
    for (const priority of ['express', 'bulk'] as const) {
      while (true) {
        const batch = await queue.receive(priority, {
          maxMessages: 10,
          waitSeconds: 0,
          visibilitySeconds: 60,
        });
        if (batch.length === 0) break;
        await Promise.all(batch.map((m) => queue.delete(m)));
      }
    }
  }
}
