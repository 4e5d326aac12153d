import { PublishCommand } from '@aws-sdk/client-sns';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { sweepDeadLetters } from '../../lambdas/dlq/dlq.ts';
import { getJob } from '../../lambdas/get-job/get-job.ts';
import { queueStats } from '../../lambdas/queue-stats/queue-stats.ts';
import { redrive } from '../../lambdas/redrive/redrive.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { jobItem, makeJob, mockedRuntime, TEST_CONFIG } from '../support/runtime.ts';

const work = (tenantId: string, jobId: string) =>
  JSON.stringify({
    v: 1,
    tenantId,
    jobId,
    inputKey: `inputs/${tenantId}/${jobId}/source`,
    contentType: 'image/png',
    chunk: { index: 0, firstPage: 1, pageCount: 1 },
    enqueuedAt: '2026-01-01T00:00:00Z',
  });

function deadLetters(ctx: ReturnType<typeof mockedRuntime>, bodies: string[]) {
  const messages = bodies.map((Body, i) => ({ MessageId: `m${i}`, ReceiptHandle: `rh${i}`, Body }));
  ctx.mocks.sqs
    .on(ReceiveMessageCommand, { QueueUrl: TEST_CONFIG.deadLetterQueues.express })
    .resolves({ Messages: messages });
  ctx.mocks.sqs.on(ReceiveMessageCommand, { QueueUrl: TEST_CONFIG.deadLetterQueues.bulk }).resolves({});
}

