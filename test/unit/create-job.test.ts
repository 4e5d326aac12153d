import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { makeCreateJobHandler } from '../../lambdas/create-job/create-job.ts';
import { hashApiKey } from '../../lambdas/shared/adapters/api-keys.ts';
import { apiEvent, lambdaContext, mockedRuntime } from '../support/runtime.ts';

function setup() {
  const ctx = mockedRuntime();
  ctx.mocks.dynamo
    .on(GetCommand, { Key: { pk: `APIKEY#${hashApiKey('key-a')}`, sk: 'APIKEY' } })
    .resolves({ Item: { tenantId: 'tenant-a' } });
  ctx.mocks.dynamo.on(PutCommand).resolves({});
  return { ...ctx, handler: makeCreateJobHandler(ctx.runtime) };
}

const body = (value: unknown) => ({ body: JSON.stringify(value) });

describe('create-job', () => {
  let ctx: ReturnType<typeof setup>;
  beforeEach(() => {
    ctx = setup();
  });

  it('records AWAITING_UPLOAD and answers 201 with a presigned upload that signs type and length', async () => {
    const res = await ctx.handler(
      apiEvent(body({ fileName: 'scan.png', contentType: 'image/png', sizeBytes: 2048 })),
      lambdaContext,
    );
    expect(res.statusCode).toBe(201);
    const out = JSON.parse(res.body);
    expect(out.status).toBe('AWAITING_UPLOAD');
    expect(out.jobId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(out.links.self).toBe(`https://api.example.com/prod/v1/jobs/${out.jobId}`);
    expect(out.upload.method).toBe('PUT');
    expect(out.upload.headers).toEqual({ 'Content-Type': 'image/png', 'Content-Length': '2048' });
    const url = new URL(out.upload.url);
    expect(url.pathname).toContain(`/inputs/tenant-a/${out.jobId}/source`);
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toContain('content-length');
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toContain('content-type');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');

    const item = ctx.mocks.dynamo.commandCalls(PutCommand)[0]!.args[0].input.Item!;
    expect(item).toMatchObject({
      tenantId: 'tenant-a',
      jobId: out.jobId,
      status: 'AWAITING_UPLOAD',
      contentType: 'image/png',
      sizeBytes: 2048,
      priority: 'express',
    });
  });

  it('gives every job a different unguessable id', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const res = await ctx.handler(
        apiEvent(body({ fileName: 'a.pdf', contentType: 'application/pdf', sizeBytes: 10 })),
        lambdaContext,
      );
      ids.add(JSON.parse(res.body).jobId);
    }
    expect(ids.size).toBe(5);
  });

  it('answers 401 without an API key or with an unknown one', async () => {
    ctx.mocks.dynamo
      .on(GetCommand, { Key: { pk: `APIKEY#${hashApiKey('wrong')}`, sk: 'APIKEY' } })
      .resolves({});
    for (const headers of [{ host: 'h' }, { host: 'h', 'x-api-key': 'wrong' }]) {
      const res = await ctx.handler(apiEvent({ headers, ...body({}) }), lambdaContext);
      expect(res.statusCode).toBe(401);
      expect(JSON.parse(res.body).error.code).toBe('UNAUTHORIZED');
    }
    expect(ctx.mocks.dynamo.commandCalls(PutCommand)).toHaveLength(0);
  });

  it.each([
    ['no body', undefined, 400, 'VALIDATION_ERROR'],
    ['a body that is not JSON', '{nope', 400, 'VALIDATION_ERROR'],
    [
      'a missing fileName',
      JSON.stringify({ contentType: 'image/png', sizeBytes: 1 }),
      400,
      'VALIDATION_ERROR',
    ],
    [
      'a negative size',
      JSON.stringify({ fileName: 'a.png', contentType: 'image/png', sizeBytes: -1 }),
      400,
      'VALIDATION_ERROR',
    ],
    [
      'an unknown priority',
      JSON.stringify({ fileName: 'a.png', contentType: 'image/png', sizeBytes: 1, priority: 'now' }),
      400,
      'VALIDATION_ERROR',
    ],
    [
      'a plain-http webhook',
      JSON.stringify({
        fileName: 'a.png',
        contentType: 'image/png',
        sizeBytes: 1,
        webhook: { url: 'http://x.test' },
      }),
      400,
      'WEBHOOK_URL_NOT_ALLOWED',
    ],
    [
      'a webhook on a private address',
      JSON.stringify({
        fileName: 'a.png',
        contentType: 'image/png',
        sizeBytes: 1,
        webhook: { url: 'https://10.1.2.3/hook' },
      }),
      400,
      'WEBHOOK_URL_NOT_ALLOWED',
    ],
    [
      'a webhook event that does not exist',
      JSON.stringify({
        fileName: 'a.png',
        contentType: 'image/png',
        sizeBytes: 1,
        webhook: { url: 'https://93.184.216.34/hook', events: ['job.exploded'] },
      }),
      400,
      'VALIDATION_ERROR',
    ],
    [
      'an unsupported type',
      JSON.stringify({ fileName: 'a.gif', contentType: 'image/gif', sizeBytes: 1 }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'a file over the limit',
      JSON.stringify({ fileName: 'a.png', contentType: 'image/png', sizeBytes: 1_000_001 }),
      413,
      'PAYLOAD_TOO_LARGE',
    ],
  ])('refuses %s', async (_, raw, status, code) => {
    const res = await ctx.handler(apiEvent({ body: raw ?? null }), lambdaContext);
    expect(res.statusCode).toBe(status);
    const error = JSON.parse(res.body).error;
    expect(error.code).toBe(code);
    expect(error.message.length).toBeGreaterThan(5);
    expect(ctx.mocks.dynamo.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('answers 429 with Retry-After when the tenant has too many unfinished jobs', async () => {
    ctx.mocks.dynamo.on(QueryCommand).resolves({ Count: 1000 });
    const res = await ctx.handler(
      apiEvent(body({ fileName: 'scan.png', contentType: 'image/png', sizeBytes: 5 })),
      lambdaContext,
    );
    expect(res.statusCode).toBe(429);
    expect(res.headers?.['retry-after']).toBe('30');
    expect(JSON.parse(res.body).error.code).toBe('TOO_MANY_ACTIVE_JOBS');
    const query = ctx.mocks.dynamo.commandCalls(QueryCommand)[0]!.args[0].input;
    expect(query).toMatchObject({ IndexName: 'byTenantActive', Select: 'COUNT' });
    expect(query.ExpressionAttributeValues).toEqual({ ':pk': 'ACTIVE#tenant-a' });
  });

  it('answers 503 with Retry-After when the queues are deeper than the bound', async () => {
    ctx.mocks.sqs
      .on(GetQueueAttributesCommand)
      .resolves({ Attributes: { ApproximateNumberOfMessages: '60000' } });
    const res = await ctx.handler(
      apiEvent(body({ fileName: 'scan.png', contentType: 'image/png', sizeBytes: 5 })),
      lambdaContext,
    );
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['retry-after']).toBe('60');
    expect(JSON.parse(res.body).error.code).toBe('QUEUE_FULL');
    expect(ctx.mocks.dynamo.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('answers 500 without internals when the table fails', async () => {
    ctx.mocks.dynamo.on(PutCommand).rejects(new Error('secret internal detail'));
    const res = await ctx.handler(
      apiEvent(body({ fileName: 'scan.png', contentType: 'image/png', sizeBytes: 5 })),
      lambdaContext,
    );
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('secret');
    expect(JSON.parse(res.body).error.code).toBe('INTERNAL_ERROR');
  });
});
