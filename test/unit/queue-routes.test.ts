import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { getJob } from '../../lambdas/get-job/get-job.ts';
import { queueStats } from '../../lambdas/queue-stats/queue-stats.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { jobItem, makeJob, mockedRuntime } from '../support/runtime.ts';

// The dead-letter sweep and redrive run against the emulators, with the sequences that broke
// them: test/integration/lifecycle-sequences.test.ts.

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
      .resolves({
        Items: [
          { sk: '2026-01-01T00:05', pages: 60, firstAt: '2026-01-01T00:05:10.000Z' },
          { sk: '2026-01-01T00:09', pages: 60, firstAt: '2026-01-01T00:09:00.000Z' },
        ],
      });
    const stats = await queueStats(ctx.runtime, now);
    expect(stats.queues.express).toEqual({
      visible: 4,
      inFlight: 2,
      delayed: 0,
      deadLetters: 6,
      oldestAgeSeconds: 60,
    });
    expect(stats.workers).toBe(3);
    // 120 pages since 00:05:10, 4 min 50 s before now.
    expect(stats.pagesPerMinute).toBe(24.8);
  });

  it('measures a young burst over the time it took, not over the whole window', async () => {
    const ctx = mockedRuntime();
    const now = new Date('2026-01-01T00:10:45.000Z');
    ctx.mocks.dynamo
      .on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'STATS#pages', ':from': '2026-01-01T00:05' } })
      .resolves({ Items: [{ sk: '2026-01-01T00:10', pages: 40, firstAt: '2026-01-01T00:10:00.000Z' }] });
    // 40 pages in 45 s: 53.3 pages/min (the whole window would have said 6.7).
    expect((await queueStats(ctx.runtime, now)).pagesPerMinute).toBe(53.3);
  });
});

describe('get-job estimate', () => {
  // 60 pages over the last minute → 60 pages/min; 8 pages ahead + its own 2 → 10 s.
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
      Items: [{ pages: 60, firstAt: new Date(Date.now() - 60_000).toISOString() }],
    });
    const view = await getJob(ctx.runtime, 'tenant-a', 'job-1', 'https://x');
    expect(view.estimate).toEqual({ queue: 'express', position: 3, pagesAhead: 8, etaSeconds: 10 });
  });
});
