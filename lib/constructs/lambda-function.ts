import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IGrantable, IPrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type FunctionOptions, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  configToEnv,
  DEFAULT_LIMITS,
  DEFAULT_MULTIPART,
  DEFAULT_WEBHOOKS,
  type Limits,
  type MultipartSettings,
  type TextractSettings,
  type WebhookSettings,
} from '../../lambdas/shared/config.ts';
import type { WorkQueues } from './work-queues.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * ESM bundles that inline CommonJS dependencies still call `require` for Node built-ins;
 * an ES module has no `require`, so the bundle defines one first.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __ocrqCreateRequire } from 'node:module'; const require = __ocrqCreateRequire(import.meta.url);";

/** The queues a function's environment names; the DLQs are optional, as in `loadConfig`. */
export interface PipelineQueues {
  readonly express: IQueue;
  readonly bulk: IQueue;
  readonly expressDlq?: IQueue;
  readonly bulkDlq?: IQueue;
}

/** What a function's environment points at (see `lambdas/shared/config.ts`). */
export interface PipelineEnvironmentSources {
  readonly table: ITable;
  readonly bucket: IBucket;
  readonly queues: PipelineQueues;
  readonly eventsTopic: ITopic;
}

/** The resources the pipeline's functions are configured with and granted access to. */
export interface PipelineResources extends PipelineEnvironmentSources {
  readonly queues: WorkQueues;
}

/** Limits the functions read from their environment; defaults match `loadConfig`. */
export interface PipelineSettings {
  /** @default 50 MiB */
  readonly maxUploadBytes?: number;
  /** Threshold, part size and maximum of presigned multipart uploads. @default DEFAULT_MULTIPART */
  readonly multipart?: Partial<MultipartSettings>;
  /** Webhook delivery: timeout, retry span and backoff, secret grace. @default DEFAULT_WEBHOOKS */
  readonly webhooks?: Partial<Omit<WebhookSettings, 'queueUrl' | 'allowLoopback'>>;
  /** Textract's region and completion channel; absent: Textract is off. @default none */
  readonly textract?: TextractSettings;
  /** Lifetime of presigned result URLs. @default 3600 */
  readonly resultUrlTtlSeconds?: number;
  /** Days a finished job stays in the table. @default 7 */
  readonly jobTtlDays?: number;
  /** Page, size, tenant and backlog limits. @default DEFAULT_LIMITS */
  readonly limits?: Partial<Limits>;
  /** Browser origins the API answers with CORS headers. @default none */
  readonly allowedOrigins?: readonly string[];
  /** How long the functions' logs are kept (the deployment's `logRetentionDays`). @default one month */
  readonly logRetention?: RetentionDays;
}

/**
 * The `OCRQ_*` environment that `loadConfig` reads back, built with `configToEnv` so the
 * names cannot drift. `loadConfig` validates every variable at start, so each function gets
 * all of them, whether or not it uses them. `AWS_REGION` is left out: Lambda sets it and
 * refuses functions that try to.
 */
export function pipelineEnvironment(
  resources: PipelineEnvironmentSources,
  settings: PipelineSettings = {},
): Record<string, string> {
  const { AWS_REGION: _setByLambda, ...env } = configToEnv({
    region: Aws.REGION,
    tableName: resources.table.tableName,
    bucketName: resources.bucket.bucketName,
    queues: { express: resources.queues.express.queueUrl, bulk: resources.queues.bulk.queueUrl },
    deadLetterQueues: {
      express: resources.queues.expressDlq?.queueUrl,
      bulk: resources.queues.bulkDlq?.queueUrl,
    },
    eventsTopicArn: resources.eventsTopic.topicArn,
    allowedOrigins: [...(settings.allowedOrigins ?? [])],
    maxUploadBytes: settings.maxUploadBytes ?? 50 * 1024 * 1024,
    multipart: { ...DEFAULT_MULTIPART, ...settings.multipart },
    // Never loopback in AWS; the dispatcher adds its queue's URL to its own environment.
    webhooks: { ...DEFAULT_WEBHOOKS, ...settings.webhooks, allowLoopback: false },
    resultUrlTtlSeconds: settings.resultUrlTtlSeconds ?? 3600,
    jobTtlDays: settings.jobTtlDays ?? 7,
    limits: { ...DEFAULT_LIMITS, ...settings.limits },
    endpoints: {},
    ...(settings.textract ? { textract: settings.textract } : {}),
  });
  return env;
}

/**
 * `OCRQ_TIME_BUDGET_MS` for a function that works through a backlog in steps (the DLQ sweep,
 * redrive): its timeout less a margin (10 %, at least 5 s) for the step in flight and the
 * answer, so it stops by itself and leaves the rest to its next run.
 */
export function timeBudgetEnvironment(timeout: Duration): Record<string, string> {
  const timeoutMs = timeout.toMilliseconds();
  return { OCRQ_TIME_BUDGET_MS: String(timeoutMs - Math.max(5000, Math.round(timeoutMs / 10))) };
}

export interface PipelineFunctionProps
  extends Pick<
    FunctionOptions,
    | 'description'
    | 'memorySize'
    | 'timeout'
    | 'retryAttempts'
    | 'maxEventAge'
    | 'onFailure'
    | 'reservedConcurrentExecutions'
  > {
  /** The handler's folder under `lambdas/`; its `index.ts` exports `handler`. */
  readonly handler: string;
  /** Variables besides the Powertools and Node defaults, usually {@link pipelineEnvironment}. */
  readonly environment: Record<string, string>;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.DESTROY */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Files (paths relative to the repository root) copied beside the bundle: assets esbuild does
   * not follow, such as PDFium's WebAssembly binary, which the loader looks for next to index.mjs.
   */
  readonly bundleFiles?: readonly string[];
}

/**
 * One Lambda function of the pipeline with the defaults they all share: `lambdas/<handler>/index.ts`
 * bundled by the local esbuild as minified ESM with source maps (AWS SDK included, so the
 * deployed code runs the versions in package-lock.json), Node.js 22 on ARM, X-Ray tracing,
 * and a log group of its own with a retention period.
 *
 * @example
 * const fn = new PipelineFunction(this, 'GetJob', { handler: 'get-job', environment });
 * table.grantReadData(fn);
 */
export class PipelineFunction extends Construct implements IGrantable {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly grantPrincipal: IPrincipal;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    this.function = new NodejsFunction(this, 'Function', {
      entry: join(REPO_ROOT, 'lambdas', props.handler, 'index.ts'),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      description: props.description,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
      onFailure: props.onFailure,
      tracing: Tracing.ACTIVE,
      logGroup: this.logGroup,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.handler,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        bundleAwsSDK: true,
        ...(props.bundleFiles?.length
          ? {
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (inputDir: string, outputDir: string) =>
                  (props.bundleFiles ?? []).map((file) => `cp "${inputDir}/${file}" "${outputDir}/"`),
              },
            }
          : {}),
      },
    });
    this.grantPrincipal = this.function.grantPrincipal;
  }
}
