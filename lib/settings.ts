/**
 * The deployment settings users change, read from CDK context (`-c key=value` or `cdk.json`'s
 * `context`) and validated in one place, so a bad value stops `cdk synth` with the key's name
 * instead of deploying something odd. The benchmark (`bench/scaling.ts`) imports
 * {@link SETTINGS_DEFAULTS} and {@link scaleOutBacklogPerTask} to know what a default deploy does.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import {
  DEFAULT_LIMITS,
  DEFAULT_MULTIPART,
  DEFAULT_WEBHOOKS,
  S3_MIN_PART_BYTES,
} from '../lambdas/shared/config.ts';

/** The providers `gpu-worker/src/ocr/options.ts` knows; repeated here so lib/ stays off the engine. */
const EXECUTION_PROVIDERS = ['tensorrt', 'cuda', 'cpu'] as const;

/** `-c key=a,b` arrives as one string, `cdk.json` may hold an array: both become a list. */
const commaList = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (value) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((part) => part.trim())
            .filter(Boolean)
        : value,
    z.array(item),
  );

/** Context values given on the command line are strings; numbers in `cdk.json` are numbers. */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
/** A browser origin (scheme, host, optional port) or `*`, which must be asked for explicitly. */
const ORIGIN = /^(\*|https?:\/\/[a-z0-9.-]+(:\d{1,5})?)$/i;
/** The retention periods CloudWatch Logs accepts; never-expiring logs are left out on purpose. */
const RETENTION_DAYS = Object.values(RetentionDays).filter(
  (days): days is number => typeof days === 'number' && days !== RetentionDays.INFINITE,
);

const SettingsSchema = z.object({
  /**
   * GPU instance types the Auto Scaling group may launch, all of one size: one task per
   * instance (`gpuCount: 1` on a one-GPU type), so the task's memory and CPU fit every type.
   */
  instanceTypes: commaList(z.string().regex(INSTANCE_TYPE, 'an instance type such as g6.xlarge'))
    .refine((types) => types.length > 0, { message: 'at least one instance type' })
    .refine((types) => new Set(types.map((type) => type.split('.')[1])).size === 1, {
      message: 'instance types must share one size (e.g. all .xlarge)',
    })
    .default(['g6.xlarge', 'g5.xlarge', 'g4dn.xlarge']),
  /** Percent of instances bought on demand; the rest are spot. */
  onDemandPercent: int(0, 100).default(0),
  /**
   * Most worker tasks (and GPU instances) at once. 12 is what `npm run bench:scaling` showed best
   * for 1M pages a day at the default latency (bench/README.md): fewer cannot clear the day's
   * peak, more buys little against the spikes at a higher cost.
   */
  maxTasks: int(1, 1000).default(12),
  /** How long a message may wait behind the backlog before another task is started. */
  acceptableLatencySeconds: int(30, 86_400).default(300),
  /** One task's throughput, as seconds per page (replace with the figure measured on your type). */
  secondsPerPage: z.coerce.number().positive().max(600).default(0.25),
  /** Minutes with no visible and no in-flight message before the service scales to zero. */
  idleMinutes: int(1, 1440).default(10),
  /** onnxruntime execution providers of the worker, in order. */
  executionProviders: commaList(z.enum(EXECUTION_PROVIDERS))
    .refine((providers) => providers.length > 0, { message: 'at least one provider' })
    .transform((providers) => providers.join(','))
    .default('tensorrt,cuda,cpu'),
  /** Browser origins allowed by CORS on the bucket (presigned uploads) and the API. */
  allowedOrigins: commaList(z.string().regex(ORIGIN, 'an origin such as https://app.example.com')).default(
    [],
  ),
  /** Days the worker's and the VPC's logs are kept. */
  logRetentionDays: z.coerce
    .number()
    .refine((days) => RETENTION_DAYS.includes(days), {
      message: `one of CloudWatch Logs' retention periods (${RETENTION_DAYS.join(', ')})`,
    })
    .transform((days) => days as RetentionDays)
    .default(RetentionDays.ONE_MONTH),
  /** Pages per work message: a long document is shared by several tasks a chunk at a time. */
  chunkPages: int(1, 100).default(DEFAULT_LIMITS.chunkPages),
  /**
   * How the private subnets reach AWS APIs: `nat` (one NAT gateway, about $33 a month at idle) or
   * `endpoints` (interface endpoints for SQS, SNS, ECR, logs and ECS in both AZs, about $130 a
   * month at idle, no route to the internet). S3 and DynamoDB use free gateway endpoints either way.
   */
  egress: z.enum(['nat', 'endpoints']).default('nat'),
  /** Documents above this many bytes upload as presigned multipart (the single-PUT maximum by default). */
  multipartThresholdBytes: int(1, Number.MAX_SAFE_INTEGER).default(DEFAULT_MULTIPART.thresholdBytes),
  /** Bytes per part (S3's smallest is 5 MiB, its largest 5 GiB); grown where an upload would pass 10,000 parts. */
  multipartPartBytes: int(S3_MIN_PART_BYTES, 5 * 1024 ** 3).default(DEFAULT_MULTIPART.partBytes),
  /** The largest document a multipart upload may bring (S3's limit is 5 TiB; PDFs have a lower one, see the README). */
  maxMultipartUploadBytes: int(1, 5 * 1024 ** 4).default(DEFAULT_MULTIPART.maxUploadBytes),
  /** How long one webhook POST may take before it counts as failed (the dispatcher's timeout follows). */
  webhookTimeoutSeconds: int(1, 15).default(DEFAULT_WEBHOOKS.timeoutMs / 1000),
  /** How long after its first attempt a webhook delivery is retried before it is given up. */
  webhookRetryHours: int(1, 96).default(DEFAULT_WEBHOOKS.retrySpanSeconds / 3600),
  /** How long a rotated-out webhook secret still signs deliveries. */
  webhookSecretGraceHours: int(0, 720).default(DEFAULT_WEBHOOKS.secretGraceSeconds / 3600),
  /**
   * Amazon Textract as a second engine (`engine: textract|auto`). `false` (e.g. in a region
   * without Textract) leaves out its topic, queue and grants: `textract` jobs are refused with
   * ENGINE_UNAVAILABLE and `auto` keeps PP-OCR's pages.
   */
  textract: z
    .union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')])
    .default(true),
});

