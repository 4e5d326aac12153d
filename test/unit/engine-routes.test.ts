import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { makeCreateJobHandler } from '../../lambdas/create-job/create-job.ts';
import { makeGetJobHandler } from '../../lambdas/get-job/get-job.ts';
import { makeGetResultHandler } from '../../lambdas/get-result/get-result.ts';
import { chunking } from '../../lambdas/ingest/ingest.ts';
import { JobViewSchema, QueueStatsSchema } from '../../lambdas/openapi/schemas.ts';
import { makeQueueStatsHandler } from '../../lambdas/queue-stats/queue-stats.ts';
import { hashApiKey } from '../../lambdas/shared/adapters/api-keys.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { chunkMessages, parseWorkMessage } from '../../lambdas/shared/messages.ts';
import { apiEvent, jobItem, lambdaContext, makeJob, mockedRuntime, TEST_CONFIG } from '../support/runtime.ts';

function setup(config = TEST_CONFIG) {
  const ctx = mockedRuntime(config);
  ctx.mocks.dynamo
    .on(GetCommand, { Key: { pk: `APIKEY#${hashApiKey('key-a')}`, sk: 'APIKEY' } })
    .resolves({ Item: { tenantId: 'tenant-a' } });
  ctx.mocks.dynamo.on(PutCommand).resolves({});
  return ctx;
}

const withTextract = { ...TEST_CONFIG, textract: { region: 'us-east-1' } };
const create = (engine?: string) =>
  apiEvent({
    body: JSON.stringify({ fileName: 'scan.png', contentType: 'image/png', sizeBytes: 100, engine }),
  });

describe('engine on create', () => {
  it('stores paddle by default and the engine asked for', async () => {
    const ctx = setup(withTextract);
    const handler = makeCreateJobHandler(ctx.runtime);
    for (const engine of [undefined, 'paddle', 'textract', 'auto']) {
      const res = await handler(create(engine), lambdaContext);
      expect(res.statusCode).toBe(201);
    }
    const stored = ctx.mocks.dynamo.commandCalls(PutCommand).map((c) => c.args[0].input.Item!.engine);
    expect(stored).toEqual(['paddle', 'paddle', 'textract', 'auto']);
  });

  it('answers 400 ENGINE_UNAVAILABLE for textract where Textract is off, and takes auto', async () => {
    const ctx = setup();
    const handler = makeCreateJobHandler(ctx.runtime);
    const refused = await handler(create('textract'), lambdaContext);
    expect(refused.statusCode).toBe(400);
    expect(JSON.parse(refused.body).error.code).toBe('ENGINE_UNAVAILABLE');
    expect(ctx.mocks.dynamo.commandCalls(PutCommand)).toHaveLength(0);
    expect((await handler(create('auto'), lambdaContext)).statusCode).toBe(201);
  });

  it('refuses an unknown engine', async () => {
    const res = await makeCreateJobHandler(setup().runtime)(create('tesseract'), lambdaContext);
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('VALIDATION_ERROR');
  });
});

describe('result formats', () => {
  const route = (format?: string) =>
    apiEvent({
      httpMethod: 'GET',
      path: '/v1/jobs/job-1/result',
      pathParameters: { jobId: 'job-1' },
      queryStringParameters: format ? { format } : null,
    });
  const withJob = (job: Job) => {
    const ctx = setup();
    ctx.mocks.dynamo.on(GetCommand, { Key: { pk: 'JOB#job-1', sk: 'JOB' } }).resolves({ Item: jobItem(job) });
    return ctx;
  };
  const finished = makeJob({
    status: 'SUCCEEDED',
    fileName: 'scan.png',
    result: {
      jsonKey: 'r/result.json',
      textKey: 'r/result.txt',
      hocrKey: 'r/result.hocr',
      pdfKey: 'r/result.pdf',
    },
  });

  it('redirects hocr and pdf to their objects, named after the upload', async () => {
    const handler = makeGetResultHandler(withJob(finished).runtime);
    for (const [format, key, name] of [
      ['hocr', 'r/result.hocr', 'scan.hocr'],
      ['pdf', 'r/result.pdf', 'scan.pdf'],
    ] as const) {
      const res = await handler(route(format), lambdaContext);
      expect(res.statusCode).toBe(302);
      const url = new URL(String(res.headers?.location));
      expect(url.pathname).toContain(key);
      expect(url.searchParams.get('response-content-disposition')).toContain(name);
    }
  });

  it('answers 404 FORMAT_NOT_AVAILABLE for a format a job finished before it existed lacks', async () => {
    const old = makeJob({
      status: 'SUCCEEDED',
      result: { jsonKey: 'r/result.json', textKey: 'r/result.txt' },
    });
    const res = await makeGetResultHandler(withJob(old).runtime)(route('pdf'), lambdaContext);
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body).error.code).toBe('FORMAT_NOT_AVAILABLE');
  });

  it("names every format in the job's result links", async () => {
    const ctx = withJob({ ...finished, engine: 'auto' });
    const res = await makeGetJobHandler(ctx.runtime)(
      apiEvent({ httpMethod: 'GET', path: '/v1/jobs/job-1', pathParameters: { jobId: 'job-1' } }),
      lambdaContext,
    );
    const view = JobViewSchema.parse(JSON.parse(res.body));
    expect(view.engine).toBe('auto');
    expect(Object.keys(view.result ?? {}).sort()).toEqual(['expiresAt', 'hocr', 'json', 'pdf', 'text']);
    expect(new URL(view.result!.pdf!).pathname).toContain('r/result.pdf');
  });
});

