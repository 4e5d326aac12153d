import { z } from 'zod';
import { ConfigError } from './errors.ts';

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
  OCRQ_EVENTS_TOPIC_ARN: z.string().min(1),
  OCRQ_MAX_UPLOAD_BYTES: intFromEnv(50 * 1024 * 1024),
  OCRQ_RESULT_URL_TTL_SECONDS: intFromEnv(3600),
  OCRQ_JOB_TTL_DAYS: intFromEnv(7),
  OCRQ_ENDPOINT_URL: z.string().url().optional(),
  OCRQ_DYNAMODB_ENDPOINT_URL: z.string().url().optional(),
});

export interface Config {
  region: string;
  tableName: string;
  bucketName: string;
  queues: { express: string; bulk: string };
  eventsTopicArn: string;
  maxUploadBytes: number;
  resultUrlTtlSeconds: number;
  jobTtlDays: number;
  endpoints: { default?: string; dynamodb?: string };
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
    eventsTopicArn: e.OCRQ_EVENTS_TOPIC_ARN,
    maxUploadBytes: e.OCRQ_MAX_UPLOAD_BYTES,
    resultUrlTtlSeconds: e.OCRQ_RESULT_URL_TTL_SECONDS,
    jobTtlDays: e.OCRQ_JOB_TTL_DAYS,
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
    OCRQ_MAX_UPLOAD_BYTES: String(config.maxUploadBytes),
    OCRQ_RESULT_URL_TTL_SECONDS: String(config.resultUrlTtlSeconds),
    OCRQ_JOB_TTL_DAYS: String(config.jobTtlDays),
  };
  if (config.endpoints.default) env.OCRQ_ENDPOINT_URL = config.endpoints.default;
  if (config.endpoints.dynamodb) env.OCRQ_DYNAMODB_ENDPOINT_URL = config.endpoints.dynamodb;
  return env;
}
