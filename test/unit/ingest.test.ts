import { GetObjectCommand, HeadObjectCommand, NotFound } from '@aws-sdk/client-s3';
import { PublishCommand } from '@aws-sdk/client-sns';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { S3Event } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { decodeS3Key, makeIngestHandler } from '../../lambdas/ingest/ingest.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { jobItem, makeJob, mockedRuntime } from '../support/runtime.ts';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82]);
// The part of an SDK stream body that the blob store reads.
const body = (bytes: Uint8Array) => ({ transformToByteArray: async () => new Uint8Array(bytes) }) as never;

function s3Event(key: string, bucket = 'docs'): S3Event {
  return {
    Records: [
      {
        s3: { bucket: { name: bucket }, object: { key: encodeURIComponent(key).replace(/%2F/g, '/') } },
      } as S3Event['Records'][number],
    ],
  };
}

function setup(job: Job | undefined, bytes: Uint8Array = PNG, size = bytes.length) {
  const ctx = mockedRuntime();
  let stored = job;
  ctx.mocks.dynamo.on(GetCommand).callsFake(() => ({ Item: stored && jobItem(stored) }));
  ctx.mocks.dynamo.on(UpdateCommand).callsFake((input) => {
    if (!stored) throw new Error('no job');
    const values = input.ExpressionAttributeValues as Record<string, unknown>;
    if (input.UpdateExpression.startsWith('SET #enqueuedAt')) {
      stored = { ...stored, enqueuedAt: values[':at'] as string };
      return {};
    }
    stored = {
      ...stored,
      status: values[':to'] as Job['status'],
      ...(values[':error'] ? { error: values[':error'] as Job['error'] } : {}),
      ...(values[':queuedAt'] ? { queuedAt: values[':queuedAt'] as string } : {}),
    };
    return { Attributes: jobItem(stored) };
  });
  ctx.mocks.s3.on(HeadObjectCommand).resolves({ ContentLength: size, ContentType: 'image/png' });
  ctx.mocks.s3.on(GetObjectCommand).callsFake(() => ({ Body: body(bytes) }));
  ctx.mocks.sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
  ctx.mocks.sns.on(PublishCommand).resolves({});
  return { ...ctx, handler: makeIngestHandler(ctx.runtime), current: () => stored };
}

const KEY = 'inputs/tenant-a/job-1/source';

describe('ingest', () => {
  let ctx: ReturnType<typeof setup>;

  describe('a PNG declared as PNG', () => {
    beforeEach(() => {
      ctx = setup(makeJob());
    });

    it('queues the job with one work message and a job.queued event', async () => {
      expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['queued'] });
      expect(ctx.current()?.status).toBe('QUEUED');
      const sends = ctx.mocks.sqs.commandCalls(SendMessageCommand);
      expect(sends).toHaveLength(1);
      expect(sends[0]!.args[0].input.QueueUrl).toContain('/express');
      expect(JSON.parse(sends[0]!.args[0].input.MessageBody!)).toMatchObject({
        v: 1,
        tenantId: 'tenant-a',
        jobId: 'job-1',
        inputKey: KEY,
        contentType: 'image/png',
      });
      const range = ctx.mocks.s3.commandCalls(GetObjectCommand)[0]!.args[0].input.Range;
      expect(range).toBe('bytes=0-15');
      const event = JSON.parse(ctx.mocks.sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!);
      expect(event).toMatchObject({ type: 'job.queued', jobId: 'job-1', status: 'QUEUED' });
    });

    it('changes nothing when the same S3 event comes again', async () => {
      await ctx.handler(s3Event(KEY));
      expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['duplicate'] });
      expect(ctx.mocks.sqs.commandCalls(SendMessageCommand)).toHaveLength(1);
      expect(ctx.mocks.sns.commandCalls(PublishCommand)).toHaveLength(1);
    });

    it('sends the message a failed earlier delivery left unsent', async () => {
      ctx.mocks.sqs.on(SendMessageCommand).rejectsOnce(new Error('SQS down')).resolves({ MessageId: 'm-2' });
      await expect(ctx.handler(s3Event(KEY))).rejects.toThrow('SQS down');
      expect(ctx.current()?.status).toBe('QUEUED');
      expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['queued'] });
      expect(ctx.current()?.enqueuedAt).toBeDefined();
    });
  });

  it('fails a job whose bytes are not what it declared, with a readable message', async () => {
    ctx = setup(makeJob(), Buffer.from('this is not an image at all'));
    expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['failed'] });
    const job = ctx.current()!;
    expect(job.status).toBe('FAILED');
    expect(job.error?.code).toBe('INVALID_INPUT');
    expect(job.error?.message).toMatch(/declared as image\/png.*first bytes match no supported format/);
    expect(ctx.mocks.sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    const event = JSON.parse(ctx.mocks.sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!);
    expect(event).toMatchObject({ type: 'job.failed', error: { code: 'INVALID_INPUT' } });
  });

  it('names the real type of a mislabelled file', async () => {
    ctx = setup(makeJob({ contentType: 'application/pdf' }));
    await ctx.handler(s3Event(KEY));
    expect(ctx.current()?.error?.message).toContain('it is a PNG image');
  });

  it('fails an empty upload and one over the size limit', async () => {
    ctx = setup(makeJob(), new Uint8Array(), 0);
    await ctx.handler(s3Event(KEY));
    expect(ctx.current()?.error?.message).toBe('the uploaded file is empty');
    ctx = setup(makeJob(), PNG, 2_000_000);
    await ctx.handler(s3Event(KEY));
    expect(ctx.current()?.error?.message).toContain('more than the maximum of 1000000');
  });

  it('ignores keys outside inputs/, unknown jobs, other buckets and vanished objects', async () => {
    ctx = setup(undefined);
    expect(await ctx.handler(s3Event('results/x/y/result.json'))).toEqual({ outcomes: ['ignored'] });
    expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['ignored'] });
    expect(await ctx.handler(s3Event(KEY, 'other-bucket'))).toEqual({ outcomes: ['ignored'] });
    ctx = setup(makeJob());
    ctx.mocks.s3.on(HeadObjectCommand).rejects(new NotFound({ message: 'gone', $metadata: {} }));
    expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['ignored'] });
    expect(ctx.mocks.sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it('leaves settled jobs alone', async () => {
    ctx = setup(makeJob({ status: 'CANCELLED' }));
    expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['duplicate'] });
    expect(ctx.current()?.status).toBe('CANCELLED');
  });

  it('decodes keys as S3 encodes them', () => {
    expect(decodeS3Key('inputs/a+b/c%2Bd/source')).toBe('inputs/a b/c+d/source');
  });
});