describe('per-engine statistics', () => {
  it('reports pages, pages per minute, mean time per page and escalations per engine', async () => {
    const ctx = setup();
    const now = new Date();
    const minute = now.toISOString().slice(0, 16);
    const firstAt = new Date(now.getTime() - 60_000).toISOString();
    ctx.mocks.dynamo.on(QueryCommand).resolves({ Items: [], Count: 0 });
    ctx.mocks.dynamo
      .on(QueryCommand, {
        ExpressionAttributeValues: { ':pk': 'STATS#engine#paddle', ':from': expectMinute() },
      })
      .resolves({
        Items: [{ pk: 'STATS#engine#paddle', sk: minute, pages: 30, ms: 45_000, escalations: 0, firstAt }],
      });
    ctx.mocks.dynamo
      .on(QueryCommand, {
        ExpressionAttributeValues: { ':pk': 'STATS#engine#textract', ':from': expectMinute() },
      })
      .resolves({
        Items: [{ pk: 'STATS#engine#textract', sk: minute, pages: 4, ms: 6_000, escalations: 3, firstAt }],
      });
    const res = await makeQueueStatsHandler(ctx.runtime)(
      apiEvent({ httpMethod: 'GET', path: '/v1/queues/stats' }),
      lambdaContext,
    );
    const stats = QueueStatsSchema.parse(JSON.parse(res.body));
    expect(stats.engines.paddle).toMatchObject({ pages: 30, meanMsPerPage: 1500, escalations: 0 });
    expect(stats.engines.textract).toMatchObject({ pages: 4, meanMsPerPage: 1500, escalations: 3 });
    // 30 pages over the minute since the first was counted.
    expect(stats.engines.paddle.pagesPerMinute).toBeGreaterThan(25);
    expect(stats.engines.paddle.pagesPerMinute).toBeLessThanOrEqual(30);
  });
});

/** The window's first minute, as the stats store queries it (5 minutes back). */
function expectMinute(): string {
  return new Date(Date.now() - 5 * 60_000).toISOString().slice(0, 16);
}

describe('chunking at ingest', () => {
  const completion = { topicArn: 'arn:topic', roleArn: 'arn:role', queueUrl: 'https://sqs/q' };
  it('makes a textract job Textract reads whole one chunk, and splits every other job', () => {
    const withChannel = { ...TEST_CONFIG, textract: { region: 'us-east-1', completion } };
    expect(chunking(makeJob({ engine: 'textract' }), 20, withChannel)).toEqual({ total: 1, pages: 20 });
    expect(chunking(makeJob({ engine: 'auto' }), 20, withChannel)).toEqual({ total: 3, pages: 8 });
    expect(chunking(makeJob({ engine: 'textract' }), 20, TEST_CONFIG)).toEqual({ total: 3, pages: 8 });
    expect(chunking(makeJob({}), 20, withChannel)).toEqual({ total: 3, pages: 8 });
  });

  it('carries the engine in work messages (absent for paddle, as before engines)', () => {
    const job = makeJob({ engine: 'auto', pages: { done: 0, total: 3 } });
    expect(chunkMessages(job, 3, 2, 'now').map((m) => m.engine)).toEqual(['auto', 'auto']);
    expect(chunkMessages(makeJob({ engine: 'paddle' }), 1, 8, 'now')[0]).not.toHaveProperty('engine');
    expect(parseWorkMessage(JSON.stringify(chunkMessages(job, 3, 8, 'now')[0])).engine).toBe('auto');
  });
});
