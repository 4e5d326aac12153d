import { PublishCommand } from '@aws-sdk/client-sns';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { retryJob } from '../../lambdas/retry-job/retry-job.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { chunkMessages } from '../../lambdas/shared/messages.ts';
import { jobItem, makeJob, mockedRuntime } from '../support/runtime.ts';

function setup(job: Job) {
  const ctx = mockedRuntime();
  ctx.mocks.dynamo.on(GetCommand).resolves({ Item: jobItem(job) });
  ctx.mocks.dynamo
    .on(UpdateCommand)
    .resolves({ Attributes: jobItem({ ...job, status: 'QUEUED', error: undefined }) });
  ctx.mocks.sqs.on(SendMessageBatchCommand).resolves({ Successful: [] });
  ctx.mocks.sns.on(PublishCommand).resolves({});
  return ctx;
}

describe('retryJob', () => {
  it('requeues only the chunks whose pages are not stored yet, and clears the error', async () => {
    const ctx = setup(
      makeJob({
        status: 'FAILED',
        error: { code: 'MAX_ATTEMPTS', message: 'x' },
        pages: { done: 8, total: 20 },
        chunks: { total: 3, pages: 8 },
        chunksDone: new Set([0]),
      }),
    );
    const view = await retryJob(ctx.runtime, 'tenant-a', 'job-1', 'https://x');
    expect(view.status).toBe('QUEUED');
    const entries = ctx.mocks.sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.Entries!;
    expect(entries.map((e) => JSON.parse(e.MessageBody!).chunk)).toEqual([
      { index: 1, firstPage: 9, pageCount: 8 },
      { index: 2, firstPage: 17, pageCount: 4 },
    ]);
    const update = ctx.mocks.dynamo.commandCalls(UpdateCommand)[0]!.args[0].input;
    expect(update.ExpressionAttributeValues?.[':to']).toBe('QUEUED');
    expect(update.UpdateExpression).toMatch(/REMOVE .*#error/);
  });

  it('refuses jobs that are not FAILED, or failed before they were queued', async () => {
    await expect(
      retryJob(setup(makeJob({ status: 'PROCESSING' })).runtime, 'tenant-a', 'job-1', ''),
    ).rejects.toMatchObject({
      statusCode: 409,
      code: 'NOT_RETRYABLE',
    });
    const refused = makeJob({ status: 'FAILED', error: { code: 'INVALID_INPUT', message: 'not a PNG' } });
    await expect(retryJob(setup(refused).runtime, 'tenant-a', 'job-1', '')).rejects.toThrow(
      /upload the file again/,
    );
  });
});

describe('chunkMessages', () => {
  it('splits pages into consecutive chunks of the configured size', () => {
    const job = makeJob();
    expect(chunkMessages(job, 1, 8, 't').map((m) => m.chunk)).toEqual([
      { index: 0, firstPage: 1, pageCount: 1 },
    ]);
    expect(chunkMessages(job, 16, 8, 't').map((m) => m.chunk.firstPage)).toEqual([1, 9]);
    expect(chunkMessages(job, 500, 8, 't')).toHaveLength(63);
  });
});
