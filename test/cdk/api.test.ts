import { Match, Template } from 'aws-cdk-lib/assertions';
import { IdentitySource, RequestAuthorizer } from 'aws-cdk-lib/aws-apigateway';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES } from '../../lambdas/shared/routes.ts';
import { JobsApi, type JobsApiProps } from '../../lib/constructs/api.ts';
import { testStack } from './support.ts';

/** `create-job` → `CreateJob`: the stub functions are named after their handlers. */
const functionId = (handler: string) =>
  handler.replace(/(^|-)([a-z0-9])/g, (_, _dash: string, c: string) => c.toUpperCase());

function apiTemplate(props: Partial<JobsApiProps> = {}): Template {
  const stack = testStack();
  const functions = new Map<string, LambdaFunction>();
  for (const { handler } of API_ROUTES) {
    if (functions.has(handler)) continue;
    const fn = new LambdaFunction(stack, functionId(handler), {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('export const handler = async () => ({ statusCode: 200 });'),
    });
    functions.set(handler, fn);
  }
  const authorizer = new RequestAuthorizer(stack, 'Authorizer', {
    handler: new LambdaFunction(stack, 'AuthorizerFunction', {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('export const handler = async () => ({});'),
    }),
    identitySources: [IdentitySource.header('x-api-key')],
  });
  new JobsApi(stack, 'Api', {
    functions: { functionFor: (handler) => functions.get(handler)! },
    authorizer,
    ...props,
  });
  return Template.fromStack(stack);
}

