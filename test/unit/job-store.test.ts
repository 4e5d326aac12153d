import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, InvalidTransitionError, JobNotFoundError } from '../../lambdas/shared/errors.ts';
import { jobItem, makeJob, mockedRuntime } from '../support/runtime.ts';

const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'condition failed', $metadata: {} });

describe('JobStore', () => {
  let ctx: ReturnType<typeof mockedRuntime>;
  beforeEach(() => {
    ctx = mockedRuntime();
  });

  it('creates a job with its keys and the tenant index, refusing to overwrite', async () => {
    ctx.mocks.dynamo.on(PutCommand).resolves({});
    const job = makeJob();
    await ctx.runtime.jobs.create(job);
    const input = ctx.mocks.dynamo.commandCalls(PutCommand)[0]!.args[0].input;
    expect(input.Item).toMatchObject({
      pk: 'JOB#job-1',
      sk: 'JOB',
      gsi1pk: 'TENANT#tenant-a',
      status: 'AWAITING_UPLOAD',
    });
    expect(input.ConditionExpression).toBe('attribute_not_exists(#pk)');

    ctx.mocks.dynamo.on(PutCommand).rejects(conditionFailed());
    await expect(ctx.runtime.jobs.create(job)).rejects.toBeInstanceOf(ConflictError);
  });

  it("hides another tenant's job", async () => {
    ctx.mocks.dynamo.on(GetCommand).resolves({ Item: jobItem(makeJob()) });
    expect(await ctx.runtime.jobs.get('tenant-a', 'job-1')).toMatchObject({
      jobId: 'job-1',
      status: 'AWAITING_UPLOAD',
    });
    expect(await ctx.runtime.jobs.get('tenant-b', 'job-1')).toBeUndefined();
    const item = await ctx.runtime.jobs.get('tenant-a', 'job-1');
    expect(item).not.toHaveProperty('pk');
  });

  it('transitions with a condition on the allowed sources and the tenant', async () => {
    const next = makeJob({ status: 'QUEUED', queuedAt: 'now' });
    ctx.mocks.dynamo.on(UpdateCommand).resolves({ Attributes: jobItem(next) });
    const result = await ctx.runtime.jobs.transition('tenant-a', 'job-1', 'QUEUED', {
      queuedAt: 'now',
      priority: 'bulk',
    });
    expect(result).toEqual({ job: next, changed: true });
    const input = ctx.mocks.dynamo.commandCalls(UpdateCommand)[0]!.args[0].input;
    expect(input.ConditionExpression).toBe('#tenantId = :tenantId AND #status IN (:from0, :from1)');
    expect([
      input.ExpressionAttributeValues?.[':from0'],
      input.ExpressionAttributeValues?.[':from1'],
    ]).toEqual(['AWAITING_UPLOAD', 'FAILED']);
    expect(input.UpdateExpression).toContain('#queuedAt = :queuedAt');
    // QUEUED jobs enter the waiting index of their queue and stay in the tenant's active index.
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':gsi2pk': 'ACTIVE#tenant-a',
      ':gsi3pk': 'QUEUED#bulk',
      ':gsi3sk': 'now#job-1',
    });
  });

  it('reports a repeated transition as unchanged instead of failing', async () => {
    ctx.mocks.dynamo.on(UpdateCommand).rejects(conditionFailed());
    ctx.mocks.dynamo.on(GetCommand).resolves({ Item: jobItem(makeJob({ status: 'QUEUED' })) });
    const result = await ctx.runtime.jobs.transition('tenant-a', 'job-1', 'QUEUED', { priority: 'express' });
    expect(result.changed).toBe(false);
    expect(result.job.status).toBe('QUEUED');
  });

  it('refuses a backwards transition with InvalidTransitionError', async () => {
    ctx.mocks.dynamo.on(UpdateCommand).rejects(conditionFailed());
    ctx.mocks.dynamo.on(GetCommand).resolves({ Item: jobItem(makeJob({ status: 'SUCCEEDED' })) });
    await expect(
      ctx.runtime.jobs.transition('tenant-a', 'job-1', 'PROCESSING', { priority: 'express' }),
    ).rejects.toBeInstanceOf(InvalidTransitionError);
  });

  it('reports a missing job', async () => {
    ctx.mocks.dynamo.on(UpdateCommand).rejects(conditionFailed());
    ctx.mocks.dynamo.on(GetCommand).resolves({});
    await expect(
      ctx.runtime.jobs.transition('tenant-a', 'nope', 'QUEUED', { priority: 'express' }),
    ).rejects.toBeInstanceOf(JobNotFoundError);
  });

  it('takes a finished job out of the active index and lists it as unannounced until its event is out', async () => {
    ctx.mocks.dynamo.on(UpdateCommand).resolves({ Attributes: jobItem(makeJob({ status: 'SUCCEEDED' })) });
    await ctx.runtime.jobs.transition('tenant-a', 'job-1', 'SUCCEEDED');
    const input = ctx.mocks.dynamo.commandCalls(UpdateCommand)[0]!.args[0].input;
    expect(input.UpdateExpression).toMatch(/REMOVE #gsi2pk, #gsi2sk$/);
    expect(input.ExpressionAttributeValues?.[':gsi3pk']).toBe('UNANNOUNCED');
    await ctx.runtime.jobs.markAnnounced('tenant-a', 'job-1', 'SUCCEEDED');
    const announced = ctx.mocks.dynamo.commandCalls(UpdateCommand)[1]!.args[0].input;
    expect(announced.UpdateExpression).toBe('REMOVE #pk3, #sk3');
    expect(announced.ConditionExpression).toContain('#status = :status');
    await expect(ctx.runtime.jobs.transition('tenant-a', 'job-1', 'QUEUED')).rejects.toThrow(/priority/);
  });

  it('marks a job enqueued once', async () => {
    ctx.mocks.dynamo.on(UpdateCommand).resolvesOnce({}).rejects(conditionFailed());
    expect(await ctx.runtime.jobs.markEnqueued('tenant-a', 'job-1', 'now')).toBe(true);
    expect(await ctx.runtime.jobs.markEnqueued('tenant-a', 'job-1', 'now')).toBe(false);
  });

  it('passes other DynamoDB errors through', async () => {
    ctx.mocks.dynamo.on(UpdateCommand).rejects(new Error('throttled'));
    await expect(
      ctx.runtime.jobs.transition('tenant-a', 'job-1', 'QUEUED', { priority: 'express' }),
    ).rejects.toThrow('throttled');
  });
});
