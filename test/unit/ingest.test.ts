import { GetObjectCommand, HeadObjectCommand, NotFound } from '@aws-sdk/client-s3';
import { PublishCommand } from '@aws-sdk/client-sns';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { S3Event } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { decodeS3Key, makeIngestHandler } from '../../lambdas/ingest/ingest.ts';
import { IMAGE_HEADER_BYTES } from '../../lambdas/shared/documents/image-dimensions.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { pngHeader } from '../support/documents.ts';
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
  // The job declared the size the upload has (a mismatch is a test of its own).
  let stored = job && { ...job, sizeBytes: size };
  ctx.mocks.dynamo.on(GetCommand).callsFake(() => ({ Item: stored && jobItem(stored) }));
  ctx.mocks.dynamo.on(UpdateCommand).callsFake((input) => {
    // Recording an event as published changes nothing these tests look at.
    if (input.UpdateExpression === 'REMOVE #pk3, #sk3') return {};
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
      ...(values[':pages'] ? { pages: values[':pages'] as Job['pages'] } : {}),
      ...(values[':chunks'] ? { chunks: values[':chunks'] as Job['chunks'] } : {}),
      ...(values[':priority'] ? { priority: values[':priority'] as Job['priority'] } : {}),
    };
    return { Attributes: jobItem(stored) };
  });
  ctx.mocks.s3.on(HeadObjectCommand).resolves({ ContentLength: size, ContentType: 'image/png' });
  ctx.mocks.s3.on(GetObjectCommand).callsFake(() => ({ Body: body(bytes) }));
  ctx.mocks.sqs.on(SendMessageBatchCommand).resolves({ Successful: [] });
  ctx.mocks.sns.on(PublishCommand).resolves({});
  return { ...ctx, handler: makeIngestHandler(ctx.runtime), current: () => stored };
}

const KEY = 'inputs/tenant-a/job-1/source';

/** A little-endian TIFF whose IFD chain has `pages` empty directories: enough to count. */
function tiff(pages: number): Buffer {
  const bytes = Buffer.alloc(8 + pages * 6);
  bytes.write('II', 0, 'latin1');
  bytes.writeUInt16LE(42, 2);
  bytes.writeUInt32LE(8, 4);
  for (let i = 0; i < pages; i++) {
    const at = 8 + i * 6;
    bytes.writeUInt16LE(0, at);
    bytes.writeUInt32LE(i === pages - 1 ? 0 : at + 6, at + 2);
  }
  return bytes;
}

