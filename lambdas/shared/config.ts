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
 * Amazon Textract, where a deployment has it: the region its client calls (never the local
 * stack's emulators) and, in AWS, the channel multi-page detections report completion on.
 */
export interface TextractSettings {
  region: string;
  completion?: { topicArn: string; roleArn: string; queueUrl: string };
}

/** When the `auto` engine sends a page PP-OCR read to Textract (gpu-worker/src/engines/escalation.ts). */
export interface AutoThresholds {
  /** Mean line confidence (0..1) under which a page is hard. */
  minConfidence: number;
  /** Share of dark pixels from which a page counts as inked … */
  minInk: number;
  /** … and fewer recognised characters than this make an inked page hard. */
  minTextChars: number;
}

/**
 * Measured with `npm run bench:engine -- --engine auto` over ../shared/eval (bench/README.md): at
 * 0.9, 3 of 110 pages escalate, and PP-OCR's word F1 on the two papers among them is 0.39 against
 * 0.85 on the rest; at 0.8 none does; at 0.95 40 % of the receipts would, no worse than the rest.
 */
export const DEFAULT_AUTO_THRESHOLDS: AutoThresholds = { minConfidence: 0.9, minInk: 0.02, minTextChars: 10 };

const MIB = 1024 * 1024;

/** S3's smallest part (all parts but the last) and its most parts per upload. */
export const S3_MIN_PART_BYTES = 5 * MIB;
export const S3_MAX_PARTS = 10_000;

/**
 * Presigned multipart uploads, for documents too large for one PUT. Above `thresholdBytes` (or
 * when the client asks) a job uploads in parts of `partBytes` (grown where needed so that no
 * upload has more than {@link S3_MAX_PARTS} parts), up to `maxUploadBytes` in all.
 */
export interface MultipartSettings {
  thresholdBytes: number;
  partBytes: number;
  maxUploadBytes: number;
}

/**
 * In AWS the threshold is the single-PUT maximum, so no request valid before multipart existed
 * changes shape. The local stack lowers it under its S3 emulator's 11 MiB body limit.
 */
export const DEFAULT_MULTIPART: MultipartSettings = {
  thresholdBytes: 50 * MIB,
  partBytes: 8 * MIB,
  maxUploadBytes: 5 * 1024 * MIB,
};

/** Webhook delivery: the dispatcher's queue, its attempts, and the address guard's setting. */
export interface WebhookSettings {
  /** The queue the events topic feeds with the events webhooks want; absent: no webhooks. */
  queueUrl?: string;
  /** How long one POST may take before it counts as failed. */
  timeoutMs: number;
  /** The first retry's delay; each next one doubles, up to `retryMaxSeconds`, with jitter. */
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  /** How long after its first attempt an event is given up on. */
  retrySpanSeconds: number;
  /** How long a rotated-out secret still signs deliveries. */
  secretGraceSeconds: number;
  /** Let webhooks reach loopback receivers, plain http included: the local stack only. */
  allowLoopback: boolean;
}

export const DEFAULT_WEBHOOKS: WebhookSettings = {
  timeoutMs: 10_000,
  retryBaseSeconds: 10,
  retryMaxSeconds: 3600,
  retrySpanSeconds: 86_400,
  secretGraceSeconds: 86_400,
  allowLoopback: false,
};

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
  OCRQ_MULTIPART_THRESHOLD_BYTES: intFromEnv(DEFAULT_MULTIPART.thresholdBytes),
  OCRQ_MULTIPART_PART_BYTES: intFromEnv(DEFAULT_MULTIPART.partBytes).refine(
    (bytes) => bytes >= S3_MIN_PART_BYTES,
    {
      message: `must be at least ${S3_MIN_PART_BYTES} (S3's smallest part)`,
    },
  ),
  OCRQ_MAX_MULTIPART_UPLOAD_BYTES: intFromEnv(DEFAULT_MULTIPART.maxUploadBytes),
  OCRQ_WEBHOOK_QUEUE_URL: z.string().url().optional(),
  OCRQ_WEBHOOK_TIMEOUT_MS: intFromEnv(DEFAULT_WEBHOOKS.timeoutMs),
  OCRQ_WEBHOOK_RETRY_BASE_SECONDS: intFromEnv(DEFAULT_WEBHOOKS.retryBaseSeconds),
  OCRQ_WEBHOOK_RETRY_MAX_SECONDS: intFromEnv(DEFAULT_WEBHOOKS.retryMaxSeconds),
  OCRQ_WEBHOOK_RETRY_SPAN_SECONDS: intFromEnv(DEFAULT_WEBHOOKS.retrySpanSeconds),
  OCRQ_WEBHOOK_SECRET_GRACE_SECONDS: intFromEnv(DEFAULT_WEBHOOKS.secretGraceSeconds),
  OCRQ_WEBHOOK_ALLOW_LOOPBACK: z.enum(['true', 'false']).default('false'),
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
  /** Overrides the endpoint for S3 (the local stack's S3 front, which adds ListParts to fauxqs). */
  OCRQ_S3_ENDPOINT_URL: z.string().url().optional(),
  OCRQ_DYNAMODB_ENDPOINT_URL: z.string().url().optional(),
  /** Textract's region: set, Textract is on (`engine: textract|auto`); unset, it is off. */
  OCRQ_TEXTRACT_REGION: z.string().min(1).optional(),
  /** The completion channel of multi-page detections: topic, the role Textract publishes with, queue. */
  OCRQ_TEXTRACT_TOPIC_ARN: z.string().min(1).optional(),
  OCRQ_TEXTRACT_ROLE_ARN: z.string().min(1).optional(),
  OCRQ_TEXTRACT_QUEUE_URL: z.string().url().optional(),
  /** `auto`: pages with a lower mean line confidence (0..1) go to Textract. */
  OCRQ_AUTO_MIN_CONFIDENCE: z.coerce.number().min(0).max(1).default(DEFAULT_AUTO_THRESHOLDS.minConfidence),
  /** `auto`: a page with at least this share of dark pixels (0..1) … */
  OCRQ_AUTO_MIN_INK: z.coerce.number().min(0).max(1).default(DEFAULT_AUTO_THRESHOLDS.minInk),
  /** … and fewer recognised characters than this goes to Textract (ink but almost no text). */
  OCRQ_AUTO_MIN_TEXT: z.coerce.number().int().min(0).default(DEFAULT_AUTO_THRESHOLDS.minTextChars),
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
  /** The most a single presigned PUT may upload. */
  maxUploadBytes: number;
  /** Multipart uploads; {@link DEFAULT_MULTIPART} where absent. */
  multipart?: MultipartSettings;
  /** Webhook delivery; {@link DEFAULT_WEBHOOKS} (and no queue) where absent. */
  webhooks?: WebhookSettings;
  resultUrlTtlSeconds: number;
  jobTtlDays: number;
  limits: Limits;
  endpoints: { default?: string; dynamodb?: string; s3?: string };
  /** Milliseconds a backlog-draining function (sweep, redrive, reconciler) may spend; see the CDK stack. */
  timeBudgetMs?: number;
  /** Textract; absent: `engine: textract` is refused (ENGINE_UNAVAILABLE) and `auto` keeps PP-OCR's pages. */
  textract?: TextractSettings;
  /** The `auto` engine's thresholds; {@link DEFAULT_AUTO_THRESHOLDS} where absent. */
  auto?: AutoThresholds;
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
    multipart: {
      thresholdBytes: e.OCRQ_MULTIPART_THRESHOLD_BYTES,
      partBytes: e.OCRQ_MULTIPART_PART_BYTES,
      maxUploadBytes: e.OCRQ_MAX_MULTIPART_UPLOAD_BYTES,
    },
    webhooks: {
      ...(e.OCRQ_WEBHOOK_QUEUE_URL ? { queueUrl: e.OCRQ_WEBHOOK_QUEUE_URL } : {}),
      timeoutMs: e.OCRQ_WEBHOOK_TIMEOUT_MS,
      retryBaseSeconds: e.OCRQ_WEBHOOK_RETRY_BASE_SECONDS,
      retryMaxSeconds: e.OCRQ_WEBHOOK_RETRY_MAX_SECONDS,
      retrySpanSeconds: e.OCRQ_WEBHOOK_RETRY_SPAN_SECONDS,
      secretGraceSeconds: e.OCRQ_WEBHOOK_SECRET_GRACE_SECONDS,
      allowLoopback: e.OCRQ_WEBHOOK_ALLOW_LOOPBACK === 'true',
    },
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
      ...(e.OCRQ_S3_ENDPOINT_URL ? { s3: e.OCRQ_S3_ENDPOINT_URL } : {}),
    },
    ...(e.OCRQ_TEXTRACT_REGION
      ? {
          textract: {
            region: e.OCRQ_TEXTRACT_REGION,
            ...(e.OCRQ_TEXTRACT_TOPIC_ARN && e.OCRQ_TEXTRACT_ROLE_ARN && e.OCRQ_TEXTRACT_QUEUE_URL
              ? {
                  completion: {
                    topicArn: e.OCRQ_TEXTRACT_TOPIC_ARN,
                    roleArn: e.OCRQ_TEXTRACT_ROLE_ARN,
                    queueUrl: e.OCRQ_TEXTRACT_QUEUE_URL,
                  },
                }
              : {}),
          },
        }
      : {}),
    auto: {
      minConfidence: e.OCRQ_AUTO_MIN_CONFIDENCE,
      minInk: e.OCRQ_AUTO_MIN_INK,
      minTextChars: e.OCRQ_AUTO_MIN_TEXT,
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
  if (config.endpoints.s3) env.OCRQ_S3_ENDPOINT_URL = config.endpoints.s3;
  const multipart = multipartSettings(config);
  env.OCRQ_MULTIPART_THRESHOLD_BYTES = String(multipart.thresholdBytes);
  env.OCRQ_MULTIPART_PART_BYTES = String(multipart.partBytes);
  env.OCRQ_MAX_MULTIPART_UPLOAD_BYTES = String(multipart.maxUploadBytes);
  const webhooks = webhookSettings(config);
  if (webhooks.queueUrl) env.OCRQ_WEBHOOK_QUEUE_URL = webhooks.queueUrl;
  env.OCRQ_WEBHOOK_TIMEOUT_MS = String(webhooks.timeoutMs);
  env.OCRQ_WEBHOOK_RETRY_BASE_SECONDS = String(webhooks.retryBaseSeconds);
  env.OCRQ_WEBHOOK_RETRY_MAX_SECONDS = String(webhooks.retryMaxSeconds);
  env.OCRQ_WEBHOOK_RETRY_SPAN_SECONDS = String(webhooks.retrySpanSeconds);
  env.OCRQ_WEBHOOK_SECRET_GRACE_SECONDS = String(webhooks.secretGraceSeconds);
  env.OCRQ_WEBHOOK_ALLOW_LOOPBACK = String(webhooks.allowLoopback);
  if (config.textract) {
    env.OCRQ_TEXTRACT_REGION = config.textract.region;
    const { completion } = config.textract;
    if (completion) {
      env.OCRQ_TEXTRACT_TOPIC_ARN = completion.topicArn;
      env.OCRQ_TEXTRACT_ROLE_ARN = completion.roleArn;
      env.OCRQ_TEXTRACT_QUEUE_URL = completion.queueUrl;
    }
  }
  const auto = config.auto ?? DEFAULT_AUTO_THRESHOLDS;
  env.OCRQ_AUTO_MIN_CONFIDENCE = String(auto.minConfidence);
  env.OCRQ_AUTO_MIN_INK = String(auto.minInk);
  env.OCRQ_AUTO_MIN_TEXT = String(auto.minTextChars);
  return env;
}

/** The webhook settings of a Config, with the defaults for one built without them. */
export function webhookSettings(config: Pick<Config, 'webhooks'>): WebhookSettings {
  return config.webhooks ?? DEFAULT_WEBHOOKS;
}

/** The multipart settings of a Config, with the defaults for one built without them. */
export function multipartSettings(config: Pick<Config, 'multipart'>): MultipartSettings {
  return config.multipart ?? DEFAULT_MULTIPART;
}
