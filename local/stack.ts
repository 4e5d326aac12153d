import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { type EngineOptions, OcrEngine } from '../gpu-worker/src/ocr/index.ts';
import { type DocumentRecognizer, Worker, type WorkerOptions } from '../gpu-worker/src/worker.ts';
import { makeCancelJobHandler } from '../lambdas/cancel-job/cancel-job.ts';
import { makeCreateJobHandler } from '../lambdas/create-job/create-job.ts';
import { makeDlqHandler } from '../lambdas/dlq/dlq.ts';
import { makeGetJobHandler } from '../lambdas/get-job/get-job.ts';
import { makeGetResultHandler } from '../lambdas/get-result/get-result.ts';
import { makeIngestHandler } from '../lambdas/ingest/ingest.ts';
import { makeListJobsHandler } from '../lambdas/list-jobs/list-jobs.ts';
import { makeOpenApiHandler } from '../lambdas/openapi/openapi.ts';
import { makeQueueStatsHandler } from '../lambdas/queue-stats/queue-stats.ts';
import { makeReconcilerHandler, type ReconcileOptions } from '../lambdas/reconciler/reconciler.ts';
import { makeRedriveHandler } from '../lambdas/redrive/redrive.ts';
import { makeRetryJobHandler } from '../lambdas/retry-job/retry-job.ts';
import {
  configToEnv,
  DEFAULT_LIMITS,
  DEFAULT_WEBHOOKS,
  type Limits,
  type MultipartSettings,
  type TextractSettings,
  type WebhookSettings,
} from '../lambdas/shared/config.ts';
import { ConfigError } from '../lambdas/shared/errors.ts';
import { METRIC, WORKER_SERVICE } from '../lambdas/shared/metric-names.ts';
import { PrometheusRegistry, parsePushedRecords } from '../lambdas/shared/metrics.ts';
import { RESOURCE_NAMES, WEBHOOK_QUEUE_SETTINGS } from '../lambdas/shared/resources.ts';
import { API_ROUTES } from '../lambdas/shared/routes.ts';
import { createRuntime, type Runtime } from '../lambdas/shared/runtime.ts';
import { makeUploadHandler } from '../lambdas/upload/upload.ts';
import { makeWebhookDispatcherHandler } from '../lambdas/webhook-dispatcher/webhook-dispatcher.ts';
import { makeWebhookSecretHandler } from '../lambdas/webhook-secret/webhook-secret.ts';
import { type ApiServer, type ProxyHandler, type Route, startApiServer } from './api-server.ts';
import { type Emulators, startEmulators } from './emulators.ts';
import { LOCAL_MULTIPART, provisionLocalResources } from './resources.ts';
import { objectCreatedRecord, S3EventBridge } from './s3-events.ts';
import { SqsEventSource } from './sqs-events.ts';
import { localTextract } from './textract.ts';

export interface LocalStackOptions {
  /** API port; 0 picks a free one. */
  port?: number;
  /** Workers polling the queues in this process (they share one engine). */
  workers?: number;
  /** tenant → API key. Default: one tenant `local` with a fresh random key. */
  apiKeys?: Record<string, string>;
  region?: string;
  maxUploadBytes?: number;
  limits?: Partial<Limits>;
  /** Multipart uploads; default `LOCAL_MULTIPART` (10 MiB threshold, under fauxqs's body limit). */
  multipart?: Partial<MultipartSettings>;
  /** Webhook delivery settings (tests shorten the retries); loopback receivers are always allowed here. */
  webhooks?: Partial<WebhookSettings>;
  /** Keep the job table on disk here. Default: in memory. */
  dynamoPath?: string;
  engine?: Partial<EngineOptions>;
  /**
   * Textract for this stack; default: on with `OCRQ_TEXTRACT_REGION` and AWS credentials (see
   * local/textract.ts), `false` keeps it off whatever the environment says.
   */
  textract?: TextractSettings | false;
  /** A recognizer to use instead of the OCR engine (tests of the control plane). */
  recognizer?: DocumentRecognizer;
  worker?: Partial<WorkerOptions>;
  /** How often the dead-letter sweep runs (ms). */
  deadLetterSweepMs?: number;
  /** How often the reconciler runs (ms), and its bounds (tests shorten them). */
  reconcileMs?: number;
  reconcile?: ReconcileOptions;
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /**
   * The endpoints the stack's clients and its worker processes use, given the emulators' own:
   * a test puts a proxy between them (an outage it can cut without losing the emulators' state).
   */
  clientEndpoints?: (direct: {
    default: string;
    dynamodb: string;
  }) => Promise<{ default: string; dynamodb: string }>;
}

