import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { z } from 'zod';
import { ApiError, UnauthorizedError, ValidationError } from './errors.ts';
import type { Runtime } from './runtime.ts';

export type ApiEvent = APIGatewayProxyEvent;
export type ApiResult = APIGatewayProxyResult;
export type ApiHandler = (event: ApiEvent, context: Context) => Promise<ApiResult>;

/** What an API route's named function receives besides the event: the caller's tenant. */
export interface ApiCaller {
  tenantId: string;
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * The CORS headers of an answer to `event`: its `Origin` when the deployment allows it (`*`
 * allows every origin), none otherwise, so a browser page of another origin cannot read answers
 * unless an operator said so (`OCRQ_ALLOWED_ORIGINS`, the stack's `allowedOrigins`).
 */
export function corsHeaders(
  event: { headers?: Record<string, string | undefined> | null },
  allowedOrigins: readonly string[],
): Record<string, string> {
  if (allowedOrigins.includes('*')) return { 'access-control-allow-origin': '*' };
  const origin = header(event, 'origin');
  if (!origin || !allowedOrigins.includes(origin)) return {};
  return { 'access-control-allow-origin': origin, vary: 'Origin' };
}

function withCors(response: ApiResult, event: ApiEvent, allowedOrigins: readonly string[]): void {
  response.headers = { ...response.headers, ...corsHeaders(event, allowedOrigins) };
}

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** A request header, case-insensitively (of an API event or an authorizer's request event). */
export function header(
  event: { headers?: Record<string, string | undefined> | null },
  name: string,
): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

export function parseJsonBody<S extends z.ZodType>(event: ApiEvent, schema: S): z.infer<S> {
  if (!event.body) throw new ValidationError('the request needs a JSON body');
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ValidationError('the request body is not valid JSON');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
      .join('; ');
    throw new ValidationError(problems);
  }
  return parsed.data;
}

export function pathParameter(event: ApiEvent, name: string): string {
  const value = event.pathParameters?.[name];
  if (!value) throw new ValidationError(`missing path parameter ${name}`);
  return value;
}

/**
 * The public base URL the request came in on (scheme, host and, behind API Gateway, the stage),
 * so links in responses work for the caller whether it talks to the cloud or the local stack.
 */
export function baseUrl(event: ApiEvent): string {
  const host = header(event, 'host');
  if (!host) return '';
  const proto = header(event, 'x-forwarded-proto') ?? 'https';
  // On the execute-api domain the stage is part of the path; on a custom domain it is not.
  const stage = event.requestContext?.stage;
  const stagePrefix = stage && event.requestContext?.path?.startsWith(`/${stage}/`) ? `/${stage}` : '';
  return `${proto}://${host}${stagePrefix}`;
}

/**
 * The tenant that the API's Lambda authorizer (`lambdas/authorizer`) resolved the key to.
 * Only API Gateway fills `requestContext.authorizer`; the local API server leaves it null.
 */
export function authorizedTenant(event: ApiEvent): string | undefined {
  const tenantId: unknown = event.requestContext?.authorizer?.tenantId;
  return typeof tenantId === 'string' && tenantId !== '' ? tenantId : undefined;
}

/**
 * Wraps a route's named function as a Lambda handler: takes the tenant from the authorizer's
 * context, or resolves the API key itself where no authorizer ran (the local stack), 401 for
 * an unknown key; and turns errors into `{"error":{"code","message"}}` with their status.
 * Unexpected errors are logged and answered 500 without internals.
 */
export function apiHandler(
  runtime: Pick<Runtime, 'apiKeys' | 'logger' | 'config'>,
  route: (event: ApiEvent, caller: ApiCaller) => Promise<ApiResult>,
): ApiHandler {
  const handler = middy<ApiEvent, ApiResult>().handler(async (event) => {
    const apiKey = header(event, 'x-api-key');
    const tenantId =
      authorizedTenant(event) ?? (apiKey ? await runtime.apiKeys.resolveTenant(apiKey) : undefined);
    if (!tenantId) throw new UnauthorizedError();
    return route(event, { tenantId });
  });
  handler.onError(async (request) => {
    const error = request.error;
    if (error instanceof ApiError) {
      request.response = json(error.statusCode, errorBody(error.code, error.message), error.headers);
      return;
    }
    runtime.logger.error('unhandled error in API route', { error: error as Error, path: request.event.path });
    request.response = json(500, errorBody('INTERNAL_ERROR', 'internal error'));
  });
  handler.after(async (request) => {
    if (request.response) withCors(request.response, request.event, runtime.config.allowedOrigins);
  });
  handler.onError(async (request) => {
    if (request.response) withCors(request.response, request.event, runtime.config.allowedOrigins);
  });
  return handler as unknown as ApiHandler;
}
