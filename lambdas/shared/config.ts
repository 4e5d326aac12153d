import { z } from 'zod';
import { ConfigError } from './errors.ts';

export interface Limits {
  /** Pages per work message: a long document is shared by many workers a chunk at a time. */
  chunkPages: number;
  /** Documents with more pages fail with TOO_MANY_PAGES. */
  maxPages: number;
  /** Without a requested priority, jobs up to these sizes go to the express queue. */
  expressMaxPages: number;
  expressMaxBytes: number;
  /** Unfinished jobs a tenant may have at once (429 beyond). */
  tenantMaxActiveJobs: number;
  /**
   * Pages a tenant's unfinished jobs may still have to do before create answers 429: one
   * tenant's backlog is capped so that it cannot fill the queues ahead of everyone else.
   */
  tenantMaxQueuedPages: number;
  /** Visible messages across the work queues above which create answers 503. */
  maxQueueDepth: number;
}

export const DEFAULT_LIMITS: Limits = {
  chunkPages: 8,
  maxPages: 2000,
  expressMaxPages: 8,
  expressMaxBytes: 5 * 1024 * 1024,
  tenantMaxActiveJobs: 1000,
  tenantMaxQueuedPages: 20_000,
  maxQueueDepth: 100_000,
};

const intFromEnv = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * Runtime configuration, read from the environment once at start and validated, so a
 * misconfigured function or worker fails at boot with a message naming the variable.
 * `OCRQ_ENDPOINT_URL` points every AWS client at one endpoint (the local stack's emulators);
 * `OCRQ_DYNAMODB_ENDPOINT_URL` overrides it for DynamoDB, which runs in its own emulator.
 */
const ConfigSchema = z.object({
  AWS_REGION: z.string().min(1).default('us-east-1'),
  OCRQ_TABLE_NAME: z.string().min(1),
  OCRQ_BUCKET_NAME: z.string().min(1),
  OCRQ_EXPRESS_QUEUE_URL: z.string().url(),
  OCRQ_BULK_QUEUE_URL: z.string().url().optional(),
  OCRQ_EXPRESS_DLQ_URL: z.string().url().optional(),
  OCRQ_BULK_DLQ_URL: z.string().url().optional(),
  OCRQ_EVENTS_TOPIC_ARN: z.string().min(1),
  /** Where ingest's failed S3 events land (its on-failure destination); the reconciler reads it. */
  OCRQ_INGEST_FAILURES_QUEUE_URL: z.string().url().optional(),
  /** Browser origins the API answers with CORS headers (comma-separated; `*` for any). */
  OCRQ_ALLOWED_ORIGINS: z.string().default(''),
  OCRQ_MAX_UPLOAD_BYTES: intFromEnv(50 * 1024 * 1024),
  OCRQ_RESULT_URL_TTL_SECONDS: intFromEnv(3600),
  OCRQ_JOB_TTL_DAYS: intFromEnv(7),
  OCRQ_CHUNK_PAGES: intFromEnv(DEFAULT_LIMITS.chunkPages),
  OCRQ_MAX_PAGES: intFromEnv(DEFAULT_LIMITS.maxPages),
  OCRQ_EXPRESS_MAX_PAGES: intFromEnv(DEFAULT_LIMITS.expressMaxPages),
  OCRQ_EXPRESS_MAX_BYTES: intFromEnv(DEFAULT_LIMITS.expressMaxBytes),
  OCRQ_TENANT_MAX_ACTIVE_JOBS: intFromEnv(DEFAULT_LIMITS.tenantMaxActiveJobs),
  OCRQ_TENANT_MAX_QUEUED_PAGES: intFromEnv(DEFAULT_LIMITS.tenantMaxQueuedPages),
  OCRQ_MAX_QUEUE_DEPTH: intFromEnv(DEFAULT_LIMITS.maxQueueDepth),
  /** How long a function that works through a backlog in steps may run (set by the CDK stack). */
  OCRQ_TIME_BUDGET_MS: z.coerce.number().int().positive().optional(),
  OCRQ_ENDPOINT_URL: z.string().url().optional(),
  OCRQ_DYNAMODB_ENDPOINT_URL: z.string().url().optional(),
});

export interface Config {
  region: string;
  tableName: string;
  bucketName: string;
  queues: { express: string; bulk: string };
  /** Dead-letter queues of the work queues; absent where none is configured. */
  deadLetterQueues: { express?: string; bulk?: string };
  eventsTopicArn: string;
  /** Browser origins allowed by CORS; none by default (`*` allows any). */
  allowedOrigins: string[];
  /** Ingest's failure queue, where one is configured. */
  ingestFailuresQueue?: string;
  maxUploadBytes: number;
  resultUrlTtlSeconds: number;
  jobTtlDays: number;
  limits: Limits;
  endpoints: { default?: string; dynamodb?: string };
  /** Milliseconds a backlog-draining function (sweep, redrive, reconciler) may spend; see the CDK stack. */
  timeBudgetMs?: number;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  return {
    region: e.AWS_REGION,
    tableName: e.OCRQ_TABLE_NAME,
    bucketName: e.OCRQ_BUCKET_NAME,
    queues: { express: e.OCRQ_EXPRESS_QUEUE_URL, bulk: e.OCRQ_BULK_QUEUE_URL ?? e.OCRQ_EXPRESS_QUEUE_URL },
    deadLetterQueues: {
      ...(e.OCRQ_EXPRESS_DLQ_URL ? { express: e.OCRQ_EXPRESS_DLQ_URL } : {}),
      ...(e.OCRQ_BULK_DLQ_URL ? { bulk: e.OCRQ_BULK_DLQ_URL } : {}),
    },
    eventsTopicArn: e.OCRQ_EVENTS_TOPIC_ARN,
    allowedOrigins: e.OCRQ_ALLOWED_ORIGINS.split(',')
      .map((origin) => origin.trim())
      .filter(Boolean),
    ...(e.OCRQ_INGEST_FAILURES_QUEUE_URL ? { ingestFailuresQueue: e.OCRQ_INGEST_FAILURES_QUEUE_URL } : {}),
    maxUploadBytes: e.OCRQ_MAX_UPLOAD_BYTES,
    resultUrlTtlSeconds: e.OCRQ_RESULT_URL_TTL_SECONDS,
    jobTtlDays: e.OCRQ_JOB_TTL_DAYS,
    limits: {
      chunkPages: e.OCRQ_CHUNK_PAGES,
      maxPages: e.OCRQ_MAX_PAGES,
      expressMaxPages: e.OCRQ_EXPRESS_MAX_PAGES,
      expressMaxBytes: e.OCRQ_EXPRESS_MAX_BYTES,
      tenantMaxActiveJobs: e.OCRQ_TENANT_MAX_ACTIVE_JOBS,
      tenantMaxQueuedPages: e.OCRQ_TENANT_MAX_QUEUED_PAGES,
      maxQueueDepth: e.OCRQ_MAX_QUEUE_DEPTH,
    },
    ...(e.OCRQ_TIME_BUDGET_MS ? { timeBudgetMs: e.OCRQ_TIME_BUDGET_MS } : {}),
    endpoints: {
      default: e.OCRQ_ENDPOINT_URL,
      dynamodb: e.OCRQ_DYNAMODB_ENDPOINT_URL ?? e.OCRQ_ENDPOINT_URL,
    },
  };
}

/** The environment that {@link loadConfig} reads back: how the stacks hand a Config to a process. */
export function configToEnv(config: Config): Record<string, string> {
  const env: Record<string, string> = {
    AWS_REGION: config.region,
    OCRQ_TABLE_NAME: config.tableName,
    OCRQ_BUCKET_NAME: config.bucketName,
    OCRQ_EXPRESS_QUEUE_URL: config.queues.express,
    OCRQ_BULK_QUEUE_URL: config.queues.bulk,
    OCRQ_EVENTS_TOPIC_ARN: config.eventsTopicArn,
    OCRQ_ALLOWED_ORIGINS: config.allowedOrigins.join(','),
    OCRQ_MAX_UPLOAD_BYTES: String(config.maxUploadBytes),
    OCRQ_RESULT_URL_TTL_SECONDS: String(config.resultUrlTtlSeconds),
    OCRQ_JOB_TTL_DAYS: String(config.jobTtlDays),
    OCRQ_CHUNK_PAGES: String(config.limits.chunkPages),
    OCRQ_MAX_PAGES: String(config.limits.maxPages),
    OCRQ_EXPRESS_MAX_PAGES: String(config.limits.expressMaxPages),
    OCRQ_EXPRESS_MAX_BYTES: String(config.limits.expressMaxBytes),
    OCRQ_TENANT_MAX_ACTIVE_JOBS: String(config.limits.tenantMaxActiveJobs),
    OCRQ_TENANT_MAX_QUEUED_PAGES: String(config.limits.tenantMaxQueuedPages),
    OCRQ_MAX_QUEUE_DEPTH: String(config.limits.maxQueueDepth),
  };
  if (config.ingestFailuresQueue) env.OCRQ_INGEST_FAILURES_QUEUE_URL = config.ingestFailuresQueue;
  if (config.deadLetterQueues.express) env.OCRQ_EXPRESS_DLQ_URL = config.deadLetterQueues.express;
  if (config.deadLetterQueues.bulk) env.OCRQ_BULK_DLQ_URL = config.deadLetterQueues.bulk;
  if (config.endpoints.default) env.OCRQ_ENDPOINT_URL = config.endpoints.default;
  if (config.endpoints.dynamodb) env.OCRQ_DYNAMODB_ENDPOINT_URL = config.endpoints.dynamodb;
  return env;
}