export interface LocalStack {
  apiUrl: string;
  apiKeys: Record<string, string>;
  runtime: Runtime;
  emulators: Emulators;
  /** Workers in this process (none with `workers: 0`: run them as processes with {@link workerEnv}). */
  workers: Worker[];
  /** What `GET /metrics` serves: in-process workers and the lifecycle record here, worker processes post. */
  metrics: PrometheusRegistry;
  /** The environment a worker process needs to reach this stack (`npm run worker -- --env-file`). */
  workerEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** KEY=VALUE lines, as `process.loadEnvFile` and `node --env-file` read them. */
export function formatEnvFile(env: Record<string, string>): string {
  return `${Object.entries(env)
    .map(([key, value]) => {
      if (/[\r\n]/.test(value)) throw new Error(`${key}: a value in an env file cannot span lines`);
      return `${key}=${value}`;
    })
    .join('\n')}\n`;
}

/** Every route of the API table, served by the same handler the cloud's Lambda runs. */
export function apiRoutes(runtime: Runtime): Route[] {
  const handlers: Record<string, (runtime: Runtime) => ProxyHandler> = {
    'create-job': makeCreateJobHandler,
    'list-jobs': makeListJobsHandler,
    'get-job': makeGetJobHandler,
    'cancel-job': makeCancelJobHandler,
    'retry-job': makeRetryJobHandler,
    upload: makeUploadHandler,
    'webhook-secret': makeWebhookSecretHandler,
    'get-result': makeGetResultHandler,
    'queue-stats': makeQueueStatsHandler,
    redrive: makeRedriveHandler,
    openapi: () => makeOpenApiHandler(),
  };
  return API_ROUTES.map((route) => {
    const make = handlers[route.handler];
    if (!make) throw new Error(`no local handler for ${route.handler}`);
    return { method: route.method, resource: route.path, handler: make(runtime) };
  });
}

/** Parses `OCRQ_LOCAL_API_KEYS=tenantA:keyA,tenantB:keyB`. */
export function parseApiKeys(value: string): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const pair of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [tenant, key, ...rest] = pair.split(':');
    if (!tenant || !key || rest.length > 0) {
      throw new ConfigError(`OCRQ_LOCAL_API_KEYS: "${pair}" is not tenant:key`);
    }
    keys[tenant] = key;
  }
  if (Object.keys(keys).length === 0) throw new ConfigError('OCRQ_LOCAL_API_KEYS defines no tenant');
  return keys;
}