describe('ingest', () => {
  let ctx: ReturnType<typeof setup>;

  describe('a PNG declared as PNG', () => {
    beforeEach(() => {
      ctx = setup(makeJob());
    });

    it('queues the job with one work message and a job.queued event', async () => {
      expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['queued'] });
      expect(ctx.current()?.status).toBe('QUEUED');
      const sends = ctx.mocks.sqs.commandCalls(SendMessageBatchCommand);
      expect(sends).toHaveLength(1);
      expect(sends[0]!.args[0].input.QueueUrl).toContain('/express');
      expect(sends[0]!.args[0].input.Entries).toHaveLength(1);
      expect(JSON.parse(sends[0]!.args[0].input.Entries![0]!.MessageBody!)).toMatchObject({
        v: 1,
        tenantId: 'tenant-a',
        jobId: 'job-1',
        inputKey: KEY,
        contentType: 'image/png',
        chunk: { index: 0, firstPage: 1, pageCount: 1 },
      });
      const range = ctx.mocks.s3.commandCalls(GetObjectCommand)[0]!.args[0].input.Range;
      expect(range).toBe(`bytes=0-${IMAGE_HEADER_BYTES - 1}`);
      const event = JSON.parse(ctx.mocks.sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!);
      expect(event).toMatchObject({ type: 'job.queued', jobId: 'job-1', status: 'QUEUED' });
    });

    it('changes nothing when the same S3 event comes again', async () => {
      await ctx.handler(s3Event(KEY));
      expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['duplicate'] });
      expect(ctx.mocks.sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
      expect(ctx.mocks.sns.commandCalls(PublishCommand)).toHaveLength(1);
    });

    it('leaves a job whose send failed to the reconciler: a repeat delivery does not send twice', async () => {
      ctx.mocks.sqs
        .on(SendMessageBatchCommand)
        .rejectsOnce(new Error('SQS down'))
        .resolves({ Successful: [] });
      await expect(ctx.handler(s3Event(KEY))).rejects.toThrow('SQS down');
      expect(ctx.current()?.status).toBe('QUEUED');
      // Another delivery of the same event may run at the same moment as the first: only the
      // one whose transition wrote sends (test/integration/lifecycle-sequences.test.ts has the
      // reconciler sending what the failed one could not).
      expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['duplicate'] });
      expect(ctx.current()?.enqueuedAt).toBeUndefined();
    });
  });

  it('fails a job whose upload is not the size it declared', async () => {
    ctx = setup(makeJob());
    ctx.mocks.dynamo.on(GetCommand).callsFake(() => ({ Item: jobItem({ ...makeJob(), sizeBytes: 100 }) }));
    ctx.mocks.s3.on(HeadObjectCommand).resolves({ ContentLength: 5_000_000, ContentType: 'image/png' });
    await ctx.handler(s3Event(KEY));
    const refused = ctx.mocks.dynamo.commandCalls(UpdateCommand)[0]!.args[0].input.ExpressionAttributeValues!;
    expect(refused[':to']).toBe('FAILED');
    expect((refused[':error'] as { message: string }).message).toBe(
      "the upload has 5000000 bytes but the job declared 100; create the job with the file's real size",
    );
  });

  it('fails a job whose bytes are not what it declared, with a readable message', async () => {
    ctx = setup(makeJob(), Buffer.from('this is not an image at all'));
    expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['failed'] });
    const job = ctx.current()!;
    expect(job.status).toBe('FAILED');
    expect(job.error?.code).toBe('INVALID_INPUT');
    expect(job.error?.message).toMatch(/declared as image\/png.*first bytes match no supported format/);
    expect(ctx.mocks.sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
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
    expect(ctx.mocks.sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });

  it('leaves settled jobs alone', async () => {
    ctx = setup(makeJob({ status: 'CANCELLED' }));
    expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['duplicate'] });
    expect(ctx.current()?.status).toBe('CANCELLED');
  });

  it('counts the pages of a TIFF, fans it out in chunks and sends a long document to bulk', async () => {
    ctx = setup(makeJob({ contentType: 'image/tiff', sizeBytes: 100 }), tiff(20));
    expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['queued'] });
    expect(ctx.current()).toMatchObject({
      pages: { done: 0, total: 20 },
      chunks: { total: 3, pages: 8 },
      priority: 'bulk',
    });
    const entries = ctx.mocks.sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.Entries!;
    expect(entries.map((e) => JSON.parse(e.MessageBody!).chunk)).toEqual([
      { index: 0, firstPage: 1, pageCount: 8 },
      { index: 1, firstPage: 9, pageCount: 8 },
      { index: 2, firstPage: 17, pageCount: 4 },
    ]);
    expect(ctx.mocks.sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.QueueUrl).toContain('/bulk');
  });

  it('keeps the priority the client asked for', async () => {
    ctx = setup(
      makeJob({ contentType: 'image/tiff', priority: 'express', priorityRequested: true }),
      tiff(20),
    );
    await ctx.handler(s3Event(KEY));
    expect(ctx.current()?.priority).toBe('express');
  });

  it('fails a document over the page limit with TOO_MANY_PAGES', async () => {
    ctx = setup(makeJob({ contentType: 'image/tiff' }), tiff(2001));
    expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['failed'] });
    expect(ctx.current()?.error).toEqual({
      code: 'TOO_MANY_PAGES',
      message: 'the document has 2001 pages, more than the maximum of 2000',
    });
  });

  it('fails an image over the pixel limit from its header with PAGE_TOO_LARGE, sending no work', async () => {
    ctx = setup(makeJob(), pngHeader(30_000, 30_000));
    expect(await ctx.handler(s3Event(KEY))).toEqual({ outcomes: ['failed'] });
    expect(ctx.current()?.error).toEqual({
      code: 'PAGE_TOO_LARGE',
      message: 'the image is 30000×30000 pixels, more than the limit of 50000000',
    });
    expect(ctx.mocks.sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });

  it('fails an encrypted PDF with ENCRYPTED_DOCUMENT', async () => {
    const pdf = Buffer.from(
      '%PDF-1.7\n1 0 obj << /Type /Pages /Count 1 >> endobj\ntrailer << /Root 2 0 R /Encrypt 5 0 R >>\n%%EOF',
    );
    ctx = setup(makeJob({ contentType: 'application/pdf' }), pdf);
    await ctx.handler(s3Event(KEY));
    expect(ctx.current()?.error?.code).toBe('ENCRYPTED_DOCUMENT');
  });

  it('decodes keys as S3 encodes them', () => {
    expect(decodeS3Key('inputs/a+b/c%2Bd/source')).toBe('inputs/a b/c+d/source');
  });
});