describe('JobsApi', () => {
  let template: Template;

  beforeAll(() => {
    template = apiTemplate();
  });

  /** The logical id of the API resource at `path` ("/v1/jobs/{jobId}"), following ParentIds. */
  const resourceId = (path: string): string => {
    const resources = Object.entries(template.findResources('AWS::ApiGateway::Resource'));
    let id: string | undefined;
    for (const part of path.split('/').filter(Boolean)) {
      const parentIs = (parent: { Ref?: string; 'Fn::GetAtt'?: string[] }) =>
        id ? parent.Ref === id : parent['Fn::GetAtt']?.[1] === 'RootResourceId';
      const found = resources.find(
        ([, r]) => r.Properties.PathPart === part && parentIs(r.Properties.ParentId),
      );
      expect(found, `resource "${part}" of ${path}`).toBeDefined();
      id = found![0];
    }
    return id!;
  };

  /** A Lambda proxy integration whose URI invokes the function with this logical id prefix. */
  const lambdaProxyTo = (functionPrefix: string) => ({
    Type: 'AWS_PROXY',
    IntegrationHttpMethod: 'POST',
    Uri: {
      'Fn::Join': [
        '',
        Match.arrayWith([{ 'Fn::GetAtt': [Match.stringLikeRegexp(`^${functionPrefix}`), 'Arn'] }]),
      ],
    },
  });

  it('routes each path and method of the route table to its function through a Lambda proxy', () => {
    template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
    expect(API_ROUTES.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining(['POST /v1/jobs', 'GET /v1/jobs/{jobId}']),
    );
    for (const route of API_ROUTES) {
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: route.method,
        ResourceId: { Ref: resourceId(route.path) },
        OperationName: route.operationId,
        Integration: lambdaProxyTo(functionId(route.handler)),
      });
    }
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method'));
    expect(methods.filter((m) => m.Properties.HttpMethod !== 'OPTIONS')).toHaveLength(API_ROUTES.length);
  });

  it('sends POST /v1/jobs to create-job, validating the body against the model', () => {
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'POST',
      ResourceId: { Ref: resourceId('/v1/jobs') },
      RequestValidatorId: { Ref: Match.stringLikeRegexp('BodyValidator') },
      RequestModels: { 'application/json': { Ref: Match.stringLikeRegexp('CreateJobRequest') } },
    });
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
      ValidateRequestBody: true,
      ValidateRequestParameters: true,
    });
  });

  it('requires the path parameters of each route', () => {
    const withJobId = API_ROUTES.filter((r) => r.path.includes('{jobId}'));
    expect(withJobId.map((r) => `${r.method} ${r.path}`)).toContain('GET /v1/jobs/{jobId}');
    for (const route of withJobId) {
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: route.method,
        ResourceId: { Ref: resourceId(route.path) },
        RequestParameters: { 'method.request.path.jobId': true },
        RequestValidatorId: { Ref: Match.stringLikeRegexp('ParameterValidator') },
      });
    }
  });

  it('puts every route but the OpenAPI document behind the authorizer and a usage-plan key', () => {
    const authorizerIds = Object.keys(template.findResources('AWS::ApiGateway::Authorizer'));
    expect(authorizerIds).toHaveLength(1);
    const authorizerId = authorizerIds[0];
    for (const route of API_ROUTES) {
      const isPublic = route.handler === 'openapi';
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: route.method,
        ResourceId: { Ref: resourceId(route.path) },
        ...(isPublic
          ? { AuthorizationType: 'NONE', ApiKeyRequired: false, AuthorizerId: Match.absent() }
          : { AuthorizationType: 'CUSTOM', ApiKeyRequired: true, AuthorizerId: { Ref: authorizerId } }),
      });
    }
    expect(API_ROUTES.filter((r) => r.handler === 'openapi')).toHaveLength(1);
    // The key comes from the authorizer's usageIdentifierKey, never from the client's header.
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { ApiKeySourceType: 'AUTHORIZER' });
  });

  it("gives each tenant's usage-plan key its own throttle and daily quota on the stage", () => {
    template.resourceCountIs('AWS::ApiGateway::UsagePlan', 1);
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 20, BurstLimit: 40 },
      Quota: { Limit: 200_000, Period: 'DAY' },
      ApiStages: [
        {
          ApiId: { Ref: Match.stringLikeRegexp('^Api') },
          Stage: { Ref: Match.stringLikeRegexp('DeploymentStage') },
        },
      ],
    });
    // Keys are added per tenant by `npm run tenant -- add`, outside the stack.
    template.resourceCountIs('AWS::ApiGateway::ApiKey', 0);
    const custom = apiTemplate({ tenantLimits: { rateLimit: 2, burstLimit: 3, requestsPerDay: 1000 } });
    custom.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 2, BurstLimit: 3 },
      Quota: { Limit: 1000, Period: 'DAY' },
    });
  });

  it('describes the create body: required fields, integer size, priority enum, https webhook and its events', () => {
    const [model] = Object.values(template.findResources('AWS::ApiGateway::Model'));
    expect(model?.Properties.ContentType).toBe('application/json');
    const schema = model?.Properties.Schema;
    expect(schema.required).toEqual(['fileName', 'contentType', 'sizeBytes']);
    expect(schema.properties).toMatchObject({
      fileName: { type: 'string', minLength: 1 },
      contentType: { type: 'string' },
      sizeBytes: { type: 'integer', minimum: 1 },
      priority: { type: 'string', enum: ['express', 'bulk'] },
      webhook: {
        type: 'object',
        required: ['url'],
        properties: {
          url: { type: 'string', pattern: '^https://' },
          events: {
            type: 'array',
            items: { enum: ['job.queued', 'job.progress', 'job.succeeded', 'job.failed', 'job.cancelled'] },
          },
        },
      },
      progressEvents: { type: 'boolean' },
    });
  });

  it('gives browsers no access unless origins are allowed, and answers their preflights when they are', () => {
    template.resourcePropertiesCountIs('AWS::ApiGateway::Method', { HttpMethod: 'OPTIONS' }, 0);
    const open = apiTemplate({ allowedOrigins: ['*'] });
    for (const path of new Set(['/v1', ...API_ROUTES.map((r) => r.path)])) {
      open.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: 'OPTIONS',
        ResourceId: { Ref: resourceId(path) },
        Integration: { Type: 'MOCK' },
      });
    }
  });

  it('deploys stage prod with tracing, access logs, execution logs and throttling', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      TracingEnabled: true,
      AccessLogSetting: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('requestId'),
      },
      MethodSettings: [
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
        }),
      ],
    });
    const [stage] = Object.values(template.findResources('AWS::ApiGateway::Stage'));
    expect(JSON.stringify(stage?.Properties.AccessLogSetting.DestinationArn)).toMatch(/"ApiAccessLogs/);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    template.resourceCountIs('AWS::ApiGateway::Account', 1);
  });

  it('answers gateway errors with the JSON error body', () => {
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse'));
    const byType = new Map(responses.map((r) => [r.Properties.ResponseType, r.Properties]));
    expect([...byType.keys()]).toEqual(
      expect.arrayContaining([
        'DEFAULT_4XX',
        'DEFAULT_5XX',
        'BAD_REQUEST_BODY',
        'MISSING_AUTHENTICATION_TOKEN',
        'UNAUTHORIZED',
      ]),
    );
    // What the gateway sends once it has substituted its variables (messageString comes quoted).
    const render = (template: string) =>
      JSON.parse(
        template
          .replaceAll('$context.error.messageString', '"Invalid request body"')
          .replaceAll('$context.error.responseType', 'BAD_REQUEST_BODY'),
      );
    for (const response of byType.values()) {
      const body = render(response.ResponseTemplates['application/json']);
      expect(body).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
      // No origin is allowed by default: no CORS header on the gateway's own answers either.
      expect(response.ResponseParameters).toBeUndefined();
    }
    expect(render(byType.get('DEFAULT_4XX').ResponseTemplates['application/json'])).toEqual({
      error: { code: 'BAD_REQUEST_BODY', message: 'Invalid request body' },
    });
    expect(byType.get('BAD_REQUEST_BODY')).toMatchObject({ StatusCode: '400' });
    expect(render(byType.get('BAD_REQUEST_BODY').ResponseTemplates['application/json']).error.code).toBe(
      'VALIDATION_ERROR',
    );
    expect(byType.get('MISSING_AUTHENTICATION_TOKEN')).toMatchObject({ StatusCode: '404' });
    // The authorizer's refusal: the same 401 body a handler gives a bad key.
    expect(byType.get('UNAUTHORIZED')).toMatchObject({ StatusCode: '401' });
    expect(render(byType.get('UNAUTHORIZED').ResponseTemplates['application/json'])).toEqual({
      error: { code: 'UNAUTHORIZED', message: 'A valid API key is required in the x-api-key header.' },
    });
  });

  it('lets API Gateway invoke each function, scoped to its method', () => {
    // One per route, and one for the authorizer.
    template.resourceCountIs('AWS::Lambda::Permission', API_ROUTES.length + 1);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'apigateway.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [Match.stringLikeRegexp('^CreateJob'), 'Arn'] },
      SourceArn: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('/POST/v1/jobs$')])] },
    });
  });

  it('refuses a route outside /v1', () => {
    expect(() =>
      apiTemplate({
        routes: [{ method: 'GET', path: '/health', handler: 'get-job', operationId: 'health', summary: '' }],
      }),
    ).toThrow(/outside \/v1/);
  });

  it('takes stage, origins, throttling and the CloudWatch role from its props', () => {
    const custom = apiTemplate({
      stageName: 'staging',
      allowedOrigins: ['https://a.example.com', 'https://b.example.com'],
      throttlingRateLimit: 5,
      throttlingBurstLimit: 10,
      cloudWatchRole: false,
    });
    custom.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'staging',
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 })],
    });
    custom.resourceCountIs('AWS::ApiGateway::Account', 0);
    custom.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'OPTIONS',
      Integration: {
        IntegrationResponses: [
          Match.objectLike({
            ResponseParameters: Match.objectLike({
              'method.response.header.Access-Control-Allow-Origin': "'https://a.example.com'",
            }),
          }),
        ],
      },
    });
    // Several origins cannot be echoed from a static gateway response header.
    for (const response of Object.values(custom.findResources('AWS::ApiGateway::GatewayResponse'))) {
      expect(response.Properties.ResponseParameters).toBeUndefined();
    }
  });
});
