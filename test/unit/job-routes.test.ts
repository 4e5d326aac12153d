import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PublishCommand } from '@aws-sdk/client-sns';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { makeCancelJobHandler } from '../../lambdas/cancel-job/cancel-job.ts';
import { idempotentJobId, makeCreateJobHandler, requestHash } from '../../lambdas/create-job/create-job.ts';
import { makeGetResultHandler } from '../../lambdas/get-result/get-result.ts';
import { makeListJobsHandler } from '../../lambdas/list-jobs/list-jobs.ts';
import { hashApiKey } from '../../lambdas/shared/adapters/api-keys.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { apiEvent, jobItem, lambdaContext, makeJob, mockedRuntime } from '../support/runtime.ts';

const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'condition failed', $metadata: {} });

function setup() {
  const ctx = mockedRuntime();
  ctx.mocks.dynamo
    .on(GetCommand, { Key: { pk: `APIKEY#${hashApiKey('key-a')}`, sk: 'APIKEY' } })
    .resolves({ Item: { tenantId: 'tenant-a' } });
  ctx.mocks.sns.on(PublishCommand).resolves({});
  return ctx;
}

function withJob(ctx: ReturnType<typeof setup>, job: Job) {
  ctx.mocks.dynamo
    .on(GetCommand, { Key: { pk: `JOB#${job.jobId}`, sk: 'JOB' } })
    .resolves({ Item: jobItem(job) });
}

const jobRoute = (path: string, method = 'GET', extra: Partial<ReturnType<typeof apiEvent>> = {}) =>
  apiEvent({ httpMethod: method, path, pathParameters: { jobId: 'job-1' }, ...extra });

