import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  ApiKeySourceType,
  Cors,
  EndpointType,
  type IAuthorizer,
  JsonSchemaType,
  JsonSchemaVersion,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  type Model,
  Period,
  ResponseType,
  RestApi,
  type UsagePlan,
} from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { UnauthorizedError } from '../../lambdas/shared/errors.ts';
import { JOB_EVENT_TYPES } from '../../lambdas/shared/events.ts';
import { PRIORITIES } from '../../lambdas/shared/job.ts';
import { API_ROUTES, type RouteDefinition } from '../../lambdas/shared/routes.ts';

/** Where the API finds the function of a route's handler; `ApiFunctions` is one. */
export interface ApiHandlerFunctions {
  functionFor(handler: string): IFunction;
}

/** Throttle and quota of each tenant's usage-plan key. */
export interface TenantLimits {
  /** Steady-state requests per second. @default 20 */
  readonly rateLimit?: number;
  /** Burst capacity. @default 40 */
  readonly burstLimit?: number;
  /** Requests per day. @default 200_000 */
  readonly requestsPerDay?: number;
}

export interface JobsApiProps {
  /** The function serving each handler folder the routes name. */
  readonly functions: ApiHandlerFunctions;
  /**
   * Resolves the API key of every route but the public ones and names the tenant's
   * usage-plan key (see `ApiKeyAuthorizer`).
   */
  readonly authorizer: IAuthorizer;
  /**
   * Handlers served without an API key.
   * @default ['openapi'] (the API's own description)
   */
  readonly publicHandlers?: readonly string[];
  /** Limits of each tenant (their usage-plan keys share one plan, each key its own budget). */
  readonly tenantLimits?: TenantLimits;
  /** @default API_ROUTES from `lambdas/shared/routes.ts` */
  readonly routes?: readonly RouteDefinition[];
  /**
   * The deployment stage. Routes carry their version in the path (`/v1/...`), so the stage
   * only names the deployment.
   * @default 'prod'
   */
  readonly stageName?: string;
  /**
   * Origins allowed to call the API from a browser (CORS preflight; the handlers' answers carry
   * the same through `OCRQ_ALLOWED_ORIGINS`). None: no preflight, no browser access.
   * @default []
   */
  readonly allowedOrigins?: readonly string[];
  /** Steady-state requests per second across the stage, all tenants together. @default 50 */
  readonly throttlingRateLimit?: number;
  /** Burst capacity across the stage. @default 100 */
  readonly throttlingBurstLimit?: number;
  /** @default RetentionDays.THREE_MONTHS */
  readonly accessLogRetention?: RetentionDays;
  /**
   * Whether to create the account-wide role that API Gateway needs for any CloudWatch
   * logging (execution and access logs). Turn off where the account already has one set.
   * @default true
   */
  readonly cloudWatchRole?: boolean;
}

/**
 * `{"error":{"code","message"}}`, the body every API error has, handler or gateway. Without a
 * fixed message it carries the gateway's own, `$context.error.messageString`, which the
 * gateway substitutes already quoted (gateway response templates are not VTL: no escaping).
 */
function errorTemplate(code: string, message?: string): string {
  if (message !== undefined) return JSON.stringify({ error: { code, message } });
  return JSON.stringify({ error: { code, message: '@MESSAGE@' } }).replace(
    '"@MESSAGE@"',
    '$context.error.messageString',
  );
}

/**
 * The public REST API, built from the route table in `lambdas/shared/routes.ts` (which the
 * local API server and the OpenAPI document use too). Each route proxies to its handler's
 * function behind a Lambda REQUEST authorizer: it resolves the `x-api-key` header to the
 * tenant (a bad key gets the gateway's 401 `UNAUTHORIZED` and never reaches a handler) and
 * returns the tenant's usage-plan key (`apiKeySource: AUTHORIZER`), so the usage plan throttles
 * and meters each tenant on its own. Handlers take the tenant from the authorizer's context.
 *
 * Requests are validated before they reach a function (the create body against a JSON
 * schema model, path parameters), and errors the gateway itself produces carry the same JSON
 * error body as the handlers'.
 */
export class JobsApi extends Construct {
  readonly api: RestApi;
  readonly accessLogs: LogGroup;
  /** The body model POST /v1/jobs is validated against. */
  readonly createJobModel: Model;
  /** The base URL of the stage, ending in `/`. */
  readonly url: string;
  /** The plan every tenant's usage-plan key joins (`npm run tenant -- add`). */
  readonly usagePlan: UsagePlan;

