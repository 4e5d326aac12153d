import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { PublishCommand } from '@aws-sdk/client-sns';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { exponentialBackoff } from '../../gpu-worker/src/backoffs.ts';
import type { OcrResult } from '../../gpu-worker/src/ocr/index.ts';
import { resultText } from '../../gpu-worker/src/result-format.ts';
import { type DocumentRecognizer, Worker } from '../../gpu-worker/src/worker.ts';
import type { ReceivedMessage } from '../../lambdas/shared/adapters/work-queue.ts';
import { PermanentJobError } from '../../lambdas/shared/errors.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { jobItem, makeJob, mockedRuntime, WORK } from '../support/runtime.ts';

const RESULT: OcrResult = {
  pages: [
    {
      page: 1,
      width: 100,
      height: 50,
      lines: [
        {
          text: 'Hello world',
          confidence: 0.99,
          box: [
            [1, 1],
            [60, 1],
            [60, 10],
            [1, 10],
          ],
        },
        {
          text: 'Second line',
          confidence: 0.95,
          box: [
            [1, 20],
            [60, 20],
            [60, 30],
            [1, 30],
          ],
        },
      ],
    },
  ],
};

function message(body: unknown, receiveCount = 1): ReceivedMessage {
  return {
    queue: 'express',
    messageId: 'm-1',
    receiptHandle: 'rh-1',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    receiveCount,
  };
}

function setup(job: Job | undefined, recognize: DocumentRecognizer['recognize'] = async () => RESULT) {
  if (job)
    job = {
      chunks: { total: 1, pages: 8 },
      ...job,
      pages: job.pages.total ? job.pages : { done: 0, total: 1 },
    };
  const ctx = mockedRuntime();
  let stored = job;
  ctx.mocks.dynamo.on(GetCommand).callsFake(() => ({ Item: stored && jobItem(stored) }));
  ctx.mocks.dynamo.on(UpdateCommand).callsFake((input) => {
    // Recording an event as published changes nothing these tests look at.
    if (input.UpdateExpression === 'REMOVE #pk3, #sk3') return {};
    const values = input.ExpressionAttributeValues as Record<string, unknown>;
    if (input.UpdateExpression?.startsWith('ADD #chunksDone')) {
      const done = new Set(stored!.chunksDone ?? []);
      const index = values[':index'] as number;
      if (stored!.status !== 'PROCESSING' || done.has(index)) {
        throw new ConditionalCheckFailedException({ message: 'no', $metadata: {} });
      }
      done.add(index);
      stored = {
        ...stored!,
        chunksDone: done,
        pages: { ...stored!.pages, done: stored!.pages.done + (values[':pages'] as number) },
      };
      return { Attributes: jobItem(stored) };
    }
    if (input.UpdateExpression?.startsWith('SET #failures')) {
      // recordFailedAttempt: the first failure creates the map (the mock keeps no map, so always 1).
      if (input.UpdateExpression.includes('if_not_exists'))
        throw new ConditionalCheckFailedException({ message: 'no', $metadata: {} });
      stored = { ...stored!, lastError: values[':error'] as Job['lastError'], chunkFailures: { '0': 1 } };
      return { Attributes: jobItem(stored) };
    }
    stored = {
      ...stored!,
      status: values[':to'] as Job['status'],
      ...(values[':error'] ? { error: values[':error'] as Job['error'] } : {}),
      ...(values[':pages'] ? { pages: values[':pages'] as Job['pages'] } : {}),
    };
    return { Attributes: jobItem(stored) };
  });
  // S3 as a map, so page results written by one chunk are read back at assembly.
  const objects = new Map<string, string>([['inputs/tenant-a/job-1/source', 'bytes']]);
  ctx.mocks.s3.on(GetObjectCommand).callsFake((input) => {
    const body = objects.get(input.Key);
    if (body === undefined) throw new Error(`no object ${input.Key}`);
    return { Body: { transformToByteArray: async () => new Uint8Array(Buffer.from(body)) } as never };
  });
  ctx.mocks.s3.on(PutObjectCommand).callsFake((input) => {
    objects.set(input.Key, String(input.Body));
    return {};
  });
  ctx.mocks.sqs.on(DeleteMessageCommand).resolves({});
  ctx.mocks.sqs.on(ChangeMessageVisibilityCommand).resolves({});
  ctx.mocks.sns.on(PublishCommand).resolves({});
  const worker = new Worker(ctx.runtime, { recognize }, { idleWaitSeconds: 0 });
  return { ...ctx, worker, current: () => stored };
}