describe('create-job with Idempotency-Key', () => {
  const body = { fileName: 'a.png', contentType: 'image/png', sizeBytes: 100 };
  const create = (key: string, b: unknown = body) =>
    apiEvent({
      headers: { host: 'h', 'x-api-key': 'key-a', 'Idempotency-Key': key },
      body: JSON.stringify(b),
    });

  it('derives the job id from tenant and key, and replays the same request as the same job', async () => {
    const ctx = setup();
    const handler = makeCreateJobHandler(ctx.runtime);
    ctx.mocks.dynamo.on(PutCommand).resolvesOnce({}).rejects(conditionFailed());
    const first = await handler(create('order-42'), lambdaContext);
    expect(first.statusCode).toBe(201);
    const jobId = JSON.parse(first.body).jobId;
    expect(jobId).toBe(idempotentJobId('tenant-a', 'order-42'));
    const stored = ctx.mocks.dynamo.commandCalls(PutCommand)[0]!.args[0].input.Item as Job;
    withJob(ctx, stored);
    const again = await handler(create('order-42'), lambdaContext);
    expect(again.statusCode).toBe(200);
    expect(JSON.parse(again.body)).toMatchObject({
      jobId,
      status: 'AWAITING_UPLOAD',
      upload: { method: 'PUT' },
    });
  });

  it('answers a replay with its job even when the tenant is at its limits (no 429 or 503)', async () => {
    const ctx = setup();
    const jobId = idempotentJobId('tenant-a', 'order-7');
    withJob(ctx, makeJob({ jobId, idempotencyKey: 'order-7', requestHash: requestHash(body) }));
    // The tenant is at its limit of active jobs and the queues are past backpressure.
    ctx.mocks.dynamo.on(QueryCommand).resolves({ Count: 5000, Items: [] });
    const replayed = await makeCreateJobHandler(ctx.runtime)(create('order-7'), lambdaContext);
    expect(replayed.statusCode).toBe(200);
    expect(JSON.parse(replayed.body)).toMatchObject({ jobId, status: 'AWAITING_UPLOAD' });
    // A new key is refused.
    const fresh = await makeCreateJobHandler(ctx.runtime)(create('order-8'), lambdaContext);
    expect(fresh.statusCode).toBe(429);
    expect(fresh.headers?.['retry-after']).toBe('30');
  });

  it("refuses new work beyond the tenant's queued pages (429 TOO_MANY_QUEUED_PAGES)", async () => {
    const ctx = setup();
    ctx.mocks.dynamo
      .on(QueryCommand, { ProjectionExpression: '#pages' })
      .resolves({ Items: [{ pages: { done: 0, total: 20_000 } }] });
    const res = await makeCreateJobHandler(ctx.runtime)(create('order-9'), lambdaContext);
    expect(res.statusCode).toBe(429);
    expect(JSON.parse(res.body).error.code).toBe('TOO_MANY_QUEUED_PAGES');
    expect(res.headers?.['retry-after']).toBe('60');
  });

  it('refuses the same key with a different body (409)', async () => {
    const ctx = setup();
    ctx.mocks.dynamo.on(PutCommand).rejects(conditionFailed());
    withJob(
      ctx,
      makeJob({
        jobId: idempotentJobId('tenant-a', 'k'),
        idempotencyKey: 'k',
        requestHash: requestHash(body),
      }),
    );
    const res = await makeCreateJobHandler(ctx.runtime)(
      create('k', { ...body, sizeBytes: 101 }),
      lambdaContext,
    );
    expect(res.statusCode).toBe(409);
    expect(JSON.parse(res.body).error.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('refuses a malformed key', async () => {
    const ctx = setup();
    const res = await makeCreateJobHandler(ctx.runtime)(create('x'.repeat(300)), lambdaContext);
    expect(res.statusCode).toBe(400);
  });
});

describe('list-jobs', () => {
  let ctx: ReturnType<typeof setup>;
  beforeEach(() => {
    ctx = setup();
  });

  it("queries the tenant's index newest first and hands out a cursor", async () => {
    const lastKey = { pk: 'JOB#j2', sk: 'JOB', gsi1pk: 'TENANT#tenant-a', gsi1sk: 'x' };
    ctx.mocks.dynamo.on(QueryCommand).resolves({
      Items: [jobItem(makeJob({ jobId: 'j1' })), jobItem(makeJob({ jobId: 'j2' }))],
      LastEvaluatedKey: lastKey,
    });
    const res = await makeListJobsHandler(ctx.runtime)(
      apiEvent({ httpMethod: 'GET', queryStringParameters: { limit: '2', status: 'QUEUED' } }),
      lambdaContext,
    );
    expect(res.statusCode).toBe(200);
    const out = JSON.parse(res.body);
    expect(out.jobs.map((j: Job) => j.jobId)).toEqual(['j1', 'j2']);
    expect(out.nextCursor).toBeDefined();
    const input = ctx.mocks.dynamo.commandCalls(QueryCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ IndexName: 'byTenantCreated', ScanIndexForward: false, Limit: 2 });
    expect(input.ExpressionAttributeValues).toMatchObject({ ':pk': 'TENANT#tenant-a', ':status': 'QUEUED' });
  });

  it("refuses a bad status, limit or another tenant's cursor", async () => {
    const handler = makeListJobsHandler(ctx.runtime);
    const foreign = Buffer.from(JSON.stringify({ gsi1pk: 'TENANT#tenant-b' })).toString('base64url');
    for (const q of [{ status: 'DONE' }, { limit: '1000' }, { cursor: foreign }, { cursor: '%%%' }]) {
      const res = await handler(apiEvent({ httpMethod: 'GET', queryStringParameters: q }), lambdaContext);
      expect(res.statusCode).toBe(400);
    }
  });
});

describe('cancel-job', () => {
  it('cancels a queued job and publishes job.cancelled', async () => {
    const ctx = setup();
    withJob(ctx, makeJob({ status: 'QUEUED' }));
    ctx.mocks.dynamo.on(UpdateCommand).resolves({ Attributes: jobItem(makeJob({ status: 'CANCELLED' })) });
    const res = await makeCancelJobHandler(ctx.runtime)(jobRoute('/v1/jobs/job-1', 'DELETE'), lambdaContext);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body).status).toBe('CANCELLED');
    const event = JSON.parse(ctx.mocks.sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!);
    expect(event.type).toBe('job.cancelled');
  });

  it('answers 409 for a finished job and 404 for a missing one', async () => {
    const ctx = setup();
    withJob(ctx, makeJob({ status: 'SUCCEEDED' }));
    ctx.mocks.dynamo.on(UpdateCommand).rejects(conditionFailed());
    const handler = makeCancelJobHandler(ctx.runtime);
    const res = await handler(jobRoute('/v1/jobs/job-1', 'DELETE'), lambdaContext);
    expect(res.statusCode).toBe(409);
    expect(JSON.parse(res.body).error.code).toBe('JOB_FINISHED');
    ctx.mocks.dynamo.on(GetCommand, { Key: { pk: 'JOB#nope', sk: 'JOB' } }).resolves({});
    const missing = await handler(
      { ...jobRoute('/v1/jobs/nope', 'DELETE'), pathParameters: { jobId: 'nope' } },
      lambdaContext,
    );
    expect(missing.statusCode).toBe(404);
  });
});

describe('get-result', () => {
  it('redirects to a presigned result of the asked format', async () => {
    const ctx = setup();
    withJob(
      ctx,
      makeJob({ status: 'SUCCEEDED', result: { jsonKey: 'r/result.json', textKey: 'r/result.txt' } }),
    );
    const handler = makeGetResultHandler(ctx.runtime);
    const text = await handler(
      jobRoute('/v1/jobs/job-1/result', 'GET', { queryStringParameters: { format: 'text' } }),
      lambdaContext,
    );
    expect(text.statusCode).toBe(302);
    expect(new URL(String(text.headers?.location)).pathname).toContain('r/result.txt');
    const json = await handler(jobRoute('/v1/jobs/job-1/result'), lambdaContext);
    expect(new URL(String(json.headers?.location)).pathname).toContain('r/result.json');
    const bad = await handler(
      jobRoute('/v1/jobs/job-1/result', 'GET', { queryStringParameters: { format: 'xml' } }),
      lambdaContext,
    );
    expect(bad.statusCode).toBe(400);
  });

  it('answers 409 while the job is not done', async () => {
    const ctx = setup();
    withJob(ctx, makeJob({ status: 'PROCESSING' }));
    const res = await makeGetResultHandler(ctx.runtime)(jobRoute('/v1/jobs/job-1/result'), lambdaContext);
    expect(res.statusCode).toBe(409);
    expect(JSON.parse(res.body).error.code).toBe('RESULT_NOT_READY');
  });
});