  constructor(scope: Construct, id: string, props: JobsApiProps) {
    super(scope, id);
    const origins = [...(props.allowedOrigins ?? [])];

    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const cloudWatchRole = props.cloudWatchRole ?? true;
    this.api = new RestApi(this, 'Api', {
      description: 'OCR pipeline jobs API',
      endpointTypes: [EndpointType.REGIONAL],
      apiKeySourceType: ApiKeySourceType.AUTHORIZER,
      cloudWatchRole,
      // Other stacks in the account may rely on the account-wide setting that points at it.
      cloudWatchRoleRemovalPolicy: cloudWatchRole ? RemovalPolicy.RETAIN : undefined,
      deployOptions: {
        stageName: props.stageName ?? 'prod',
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        accessLogDestination: new LogGroupLogDestination(this.accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        throttlingRateLimit: props.throttlingRateLimit ?? 50,
        throttlingBurstLimit: props.throttlingBurstLimit ?? 100,
      },
    });
    this.url = this.api.url;

    const limits = props.tenantLimits ?? {};
    this.usagePlan = this.api.addUsagePlan('TenantPlan', {
      description: "Each tenant's usage-plan key gets this throttle and quota on its own",
      throttle: { rateLimit: limits.rateLimit ?? 20, burstLimit: limits.burstLimit ?? 40 },
      quota: { limit: limits.requestsPerDay ?? 200_000, period: Period.DAY },
      apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
    });
    const publicHandlers = new Set(props.publicHandlers ?? ['openapi']);

    this.addErrorResponses(origins);

    const bodyValidator = this.api.addRequestValidator('BodyValidator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const parameterValidator = this.api.addRequestValidator('ParameterValidator', {
      validateRequestParameters: true,
    });
    this.createJobModel = this.api.addModel('CreateJobRequest', {
      contentType: 'application/json',
      modelName: 'CreateJobRequest',
      description: 'POST /v1/jobs body',
      schema: {
        schema: JsonSchemaVersion.DRAFT4,
        title: 'CreateJobRequest',
        type: JsonSchemaType.OBJECT,
        required: ['fileName', 'contentType', 'sizeBytes'],
        properties: {
          fileName: { type: JsonSchemaType.STRING, minLength: 1, maxLength: 255 },
          contentType: { type: JsonSchemaType.STRING, minLength: 1 },
          sizeBytes: { type: JsonSchemaType.INTEGER, minimum: 1 },
          priority: { type: JsonSchemaType.STRING, enum: [...PRIORITIES] },
          multipart: { type: JsonSchemaType.BOOLEAN },
          webhook: {
            type: JsonSchemaType.OBJECT,
            required: ['url'],
            properties: {
              url: { type: JsonSchemaType.STRING, pattern: '^https://', maxLength: 2048 },
              events: {
                type: JsonSchemaType.ARRAY,
                minItems: 1,
                items: { type: JsonSchemaType.STRING, enum: [...JOB_EVENT_TYPES] },
              },
            },
          },
          progressEvents: { type: JsonSchemaType.BOOLEAN },
        },
      },
    });
    // Bodies API Gateway checks before invoking the handler; the others' are optional or
    // absent, and their handlers validate them.
    const bodyModels: Record<string, Model> = { 'create-job': this.createJobModel };

    // Every route lives under /v1; its resources inherit this CORS preflight.
    this.api.root.addResource(
      'v1',
      origins.length > 0
        ? {
            defaultCorsPreflightOptions: {
              allowOrigins: origins,
              allowMethods: Cors.ALL_METHODS,
              allowHeaders: [...Cors.DEFAULT_HEADERS, 'Idempotency-Key'],
            },
          }
        : {},
    );
    for (const route of props.routes ?? API_ROUTES) {
      if (!route.path.startsWith('/v1/'))
        throw new Error(`route ${route.method} ${route.path} is outside /v1`);
      const pathParameters = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => `method.request.path.${m[1]}`);
      const model = bodyModels[route.handler];
      const validator = model ? bodyValidator : pathParameters.length > 0 ? parameterValidator : undefined;
      const integration = new LambdaIntegration(props.functions.functionFor(route.handler), {
        allowTestInvoke: false,
      });
      const isPublic = publicHandlers.has(route.handler);
      this.api.root.resourceForPath(route.path).addMethod(route.method, integration, {
        operationName: route.operationId,
        authorizer: isPublic ? undefined : props.authorizer,
        apiKeyRequired: !isPublic,
        requestValidator: validator,
        requestParameters:
          pathParameters.length > 0 ? Object.fromEntries(pathParameters.map((p) => [p, true])) : undefined,
        requestModels: model ? { 'application/json': model } : undefined,
      });
    }
  }

  private addErrorResponses(origins: string[]): void {
    // Gateway responses take static header values only: one origin can be echoed, a list cannot.
    const responseHeaders =
      origins.length === 1 ? { 'Access-Control-Allow-Origin': `'${origins[0]}'` } : undefined;
    const respond = (id: string, type: ResponseType, code: string, statusCode?: string, message?: string) =>
      this.api.addGatewayResponse(id, {
        type,
        statusCode,
        responseHeaders,
        templates: { 'application/json': errorTemplate(code, message) },
      });
    respond('Default4xx', ResponseType.DEFAULT_4XX, '$context.error.responseType');
    respond('Default5xx', ResponseType.DEFAULT_5XX, '$context.error.responseType');
    // The authorizer's refusal reads like a handler's own 401.
    respond(
      'Unauthorized',
      ResponseType.UNAUTHORIZED,
      'UNAUTHORIZED',
      '401',
      new UnauthorizedError().message,
    );
    // Same code as the handlers' own validation errors. The validator's details
    // ($context.error.validationErrorString) contain unescaped quotes, so they stay out.
    respond('BadRequestBody', ResponseType.BAD_REQUEST_BODY, 'VALIDATION_ERROR', '400');
    respond('BadRequestParameters', ResponseType.BAD_REQUEST_PARAMETERS, 'VALIDATION_ERROR', '400');
    // What API Gateway answers an unknown path or method (before any authorizer): say so, with a 404.
    respond(
      'UnknownRoute',
      ResponseType.MISSING_AUTHENTICATION_TOKEN,
      'NOT_FOUND',
      '404',
      'No route matches this method and path.',
    );
  }
}
