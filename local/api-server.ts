import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { errorBody } from '../lambdas/shared/http.ts';

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export interface Route {
  method: string;
  /** API Gateway resource path, e.g. `/v1/jobs/{jobId}`. */
  resource: string;
  handler: ProxyHandler;
}

const MAX_BODY_BYTES = 1024 * 1024;
export const LOCAL_STAGE = 'local';

function matchRoute(routes: Route[], method: string, path: string) {
  let pathMatched = false;
  for (const route of routes) {
    const names: string[] = [];
    const pattern = route.resource.replace(/\{(\w+)\}/g, (_, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    const match = new RegExp(`^${pattern}/?$`).exec(path);
    if (!match) continue;
    pathMatched = true;
    if (route.method !== method) continue;
    const params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(match[i + 1] ?? '')]));
    return { route, params, pathMatched };
  }
  return { pathMatched };
}

function lambdaContext(name: string): Context {
  const started = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${name}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, 30_000 - (Date.now() - started)),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The API Gateway REST proxy event for a Node request, as the Lambda integration builds it. */
export function toProxyEvent(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  resource: string,
  pathParameters: Record<string, string>,
): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    headers[key] = values.join(',');
    multiValueHeaders[key] = values;
  }
  headers['x-forwarded-proto'] ??= 'http';
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [key, value] of url.searchParams) {
    query[key] = value;
    multiQuery[key] = [...(multiQuery[key] ?? []), value];
  }
  const hasQuery = Object.keys(query).length > 0;
  return {
    resource,
    path: url.pathname,
    httpMethod: req.method ?? 'GET',
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    pathParameters: Object.keys(pathParameters).length > 0 ? pathParameters : null,
    stageVariables: null,
    body: body.length > 0 ? body.toString('utf8') : null,
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      domainName: headers.host ?? '127.0.0.1',
      httpMethod: req.method ?? 'GET',
      identity: {
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? null,
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        user: null,
        userArn: null,
      },
      path: url.pathname,
      protocol: 'HTTP/1.1',
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: resource,
      stage: LOCAL_STAGE,
    },
  };
}

function send(res: ServerResponse, result: APIGatewayProxyResult): void {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
  for (const [k, v] of Object.entries(result.multiValueHeaders ?? {})) headers[k] = v.map(String);
  res.writeHead(result.statusCode, headers);
  res.end(result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
}

function sendJson(res: ServerResponse, statusCode: number, body: unknown): void {
  send(res, { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function serveMetrics(
  metrics: { render(): string; ingest(body: unknown): void },
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(metrics.render());
    return;
  }
  if (req.method !== 'POST') {
    sendJson(res, 405, errorBody('METHOD_NOT_ALLOWED', `${req.method} is not allowed on /metrics`));
    return;
  }
  try {
    metrics.ingest(JSON.parse((await readBody(req)).toString('utf8')));
  } catch (error) {
    sendJson(res, 400, errorBody('VALIDATION_ERROR', error instanceof Error ? error.message : 'bad metrics'));
    return;
  }
  res.writeHead(204);
  res.end();
}

export interface ApiServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/**
 * The local API Gateway: maps HTTP requests on the routes to proxy events, invokes the same
 * Lambda handlers the cloud runs, and writes their results back.
 */
export async function startApiServer(options: {
  port: number;
  host?: string;
  routes: Route[];
  /**
   * `GET /metrics` serves `render()` in the Prometheus text format; `POST /metrics` hands a JSON
   * body to `ingest` (worker processes push their figures there). Not an API route: no key.
   */
  metrics?: { render(): string; ingest(body: unknown): void };
  onError?: (error: unknown) => void;
}): Promise<ApiServer> {
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const method = req.method ?? 'GET';
      if (options.metrics && url.pathname === '/metrics') {
        await serveMetrics(options.metrics, req, res);
        return;
      }
      const { route, params, pathMatched } = matchRoute(options.routes, method, url.pathname);
      if (!route) {
        if (pathMatched)
          sendJson(res, 405, errorBody('METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}`));
        else sendJson(res, 404, errorBody('NOT_FOUND', `no route for ${method} ${url.pathname}`));
        return;
      }
      let body: Buffer;
      try {
        body = await readBody(req);
      } catch {
        sendJson(res, 413, errorBody('PAYLOAD_TOO_LARGE', 'the request body is too large'));
        return;
      }
      const event = toProxyEvent(req, url, body, route.resource, params ?? {});
      const name = `${method} ${route.resource}`;
      send(res, await route.handler(event, lambdaContext(name)));
    })().catch((error: unknown) => {
      options.onError?.(error);
      if (!res.headersSent) sendJson(res, 500, errorBody('INTERNAL_ERROR', 'internal error'));
      else res.end();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