/**
 * The whole pipeline in this process: emulators, the same resources as the CDK stack, the
 * API routes over HTTP, upload events into ingest, and workers on the queues.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const region = options.region ?? 'us-east-1';
  const logger = new Logger({ serviceName: 'ocr-pipeline-local', logLevel: options.logLevel ?? 'WARN' });
  const emulators = await startEmulators({ region, dynamoPath: options.dynamoPath });
  const stopped: Array<() => Promise<void>> = [() => emulators.stop()];
  const stopAll = async () => {
    for (const stop of stopped.reverse()) await stop().catch(() => undefined);
  };
  try {
    const provisioned = await provisionLocalResources(emulators, {
      region,
      maxUploadBytes: options.maxUploadBytes ?? 50 * 1024 * 1024,
      resultUrlTtlSeconds: 3600,
      jobTtlDays: 7,
      limits: { ...DEFAULT_LIMITS, ...options.limits },
      multipart: { ...LOCAL_MULTIPART, ...options.multipart },
      webhooks: { ...DEFAULT_WEBHOOKS, ...options.webhooks },
    });
    const config = options.clientEndpoints
      ? {
          ...provisioned,
          endpoints: await options.clientEndpoints({
            default: emulators.awsEndpoint,
            dynamodb: emulators.dynamoEndpoint,
          }),
        }
      : provisioned;
    const textract =
      options.textract ?? (await localTextract(process.env, (message) => logger.warn(message)));
    if (textract) config.textract = textract;
    const metrics = new PrometheusRegistry(WORKER_SERVICE);
    const runtime = createRuntime(config, { logger, metrics });
    const apiKeys = options.apiKeys ?? { local: `local-${randomBytes(12).toString('base64url')}` };
    for (const [tenantId, key] of Object.entries(apiKeys)) await runtime.apiKeys.register(tenantId, key);

    const workerCount = options.workers ?? 1;
    // Without in-process workers the engine (seconds of model loading) is not needed here.
    const recognizer =
      workerCount > 0
        ? (options.recognizer ??
          (await OcrEngine.create(options.engine ?? {}, {
            onBatch: (pages) => metrics.record(METRIC.batchPages, pages),
          })))
        : undefined;
    if (recognizer instanceof OcrEngine) stopped.push(() => recognizer.close());
    const workers = recognizer
      ? Array.from(
          { length: workerCount },
          () => new Worker(runtime, recognizer, { idleWaitSeconds: 2, ...options.worker }, { metrics }),
        )
      : [];
    for (const worker of workers) void worker.run();
    stopped.push(async () => {
      await Promise.all(workers.map((w) => w.close()));
    });

    const bridge = new S3EventBridge(emulators.aws, makeIngestHandler(runtime), {
      bucket: config.bucketName,
      prefix: 'inputs/',
      region,
      sizeOf: async (key) => (await runtime.blobs.head(key))?.sizeBytes ?? 0,
      // As in AWS, an event that failed every attempt lands in ingest's failure queue as Lambda's
      // on-failure destination record; the reconciler takes it in again.
      onError: (error, key) => {
        logger.error('ingest failed for an upload', { key, error: error as Error });
        void runtime.ingestFailures
          ?.send({
            version: '1.0',
            timestamp: new Date().toISOString(),
            requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3 },
            requestPayload: { Records: [objectCreatedRecord(region, config.bucketName, key, 0)] },
            responsePayload: { errorMessage: error instanceof Error ? error.message : String(error) },
          })
          .catch((sendError: unknown) =>
            logger.error('could not record a failed upload event', { key, error: sendError as Error }),
          );
      },
    });
    bridge.start();
    stopped.push(() => bridge.stop());

    // The events topic → webhook queue subscription exists in fauxqs; here the queue's records
    // reach the dispatcher as Lambda's event source would hand them over.
    if (runtime.webhookQueue) {
      const webhooks = new SqsEventSource(
        runtime.webhookQueue,
        makeWebhookDispatcherHandler(runtime, { metrics }),
        {
          queueArn: `arn:aws:sqs:${region}:000000000000:${RESOURCE_NAMES.webhookQueue}`,
          region,
          visibilitySeconds: WEBHOOK_QUEUE_SETTINGS.visibilityTimeoutSeconds,
          onError: (error) => logger.error('webhook dispatch failed', { error: error as Error }),
        },
      );
      webhooks.start();
      stopped.push(() => webhooks.stop());
    }

    // In AWS schedules run the dlq sweep every minute and the reconciler every five, each never
    // overlapping itself; here they run every few seconds, with the same guarantee.
    const every = (ms: number, name: string, run: () => Promise<unknown>) => {
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return;
        busy = true;
        run()
          .catch((error: unknown) => logger.error(`${name} failed`, { error: error as Error }))
          .finally(() => {
            busy = false;
          });
      }, ms);
      stopped.push(async () => clearInterval(timer));
    };
    const sweepDeadLetters = makeDlqHandler(runtime);
    every(options.deadLetterSweepMs ?? 2000, 'dead-letter sweep', () => sweepDeadLetters());
    const reconcileJobs = makeReconcilerHandler(runtime, options.reconcile);
    every(options.reconcileMs ?? 5000, 'reconciler', () => reconcileJobs());

    const api: ApiServer = await startApiServer({
      port: options.port ?? 0,
      routes: apiRoutes(runtime),
      metrics: {
        render: () => metrics.render(),
        ingest: (body) => {
          for (const r of parsePushedRecords(body)) metrics.record(r.name, r.value, r.errorCode);
        },
      },
      onError: (error) => logger.error('local API error', { error: error as Error }),
    });
    stopped.push(() => api.close());

    const workerEnv: Record<string, string> = {
      ...configToEnv(config),
      // The emulators accept any credentials; the SDK only needs some to sign with.
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      OCRQ_LOCAL_METRICS_URL: `${api.url}/metrics`,
    };
    return { apiUrl: api.url, apiKeys, runtime, emulators, workers, metrics, workerEnv, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