export type Settings = z.output<typeof SettingsSchema>;
export type SettingsInput = z.input<typeof SettingsSchema>;
export const SETTING_KEYS = Object.keys(SettingsSchema.shape) as (keyof Settings)[];

/**
 * Validated settings; absent keys take their defaults. Context keys outside the schema (CDK's own
 * feature flags) are ignored.
 */
export function parseSettings(input: Record<string, unknown> = {}): Settings {
  const given = Object.fromEntries(
    SETTING_KEYS.filter((key) => input[key] !== undefined && input[key] !== null && input[key] !== '').map(
      (key) => [key, input[key]],
    ),
  );
  const parsed = SettingsSchema.safeParse(given);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`invalid deployment settings (CDK context): ${problems.join('; ')}`);
  }
  return parsed.data;
}

export const SETTINGS_DEFAULTS: Settings = parseSettings();

/**
 * The scale-out threshold: visible messages per task above which a message would wait longer
 * than the acceptable latency. A task works through `1 / secondsPerPage` pages a second and a
 * message carries at most `chunkPages` pages, so B messages ahead of a new one take at most
 * `B × chunkPages × secondsPerPage` seconds; B ≤ latency ÷ (chunkPages × secondsPerPage).
 * Messages of short documents carry fewer pages, so the estimate errs toward scaling out early.
 * Defaults: 300 s ÷ (8 × 0.25 s) = 150 messages per task.
 */
export function scaleOutBacklogPerTask(
  settings: Pick<Settings, 'acceptableLatencySeconds' | 'chunkPages' | 'secondsPerPage'>,
): number {
  const messages = settings.acceptableLatencySeconds / (settings.chunkPages * settings.secondsPerPage);
  return Math.max(1, Math.floor(messages));
}
