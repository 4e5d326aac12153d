import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
} from '@aws-sdk/client-api-gateway';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addTenant } from '../../bin/tenant/add-tenant.ts';
import { makeAuthorizerHandler } from '../../lambdas/authorizer/authorizer.ts';
import { UsagePlanKeys } from '../../lambdas/shared/adapters/usage-plan-keys.ts';
import type { Runtime } from '../../lambdas/shared/runtime.ts';
import { type EmulatedRuntime, startEmulatedRuntime } from '../support/emulated.ts';

describe('npm run tenant -- add', () => {
  let emulated: EmulatedRuntime;
  let runtime: Runtime;
  const apiGateway = new APIGatewayClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const gateway = mockClient(apiGateway);
  const usagePlanKeys = new UsagePlanKeys(apiGateway, 'plan-1');

  beforeAll(async () => {
    emulated = await startEmulatedRuntime();
    runtime = emulated.runtime;
  });
  afterAll(() => emulated?.stop());
  beforeEach(() => {
    gateway.reset();
    gateway
      .on(CreateApiKeyCommand)
      .callsFake((input: { value: string }) => ({ id: 'gw-key-1', value: input.value }));
    gateway.on(CreateUsagePlanKeyCommand).resolves({ id: 'gw-key-1', type: 'API_KEY' });
    gateway.on(DeleteApiKeyCommand).resolves({});
  });

  it('makes a key that the authorizer resolves to the tenant and its new usage-plan key', async () => {
    const tenant = await addTenant({ apiKeys: runtime.apiKeys, usagePlanKeys }, 'acme-corp');
    expect(tenant).toMatchObject({ tenantId: 'acme-corp', usagePlanKeyId: 'gw-key-1' });
    expect(tenant.apiKey).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const [create] = gateway.commandCalls(CreateApiKeyCommand);
    const gatewayKeyValue = create?.args[0].input.value;
    expect(create?.args[0].input).toMatchObject({ enabled: true, tags: { tenant: 'acme-corp' } });
    expect(gatewayKeyValue).not.toBe(tenant.apiKey);
    expect(gateway.commandCalls(CreateUsagePlanKeyCommand)[0]?.args[0].input).toEqual({
      usagePlanId: 'plan-1',
      keyId: 'gw-key-1',
      keyType: 'API_KEY',
    });

    const authorize = makeAuthorizerHandler(runtime);
    const result = await authorize({
      type: 'REQUEST',
      methodArn: 'arn:aws:execute-api:us-east-1:1:api/prod/GET/v1/jobs',
      headers: { 'x-api-key': tenant.apiKey },
    } as unknown as APIGatewayRequestAuthorizerEvent);
    expect(result).toMatchObject({ principalId: 'acme-corp', usageIdentifierKey: gatewayKeyValue });
  });

  it('deletes the gateway key again when the plan refuses it, and registers nothing', async () => {
    gateway.on(CreateUsagePlanKeyCommand).rejects(new Error('NotFoundException: Invalid Usage Plan ID'));
    await expect(addTenant({ apiKeys: runtime.apiKeys, usagePlanKeys }, 'beta')).rejects.toThrow(
      /Usage Plan/,
    );
    expect(gateway.commandCalls(DeleteApiKeyCommand)[0]?.args[0].input).toEqual({ apiKey: 'gw-key-1' });
  });

  it('deletes the gateway key again when the table write fails', async () => {
    const failing = { register: () => Promise.reject(new Error('table unavailable')) };
    await expect(addTenant({ apiKeys: failing, usagePlanKeys }, 'gamma')).rejects.toThrow(
      'table unavailable',
    );
    expect(gateway.commandCalls(DeleteApiKeyCommand)).toHaveLength(1);
  });

  it('refuses tenant ids that could not be a storage key segment', async () => {
    for (const bad of ['', 'a/b', '-lead', 'x'.repeat(65), 'white space']) {
      await expect(addTenant({ apiKeys: runtime.apiKeys, usagePlanKeys }, bad)).rejects.toThrow(/tenant id/);
    }
    expect(gateway.commandCalls(CreateApiKeyCommand)).toHaveLength(0);
  });
});
