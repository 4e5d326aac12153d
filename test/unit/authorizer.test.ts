import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAuthorizerHandler, stageWildcard } from '../../lambdas/authorizer/authorizer.ts';
import { makeGetJobHandler } from '../../lambdas/get-job/get-job.ts';
import type { Runtime } from '../../lambdas/shared/runtime.ts';
import { type EmulatedRuntime, startEmulatedRuntime } from '../support/emulated.ts';
import { apiEvent, lambdaContext } from '../support/runtime.ts';

const METHOD_ARN = 'arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/v1/jobs/job-1';

function authorizerEvent(headers: Record<string, string>): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    resource: '/v1/jobs/{jobId}',
    path: '/v1/jobs/job-1',
    httpMethod: 'GET',
    headers,
    multiValueHeaders: null,
    pathParameters: { jobId: 'job-1' },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {} as APIGatewayRequestAuthorizerEvent['requestContext'],
  };
}

describe('authorizer (against dynalite)', () => {
  let emulated: EmulatedRuntime;
  let runtime: Runtime;

  beforeAll(async () => {
    emulated = await startEmulatedRuntime();
    runtime = emulated.runtime;
    await runtime.apiKeys.register('tenant-a', 'key-a', { usagePlanKey: 'usage-a' });
    await runtime.apiKeys.register('tenant-b', 'key-b', { usagePlanKey: 'usage-b' });
    await runtime.apiKeys.register('local-only', 'key-local');
  });
  afterAll(() => emulated?.stop());

  it('allows the whole stage for a known key, with the tenant in the context and its usage-plan key', async () => {
    const authorize = makeAuthorizerHandler(runtime);
    expect(await authorize(authorizerEvent({ 'x-api-key': 'key-a' }))).toEqual({
      principalId: 'tenant-a',
      usageIdentifierKey: 'usage-a',
      context: { tenantId: 'tenant-a' },
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'execute-api:Invoke',
            Resource: 'arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*',
          },
        ],
      },
    });
    const other = await authorize(authorizerEvent({ 'X-Api-Key': 'key-b' }));
    expect(other).toMatchObject({ principalId: 'tenant-b', usageIdentifierKey: 'usage-b' });
  });

  it('fails with "Unauthorized" (the gateway\'s 401) for an unknown, missing or unmetered key', async () => {
    const authorize = makeAuthorizerHandler(runtime);
    await expect(authorize(authorizerEvent({ 'x-api-key': 'nope' }))).rejects.toThrow(/^Unauthorized$/);
    await expect(authorize(authorizerEvent({}))).rejects.toThrow(/^Unauthorized$/);
    await expect(authorize(authorizerEvent({ 'x-api-key': 'key-local' }))).rejects.toThrow(/^Unauthorized$/);
  });

  it('cuts a method ARN down to its stage and refuses anything else', () => {
    expect(stageWildcard('arn:aws-cn:execute-api:cn-north-1:1:api/v2/POST/v1/queues/redrive')).toBe(
      'arn:aws-cn:execute-api:cn-north-1:1:api/v2/*',
    );
    expect(() => stageWildcard('not-an-arn')).toThrow(/unexpected method ARN/);
  });

  describe('handlers behind it', () => {
    const getJob = (headers: Record<string, string>, tenantId?: string) =>
      apiEvent({
        httpMethod: 'GET',
        resource: '/v1/jobs/{jobId}',
        path: '/v1/jobs/missing',
        headers: { host: 'api.example.com', ...headers },
        pathParameters: { jobId: 'missing' },
        requestContext: {
          stage: 'prod',
          path: '/prod/v1/jobs/missing',
          authorizer: tenantId ? { tenantId } : null,
        } as never,
      });

    it("take the tenant from the authorizer's context without a key lookup", async () => {
      const handler = makeGetJobHandler(runtime);
      // No key at all: only the context can have named the tenant, and the route ran (404, not 401).
      const res = await handler(getJob({}, 'tenant-a'), lambdaContext);
      expect(res.statusCode).toBe(404);
      expect(JSON.parse(res.body).error.code).toBe('NOT_FOUND');
    });

    it('still resolve the key themselves where no authorizer ran (the local stack)', async () => {
      const handler = makeGetJobHandler(runtime);
      expect((await handler(getJob({ 'x-api-key': 'key-local' }), lambdaContext)).statusCode).toBe(404);
      const denied = await handler(getJob({ 'x-api-key': 'nope' }), lambdaContext);
      expect(denied.statusCode).toBe(401);
      expect(JSON.parse(denied.body).error.code).toBe('UNAUTHORIZED');
    });
  });
});
