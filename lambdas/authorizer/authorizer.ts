import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { header } from '../shared/http.ts';
import type { Runtime } from '../shared/runtime.ts';

export type AuthorizerHandler = (
  event: APIGatewayRequestAuthorizerEvent,
) => Promise<APIGatewayAuthorizerResult>;

/**
 * What API Gateway turns into a 401 (`UNAUTHORIZED` gateway response): a Lambda authorizer
 * denies a caller by failing with exactly this message. Any other failure is a 500.
 */
export const UNAUTHORIZED = 'Unauthorized';

/**
 * `arn:…:execute-api:region:account:apiId/stage/METHOD/path` → `arn:…:apiId/stage/*`. The
 * gateway caches the answer per API key and reuses it on every route, so the policy must
 * cover the whole stage, not just the method that happened to ask first.
 */
export function stageWildcard(methodArn: string): string {
  const [api, stage] = methodArn.split('/');
  if (!api?.startsWith('arn:') || !api.includes(':execute-api:') || !stage)
    throw new Error(`unexpected method ARN ${methodArn}`);
  return `${api}/${stage}/*`;
}

/**
 * The API's REQUEST authorizer: resolves the `x-api-key` header to its tenant, passes the
 * tenant to the handlers in the request context (`tenantId`), and names the tenant's usage-plan
 * key (`usageIdentifierKey`), so API Gateway throttles and meters each tenant on its own. An
 * unknown key, or one registered without a usage-plan key (`npm run tenant -- add` makes
 * both), never reaches a handler.
 *
 * @example
 * export const handler = makeAuthorizerHandler(createRuntime(loadConfig()));
 */
export function makeAuthorizerHandler(runtime: Pick<Runtime, 'apiKeys' | 'logger'>): AuthorizerHandler {
  return async (event) => {
    const apiKey = header(event, 'x-api-key');
    const record = apiKey ? await runtime.apiKeys.resolve(apiKey) : undefined;
    if (!record) throw new Error(UNAUTHORIZED);
    if (!record.usagePlanKey) {
      // The gateway would refuse the request with a 403 anyway (apiKeyRequired): say why here.
      runtime.logger.error('API key has no usage-plan key: register the tenant with npm run tenant -- add', {
        tenantId: record.tenantId,
      });
      throw new Error(UNAUTHORIZED);
    }
    return {
      principalId: record.tenantId,
      usageIdentifierKey: record.usagePlanKey,
      context: { tenantId: record.tenantId },
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'execute-api:Invoke', Resource: stageWildcard(event.methodArn) },
        ],
      },
    };
  };
}
