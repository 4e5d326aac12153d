import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { jobTimings, makeGetJobHandler } from '../../lambdas/get-job/get-job.ts';
import { hashApiKey } from '../../lambdas/shared/adapters/api-keys.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { apiEvent, jobItem, lambdaContext, makeJob, mockedRuntime } from '../support/runtime.ts';

function setup(job: Job | undefined) {
  const ctx = mockedRuntime();
  ctx.mocks.dynamo
    .on(GetCommand, { Key: { pk: `APIKEY#${hashApiKey('key-a')}`, sk: 'APIKEY' } })
    .resolves({ Item: { tenantId: 'tenant-a' } });
  ctx.mocks.dynamo
    .on(GetCommand, { Key: { pk: `APIKEY#${hashApiKey('key-b')}`, sk: 'APIKEY' } })
    .resolves({ Item: { tenantId: 'tenant-b' } });
  ctx.mocks.dynamo
    .on(GetCommand, { Key: { pk: 'JOB#job-1', sk: 'JOB' } })
    .resolves({ Item: job && jobItem(job) });
  return { ...ctx, handler: makeGetJobHandler(ctx.runtime) };
}

const get = (key = 'key-a', jobId = 'job-1') =>
  apiEvent({
    httpMethod: 'GET',
    resource: '/v1/jobs/{jobId}',
    path: `/v1/jobs/${jobId}`,
    headers: { host: 'api.example.com', 'x-api-key': key },
    pathParameters: { jobId },
  });

describe('get-job', () => {
  let ctx: ReturnType<typeof setup>;

  describe('a job in progress', () => {
    beforeEach(() => {
      ctx = setup(
        makeJob({
          status: 'QUEUED',
          uploadedAt: '2026-01-01T00:00:01.000Z',
          queuedAt: '2026-01-01T00:00:01.000Z',
          pages: { done: 0, total: 1 },
        }),
      );
    });

    it('shows status, pages and timings without storage keys or results', async () => {
      const res = await ctx.handler(get(), lambdaContext);
      expect(res.statusCode).toBe(200);
      const view = JSON.parse(res.body);
      expect(view).toMatchObject({ jobId: 'job-1', status: 'QUEUED', pages: { done: 0, total: 1 } });
      expect(view.timings.queueWaitMs).toBeGreaterThan(0);
      expect(view).not.toHaveProperty('inputKey');
      expect(view).not.toHaveProperty('tenantId');
      expect(view).not.toHaveProperty('result');
    });

    it('answers 404 to another tenant, exactly as for a missing job', async () => {
      const other = await ctx.handler(get('key-b'), lambdaContext);
      ctx.mocks.dynamo.on(GetCommand, { Key: { pk: 'JOB#nope', sk: 'JOB' } }).resolves({});
      const missing = await ctx.handler(get('key-a', 'nope'), lambdaContext);
      expect(other.statusCode).toBe(404);
      expect(missing.statusCode).toBe(404);
      expect(JSON.parse(other.body).error.code).toBe('NOT_FOUND');
      expect(other.body).not.toContain('tenant');
    });

    it('answers 401 without a key', async () => {
      const res = await ctx.handler({ ...get(), headers: { host: 'h' } }, lambdaContext);
      expect(res.statusCode).toBe(401);
    });
  });

  it('links presigned results once the job succeeded', async () => {
    ctx = setup(
      makeJob({
        status: 'SUCCEEDED',
        pages: { done: 1, total: 1 },
        uploadedAt: '2026-01-01T00:00:01.000Z',
        queuedAt: '2026-01-01T00:00:01.000Z',
        startedAt: '2026-01-01T00:00:02.000Z',
        finishedAt: '2026-01-01T00:00:04.500Z',
        result: {
          jsonKey: 'results/tenant-a/job-1/result.json',
          textKey: 'results/tenant-a/job-1/result.txt',
        },
      }),
    );
    const view = JSON.parse((await ctx.handler(get(), lambdaContext)).body);
    expect(view.timings).toEqual({ queueWaitMs: 1000, processingMs: 2500, totalMs: 3500 });
    const json = new URL(view.result.json);
    expect(json.pathname).toContain('results/tenant-a/job-1/result.json');
    expect(json.searchParams.get('X-Amz-Expires')).toBe('600');
    expect(json.searchParams.get('response-content-disposition')).toBe('attachment; filename="scan.json"');
    expect(new URL(view.result.text).pathname).toContain('result.txt');
  });

  it('shows the error of a failed job', async () => {
    ctx = setup(makeJob({ status: 'FAILED', error: { code: 'INVALID_INPUT', message: 'not a PNG' } }));
    const view = JSON.parse((await ctx.handler(get(), lambdaContext)).body);
    expect(view.error).toEqual({ code: 'INVALID_INPUT', message: 'not a PNG' });
  });
});

describe('jobTimings', () => {
  it('leaves out what has not happened yet', () => {
    expect(jobTimings(makeJob())).toEqual({
      queueWaitMs: undefined,
      processingMs: undefined,
      totalMs: undefined,
    });
  });
});
