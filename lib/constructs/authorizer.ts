import { Duration } from 'aws-cdk-lib';
import { IdentitySource, RequestAuthorizer } from 'aws-cdk-lib/aws-apigateway';
import { Grant } from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import {
  PipelineFunction,
  type PipelineResources,
  type PipelineSettings,
  pipelineEnvironment,
} from './lambda-function.ts';

export interface ApiKeyAuthorizerProps {
  readonly resources: PipelineResources;
  readonly settings?: PipelineSettings;
  /**
   * How long API Gateway reuses an answer for the same `x-api-key`. A deleted key keeps
   * working this long (plus the function's own one-minute cache).
   * @default Duration.minutes(5)
   */
  readonly cacheTtl?: Duration;
}

/**
 * The API's REQUEST authorizer over `lambdas/authorizer`: turns the `x-api-key` header into
 * the tenant (request context `tenantId`) and the tenant's usage-plan key, answers cached per
 * key. A request without the header is refused by the gateway before the function runs.
 */
export class ApiKeyAuthorizer extends Construct {
  readonly function: NodejsFunction;
  readonly authorizer: RequestAuthorizer;

  constructor(scope: Construct, id: string, props: ApiKeyAuthorizerProps) {
    super(scope, id);
    const fn = new PipelineFunction(this, 'Handler', {
      handler: 'authorizer',
      logRetention: props.settings?.logRetention,
      description: 'API key → tenant and usage-plan key for the jobs API',
      environment: pipelineEnvironment(props.resources, props.settings),
      timeout: Duration.seconds(5),
    });
    // One item lookup per uncached key: nothing else in the table, none of its indexes.
    Grant.addToPrincipal({
      grantee: fn,
      actions: ['dynamodb:GetItem'],
      resourceArns: [props.resources.table.tableArn],
    });
    this.function = fn.function;
    this.authorizer = new RequestAuthorizer(this, 'Authorizer', {
      handler: fn.function,
      identitySources: [IdentitySource.header('x-api-key')],
      resultsCacheTtl: props.cacheTtl ?? Duration.minutes(5),
    });
  }
}