describe('Worker.process', () => {
  let ctx: ReturnType<typeof setup>;
  beforeEach(() => {
    ctx = setup(makeJob({ status: 'QUEUED' }));
  });

  it('runs the engine, stores the page, assembles both results, settles the job and deletes the message', async () => {
    expect(await ctx.worker.process(message(WORK))).toBe('succeeded');
    expect(ctx.current()).toMatchObject({ status: 'SUCCEEDED', pages: { done: 1, total: 1 } });
    const puts = ctx.mocks.s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key)).toEqual([
      'results/tenant-a/job-1/pages/00001.json',
      'results/tenant-a/job-1/result.json',
      'results/tenant-a/job-1/result.txt',
      // The searchable PDF is left out: the fake input is no image (logged, the OCR result stands).
      'results/tenant-a/job-1/result.hocr',
    ]);
    expect(JSON.parse(String(puts[1]!.Body))).toEqual({
      pages: RESULT.pages.map((page) => ({ ...page, engine: 'paddle', ms: expect.any(Number) })),
    });
    expect(puts[2]!.Body).toBe('Hello world\nSecond line\n');
    expect(ctx.mocks.sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
    const event = JSON.parse(ctx.mocks.sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!);
    expect(event).toMatchObject({ type: 'job.succeeded', jobId: 'job-1', status: 'SUCCEEDED' });
    const transitions = ctx.mocks.dynamo
      .commandCalls(UpdateCommand)
      .map((c) => c.args[0].input.ExpressionAttributeValues?.[':to'])
      .filter(Boolean);
    expect(transitions).toEqual(['PROCESSING', 'SUCCEEDED']);
    const stats = ctx.mocks.dynamo
      .commandCalls(UpdateCommand)
      .find((c) => c.args[0].input.Key?.pk === 'STATS#pages');
    expect(stats?.args[0].input.ExpressionAttributeValues?.[':n']).toBe(1);
  });

  it('counts each chunk once and lets the last one assemble the pages in order', async () => {
    const page = (n: number) => ({
      ...RESULT.pages[0]!,
      page: n,
      lines: [{ ...RESULT.pages[0]!.lines[0]!, text: `page ${n}` }],
    });
    ctx = setup(
      makeJob({ status: 'QUEUED', pages: { done: 0, total: 3 }, chunks: { total: 2, pages: 2 } }),
      async (_, pages) => ({
        pages: Array.from({ length: pages!.pageCount }, (_, i) => page(pages!.firstPage + i)),
      }),
    );
    const chunk = (index: number, firstPage: number, pageCount: number) =>
      message({ ...WORK, chunk: { index, firstPage, pageCount } });
    expect(await ctx.worker.process(chunk(1, 3, 1))).toBe('chunk-done');
    expect(await ctx.worker.process(chunk(1, 3, 1))).toBe('chunk-done');
    expect(ctx.current()).toMatchObject({ status: 'PROCESSING', pages: { done: 1, total: 3 } });
    expect(await ctx.worker.process(chunk(0, 1, 2))).toBe('succeeded');
    expect(ctx.current()).toMatchObject({ status: 'SUCCEEDED', pages: { done: 3, total: 3 } });
    const text = ctx.mocks.s3
      .commandCalls(PutObjectCommand)
      .find((c) => c.args[0].input.Key?.endsWith('result.txt'));
    expect(text?.args[0].input.Body).toBe('page 1\n\f\npage 2\n\f\npage 3\n');
    expect(ctx.mocks.sns.commandCalls(PublishCommand)).toHaveLength(1);
  });

  it('fails the job at once on a permanent error and goes on', async () => {
    ctx = setup(makeJob({ status: 'QUEUED' }), async () => {
      throw new PermanentJobError('INVALID_INPUT', 'the image is corrupt');
    });
    expect(await ctx.worker.process(message(WORK))).toBe('failed');
    expect(ctx.current()).toMatchObject({
      status: 'FAILED',
      error: { code: 'INVALID_INPUT', message: 'the image is corrupt' },
    });
    expect(ctx.mocks.sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
    const event = JSON.parse(ctx.mocks.sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!);
    expect(event.type).toBe('job.failed');
  });

  it('returns the message with backoff on a transient error', async () => {
    ctx = setup(makeJob({ status: 'QUEUED' }), async () => {
      throw new Error('socket hang up');
    });
    expect(await ctx.worker.process(message(WORK, 2))).toBe('retry');
    expect(ctx.mocks.sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
    const change = ctx.mocks.sqs.commandCalls(ChangeMessageVisibilityCommand)[0]!.args[0].input;
    expect(change.VisibilityTimeout).toBeGreaterThanOrEqual(5);
    expect(change.VisibilityTimeout).toBeLessThanOrEqual(10);
    expect(ctx.current()?.status).toBe('PROCESSING');
    expect(ctx.current()?.lastError).toEqual({ code: 'PROCESSING_ERROR', message: 'socket hang up' });
  });

  it('drops messages of settled or missing jobs without running the engine', async () => {
    let ran = false;
    for (const job of [makeJob({ status: 'CANCELLED' }), makeJob({ status: 'SUCCEEDED' }), undefined]) {
      ctx = setup(job, async () => {
        ran = true;
        return RESULT;
      });
      expect(await ctx.worker.process(message(WORK))).toBe('dropped');
      expect(ctx.mocks.sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
    }
    expect(ran).toBe(false);
  });

  it('drops the work when the job is cancelled while the engine runs', async () => {
    ctx = setup(makeJob({ status: 'QUEUED' }), async () => RESULT);
    ctx.mocks.dynamo
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: jobItem(makeJob({ status: 'PROCESSING' })) })
      .rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
    ctx.mocks.dynamo
      .on(GetCommand)
      .resolvesOnce({ Item: jobItem(makeJob({ status: 'QUEUED' })) })
      .resolves({
        Item: jobItem(makeJob({ status: 'CANCELLED' })),
      });
    expect(await ctx.worker.process(message(WORK))).toBe('dropped');
    expect(ctx.mocks.sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
    expect(ctx.mocks.sns.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('drops a message that is not a work message', async () => {
    expect(await ctx.worker.process(message('garbage'))).toBe('dropped');
    expect(ctx.mocks.sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
    expect(ctx.current()?.status).toBe('QUEUED');
  });

  it('publishes no second event when a duplicate delivery finds the job already settled', async () => {
    await ctx.worker.process(message(WORK));
    ctx.mocks.sns.resetHistory();
    expect(await ctx.worker.process(message(WORK))).toBe('dropped');
    expect(ctx.mocks.sns.commandCalls(PublishCommand)).toHaveLength(0);
  });
});

describe('backoff and text', () => {
  it('grows exponentially up to the cap', () => {
    const upper = (attempt: number) =>
      exponentialBackoff(attempt, { baseSeconds: 5, maxSeconds: 60 }, () => 1);
    expect([1, 2, 3, 4, 5].map(upper)).toEqual([5, 10, 20, 40, 60]);
    expect(exponentialBackoff(3, { baseSeconds: 5, maxSeconds: 60 }, () => 0)).toBe(10);
  });

  it('separates pages with a form feed', () => {
    const two: OcrResult = { pages: [RESULT.pages[0]!, { ...RESULT.pages[0]!, page: 2, lines: [] }] };
    expect(resultText(two)).toBe('Hello world\nSecond line\n\f\n\n');
  });
});
