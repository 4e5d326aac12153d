import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Worker } from '../../gpu-worker/src/worker.ts';
import { cancelJob } from '../../lambdas/cancel-job/cancel-job.ts';
import { sweepDeadLetters } from '../../lambdas/dlq/dlq.ts';
import { ingestObject } from '../../lambdas/ingest/ingest.ts';
import { reconcile } from '../../lambdas/reconciler/reconciler.ts';
import { redrive } from '../../lambdas/redrive/redrive.ts';
import { retryJob } from '../../lambdas/retry-job/retry-job.ts';
import { PermanentJobError } from '../../lambdas/shared/errors.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import {
  drain,
  type EmulatedRuntime,
  messagesOf,
  purgeQueues,
  queuedJob,
  startEmulatedRuntime,
} from '../support/emulated.ts';

/**
 * The sequences a review traced through the failure paths, each replayed against the emulators
 * (dynalite enforces every condition expression; fauxqs keeps real visibility): each must leave
 * the job where it belongs.
 */
describe('failure sequences against the emulators', () => {
  let emulated: EmulatedRuntime;
  const base = 'http://api.test';

  beforeAll(async () => {
    emulated = await startEmulatedRuntime();
  });
  afterAll(async () => {
    await emulated?.stop();
  });
  beforeEach(async () => {
    await purgeQueues(emulated);
    vi.restoreAllMocks();
  });

  const get = (job: Job) => emulated.runtime.jobs.get(job.tenantId, job.jobId) as Promise<Job>;
  async function storedJob(overrides: Partial<Job> = {}): Promise<Job> {
    const job = queuedJob(overrides);
    await emulated.runtime.jobs.create(job);
    return job;
  }
  /** Puts the letters of the given chunks of `job` in its dead-letter queue. */
  async function deadLetter(job: Job, chunks: number[]) {
    const messages = messagesOf(job).filter((m) => chunks.includes(m.chunk.index));
    await emulated.deadLetters.sendMany(job.priority, messages);
  }

  it('retry of a job failed by the sweep removes its letter: the next sweep leaves it QUEUED', async () => {
    const job = await storedJob();
    await deadLetter(job, [0]);
    expect(await sweepDeadLetters(emulated.runtime)).toMatchObject({ failed: 1 });
    expect((await get(job)).error?.code).toBe('MAX_ATTEMPTS');

    await retryJob(emulated.runtime, job.tenantId, job.jobId, base);
    expect((await get(job)).status).toBe('QUEUED');
    expect(await sweepDeadLetters(emulated.runtime)).toMatchObject({ failed: 0 });
    expect((await get(job)).status).toBe('QUEUED');
    expect(await drain(emulated.deadLetters)).toEqual([]);
    expect((await drain(emulated.runtime.queue)).map((m) => m.chunk.index)).toEqual([0]);
  });

  it('a letter sent before the last requeue is obsolete: the sweep removes it and does not fail the job', async () => {
    const job = await storedJob({ queuedAt: new Date(Date.now() + 60_000).toISOString() });
    await deadLetter(job, [0]);
    expect(await sweepDeadLetters(emulated.runtime)).toMatchObject({ failed: 0, obsolete: 1 });
    expect((await get(job)).status).toBe('QUEUED');
  });

  it('redrive of a multi-chunk job resends every unfinished chunk, not only the dead letter', async () => {
    const job = await storedJob({ pages: { done: 0, total: 24 } });
    // Chunk 0 finished, chunk 1 died, chunk 2's message was dropped while the job was FAILED.
    await emulated.runtime.jobs.transition(job.tenantId, job.jobId, 'PROCESSING', { priority: 'express' });
    await emulated.runtime.jobs.completeChunk(job.tenantId, job.jobId, 0, 8);
    await deadLetter(job, [1]);
    await sweepDeadLetters(emulated.runtime);
    expect((await get(job)).status).toBe('FAILED');

    const result = await redrive(emulated.runtime, job.tenantId, { maxMessages: 100 });
    expect(result).toMatchObject({ moved: 1, jobIds: [job.jobId], more: false });
    expect((await get(job)).status).toBe('QUEUED');
    const sent = await drain(emulated.runtime.queue);
    expect(sent.map((m) => m.chunk.index).sort()).toEqual([1, 2]);
    expect(await drain(emulated.deadLetters)).toEqual([]);
  });

  it('redrive leaves other tenants’ letters and stops within its budget', async () => {
    const mine = await storedJob();
    const theirs = await storedJob({ tenantId: 'tenant-b' });
    await deadLetter(mine, [0]);
    await deadLetter(theirs, [0]);
    await sweepDeadLetters(emulated.runtime);
    const result = await redrive(emulated.runtime, 'tenant-a', { maxMessages: 100 });
    expect(result.jobIds).toEqual([mine.jobId]);
    const left = await drain(emulated.deadLetters);
    expect(left.map((m) => m.jobId)).toEqual([theirs.jobId]);
    expect((await get(theirs)).status).toBe('FAILED');
  });

  it('the sweep reads past its first ten letters', async () => {
    const jobs = await Promise.all(Array.from({ length: 25 }, () => storedJob()));
    for (const job of jobs) await deadLetter(job, [0]);
    const result = await sweepDeadLetters(emulated.runtime);
    expect(result).toMatchObject({ seen: 25, failed: 25, truncated: false });
    for (const job of jobs) expect((await get(job)).status).toBe('FAILED');
    // The letters stay for redrive.
    expect(await drain(emulated.deadLetters)).toHaveLength(25);
  });

  it('a worker whose failing write is refused keeps the message: the job is failed on the next delivery', async () => {
    const job = await storedJob();
    await emulated.runtime.blobs.put(job.inputKey, Buffer.from('%PDF-1.4'), 'application/pdf');
    await emulated.runtime.queue.sendMany('express', messagesOf(job));
    const worker = new Worker(
      emulated.runtime,
      {
        recognize: async () => {
          throw new PermanentJobError('INVALID_INPUT', 'page 1 is not a readable image');
        },
      },
      { backoff: { baseSeconds: 1, maxSeconds: 1 } },
    );
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    vi.spyOn(emulated.runtime.lifecycle, 'fail').mockRejectedValueOnce(throttled);
    const receive = () =>
      emulated.runtime.queue.receive('express', { maxMessages: 1, waitSeconds: 2, visibilitySeconds: 30 });
    const [first] = await receive();
    expect(await worker.process(first!)).toBe('retry');
    expect((await get(job)).status).toBe('PROCESSING');
    // Not deleted: it comes back after its backoff, and this time the write goes through.
    const [again] = await receive();
    expect(again?.messageId).toBe(first!.messageId);
    expect(await worker.process(again!)).toBe('failed');
    expect((await get(job)).error).toEqual({
      code: 'INVALID_INPUT',
      message: 'page 1 is not a readable image',
    });
    expect(await drain(emulated.runtime.queue)).toEqual([]);
  });

  it('retry whose send fails leaves the job QUEUED without enqueuedAt, and the reconciler sends it', async () => {
    const job = await storedJob({ status: 'FAILED', error: { code: 'MAX_ATTEMPTS', message: 'x' } });
    const send = vi
      .spyOn(emulated.runtime.queue, 'sendMany')
      .mockRejectedValueOnce(new Error('SQS throttled'));
    const view = await retryJob(emulated.runtime, job.tenantId, job.jobId, base);
    expect(view.status).toBe('QUEUED');
    expect(send).toHaveBeenCalledTimes(1);
    expect((await get(job)).enqueuedAt).toBeUndefined();
    expect(await drain(emulated.runtime.queue)).toEqual([]);

    expect(await reconcile(emulated.runtime, { unsentAfterSeconds: 0 })).toMatchObject({ enqueued: 1 });
    expect((await get(job)).enqueuedAt).toBeDefined();
    expect((await drain(emulated.runtime.queue)).map((m) => m.jobId)).toEqual([job.jobId]);
    // Once sent, a second run leaves it alone.
    expect(await reconcile(emulated.runtime, { unsentAfterSeconds: 0 })).toMatchObject({ enqueued: 0 });
  });

  it('two S3 events for one upload arriving together send each chunk once', async () => {
    const job = await storedJob({
      status: 'AWAITING_UPLOAD',
      contentType: 'image/png',
      sizeBytes: 24,
      chunks: undefined,
      queuedAt: undefined,
    });
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108', 'hex');
    await emulated.runtime.blobs.put(job.inputKey, png.subarray(0, 24), 'image/png');
    const outcomes = await Promise.all([
      ingestObject(emulated.runtime, job.inputKey),
      ingestObject(emulated.runtime, job.inputKey),
    ]);
    expect(outcomes.sort()).toEqual(['duplicate', 'queued']);
    expect(await drain(emulated.runtime.queue)).toHaveLength(1);
  });

  it('an upload larger than the job declared fails with a clear error', async () => {
    const job = await storedJob({
      status: 'AWAITING_UPLOAD',
      contentType: 'image/png',
      sizeBytes: 100,
      chunks: undefined,
    });
    const png = Buffer.concat([
      Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
      Buffer.alloc(5 * 1024 * 1024),
    ]);
    await emulated.runtime.blobs.put(job.inputKey, png, 'image/png');
    expect(await ingestObject(emulated.runtime, job.inputKey)).toBe('failed');
    const failed = await get(job);
    expect(failed.error).toEqual({
      code: 'INVALID_INPUT',
      message: expect.stringContaining(`the upload has ${png.length} bytes but the job declared 100`),
    });
  });

  it('a job cancelled before its messages are recorded gets no job.queued after job.cancelled', async () => {
    const job = await storedJob();
    await cancelJob(emulated.runtime, job.tenantId, job.jobId, base);
    const publish = vi.spyOn(emulated.runtime.events, 'publish');
    await emulated.runtime.lifecycle.enqueue({ ...job, status: 'QUEUED' });
    expect(publish).not.toHaveBeenCalled();
    expect((await get(job)).status).toBe('CANCELLED');
  });

  it('an S3 event ingest gave up on is taken in by the reconciler', async () => {
    const job = await storedJob({
      status: 'AWAITING_UPLOAD',
      contentType: 'image/png',
      sizeBytes: 24,
      chunks: undefined,
    });
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108', 'hex');
    await emulated.runtime.blobs.put(job.inputKey, png.subarray(0, 24), 'image/png');
    await emulated.runtime.ingestFailures!.send({
      requestContext: { condition: 'RetriesExhausted' },
      requestPayload: {
        Records: [{ s3: { bucket: { name: emulated.config.bucketName }, object: { key: job.inputKey } } }],
      },
    });
    expect(await reconcile(emulated.runtime)).toMatchObject({ ingested: 1 });
    expect((await get(job)).status).toBe('QUEUED');
    expect(await drain(emulated.runtime.queue)).toHaveLength(1);
    expect(await emulated.runtime.ingestFailures!.receive(10, 0)).toEqual([]);
  });

  it('an upload that keeps failing ingest fails its job instead of leaving it waiting', async () => {
    const job = await storedJob({ status: 'AWAITING_UPLOAD', chunks: undefined });
    // The object is there but reading it keeps failing.
    await emulated.runtime.blobs.put(job.inputKey, Buffer.from('%PDF-1.4'), 'application/pdf');
    vi.spyOn(emulated.runtime.blobs, 'head').mockRejectedValue(new Error('S3 is unreachable'));
    await emulated.runtime.ingestFailures!.send({
      requestPayload: { Records: [{ s3: { object: { key: job.inputKey } } }] },
    });
    // A record that failed again waits for the next run (here at once: no retry delay).
    expect(await reconcile(emulated.runtime, { maxIngestAttempts: 2, ingestRetrySeconds: 0 })).toMatchObject({
      failed: 0,
    });
    expect((await get(job)).status).toBe('AWAITING_UPLOAD');
    expect(await reconcile(emulated.runtime, { maxIngestAttempts: 2, ingestRetrySeconds: 0 })).toMatchObject({
      failed: 1,
    });
    const failed = await get(job);
    expect(failed.status).toBe('FAILED');
    expect(failed.error?.code).toBe('PROCESSING_ERROR');
    expect(failed.error?.message).toContain('S3 is unreachable');
  });

  it('a PROCESSING job with no live message is resent, then failed with STALLED', async () => {
    const job = await storedJob({ pages: { done: 0, total: 16 } });
    await emulated.runtime.jobs.transition(job.tenantId, job.jobId, 'PROCESSING', { priority: 'express' });
    await emulated.runtime.jobs.completeChunk(job.tenantId, job.jobId, 0, 8);
    const later = () => new Date(Date.now() + 10 * 60_000);
    expect(
      await reconcile(emulated.runtime, { stalledAfterSeconds: 60, maxResends: 1, now: later() }),
    ).toMatchObject({
      resent: 1,
    });
    expect((await drain(emulated.runtime.queue)).map((m) => m.chunk.index)).toEqual([1]);
    expect(
      await reconcile(emulated.runtime, { stalledAfterSeconds: 60, maxResends: 1, now: later() }),
    ).toMatchObject({
      failed: 1,
    });
    const stalled = await get(job);
    expect(stalled.status).toBe('FAILED');
    expect(stalled.error?.code).toBe('STALLED');
  });

  it('an event lost to a failed publish after the status was written is published by the reconciler', async () => {
    const job = await storedJob();
    const publish = vi
      .spyOn(emulated.runtime.events, 'publish')
      .mockRejectedValueOnce(new Error('SNS throttled'));
    await expect(
      emulated.runtime.lifecycle.fail(job.tenantId, job.jobId, {
        code: 'INVALID_INPUT',
        message: 'bad page',
      }),
    ).rejects.toThrow('SNS throttled');
    expect((await get(job)).status).toBe('FAILED');
    // A redelivery finds the job FAILED already and writes (and publishes) nothing.
    expect(
      (
        await emulated.runtime.lifecycle.fail(job.tenantId, job.jobId, {
          code: 'INVALID_INPUT',
          message: 'bad page',
        })
      ).changed,
    ).toBe(false);

    const later = new Date(Date.now() + 5 * 60_000);
    expect(await reconcile(emulated.runtime, { now: later })).toMatchObject({ announced: 1 });
    const events = publish.mock.calls.map(([event]) => event).filter((e) => e.jobId === job.jobId);
    expect(events.map((e) => e.type)).toEqual(['job.failed', 'job.failed']);
    expect(events[1]).toMatchObject({ status: 'FAILED', error: { code: 'INVALID_INPUT' } });
    // Published and recorded: the next run leaves it alone.
    expect(await reconcile(emulated.runtime, { now: later })).toMatchObject({ announced: 0 });
  });

  it('a PROCESSING job is not taken for stalled while its queue still has work waiting', async () => {
    const job = await storedJob({ pages: { done: 0, total: 16 } });
    await emulated.runtime.jobs.transition(job.tenantId, job.jobId, 'PROCESSING', { priority: 'express' });
    await emulated.runtime.queue.sendMany('express', messagesOf(queuedJob()));
    const result = await reconcile(emulated.runtime, {
      stalledAfterSeconds: 60,
      now: new Date(Date.now() + 10 * 60_000),
    });
    expect(result.resent).toBe(0);
    expect((await get(job)).status).toBe('PROCESSING');
  });
});