describe('sweepDeadLetters', () => {
  it('fails the jobs of dead letters with MAX_ATTEMPTS and the last error, once, leaving the messages', async () => {
    const ctx = mockedRuntime();
    deadLetters(ctx, [work('tenant-a', 'job-1')]);
    const job = makeJob({
      status: 'PROCESSING',
      lastError: { code: 'PROCESSING_ERROR', message: 'GPU fell off' },
    });
    ctx.mocks.dynamo.on(GetCommand).resolves({ Item: jobItem(job) });
    ctx.mocks.dynamo.on(UpdateCommand).resolves({ Attributes: jobItem({ ...job, status: 'FAILED' }) });
    ctx.mocks.sns.on(PublishCommand).resolves({});
    expect(await sweepDeadLetters(ctx.runtime)).toEqual({ seen: 1, failed: 1 });
    const values = ctx.mocks.dynamo.commandCalls(UpdateCommand)[0]!.args[0].input.ExpressionAttributeValues!;
    expect(values[':to']).toBe('FAILED');
    expect(values[':error']).toEqual({
      code: 'MAX_ATTEMPTS',
      message: 'gave up after 3 attempts; last error: GPU fell off',
    });
    expect(ctx.mocks.sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
    expect(ctx.mocks.sns.commandCalls(PublishCommand)).toHaveLength(1);

    // A job that is already FAILED is not touched again.
    ctx.mocks.dynamo.on(GetCommand).resolves({ Item: jobItem({ ...job, status: 'FAILED' }) });
    ctx.mocks.dynamo.resetHistory();
    expect(await sweepDeadLetters(ctx.runtime)).toEqual({ seen: 1, failed: 0 });
    expect(ctx.mocks.dynamo.commandCalls(UpdateCommand)).toHaveLength(0);
  });
});

describe('redrive', () => {
  it("moves the caller's dead letters back, requeues their jobs, and leaves others'", async () => {
    const ctx = mockedRuntime();
    deadLetters(ctx, [work('tenant-a', 'job-1'), work('tenant-b', 'job-2')]);
    const failed = makeJob({ status: 'FAILED', error: { code: 'MAX_ATTEMPTS', message: 'x' } });
    ctx.mocks.dynamo.on(GetCommand).resolves({ Item: jobItem(failed) });
    ctx.mocks.dynamo.on(UpdateCommand).resolves({ Attributes: jobItem({ ...failed, status: 'QUEUED' }) });
    ctx.mocks.sqs.on(SendMessageCommand).resolves({});
    ctx.mocks.sqs.on(DeleteMessageCommand).resolves({});
    ctx.mocks.sqs.on(ChangeMessageVisibilityCommand).resolves({});
    const out = await redrive(ctx.runtime, 'tenant-a', { maxMessages: 100 });
    expect(out).toEqual({ moved: 1, jobIds: ['job-1'], dropped: 0 });
    const sent = ctx.mocks.sqs.commandCalls(SendMessageCommand)[0]!.args[0].input;
    expect(sent.QueueUrl).toBe(TEST_CONFIG.queues.express);
    expect(JSON.parse(sent.MessageBody!).jobId).toBe('job-1');
    const update = ctx.mocks.dynamo.commandCalls(UpdateCommand)[0]!.args[0].input;
    expect(update.ExpressionAttributeValues?.[':to']).toBe('QUEUED');
    expect(update.UpdateExpression).toContain('#error');
    // tenant-b's dead letter is made visible again, not moved.
    expect(
      ctx.mocks.sqs.commandCalls(ChangeMessageVisibilityCommand)[0]!.args[0].input.VisibilityTimeout,
    ).toBe(0);
    expect(ctx.mocks.sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
  });
});

describe('queueStats', () => {
  it('reports depth, dead letters, oldest age, workers and throughput', async () => {
    const ctx = mockedRuntime();
    const now = new Date('2026-01-01T00:10:00.000Z');
    ctx.mocks.sqs.on(GetQueueAttributesCommand).resolves({
      Attributes: { ApproximateNumberOfMessages: '4', ApproximateNumberOfMessagesNotVisible: '2' },
    });
    ctx.mocks.dynamo
      .on(QueryCommand, { IndexName: 'byQueueWaiting' })
      .resolves({ Items: [{ queuedAt: '2026-01-01T00:09:00.000Z' }] });
    ctx.mocks.dynamo
      .on(QueryCommand, {
        ExpressionAttributeValues: { ':pk': 'WORKERS', ':cutoff': '2026-01-01T00:09:00.000Z' },
      })
      .resolves({ Count: 3 });
    ctx.mocks.dynamo
      .on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'STATS#pages', ':from': '2026-01-01T00:05' } })
      .resolves({ Items: [{ pages: 60 }, { pages: 60 }] });
    const stats = await queueStats(ctx.runtime, now);
    expect(stats.queues.express).toEqual({
      visible: 4,
      inFlight: 2,
      delayed: 0,
      deadLetters: 6,
      oldestAgeSeconds: 60,
    });
    expect(stats.workers).toBe(3);
    expect(stats.pagesPerMinute).toBe(20);
  });
});

describe('get-job estimate', () => {
  // 60 pages in the last 6 minutes → 10 pages/min; 8 pages ahead + its own 2 → 60 s.
  it('gives a queued job its position, the pages ahead and an ETA', async () => {
    const ctx = mockedRuntime();
    const job: Job = makeJob({
      status: 'QUEUED',
      queuedAt: '2026-01-01T00:00:00.000Z',
      pages: { done: 0, total: 2 },
    });
    ctx.mocks.dynamo.on(GetCommand).resolves({ Item: jobItem(job) });
    ctx.mocks.dynamo
      .on(QueryCommand, { IndexName: 'byQueueWaiting' })
      .resolves({ Items: [{ pages: { done: 0, total: 4 } }, { pages: { done: 1, total: 5 } }] });
    ctx.mocks.dynamo.on(QueryCommand, { KeyConditionExpression: '#pk = :pk AND #sk >= :from' }).resolves({
      Items: [{ pages: 60 }],
    });
    const view = await getJob(ctx.runtime, 'tenant-a', 'job-1', 'https://x');
    expect(view.estimate).toEqual({ queue: 'express', position: 3, pagesAhead: 8, etaSeconds: 60 });
  });
});
