import { Logger } from '@aws-lambda-powertools/logger';
import { ApiKeyStore } from './adapters/api-keys.ts';
import { BlobStore } from './adapters/blob-store.ts';
import { EventBus } from './adapters/event-bus.ts';
import { JobQueries } from './adapters/job-queries.ts';
import { JobStore } from './adapters/job-store.ts';
import { MessageQueue } from './adapters/message-queue.ts';
import { StatsStore } from './adapters/stats-store.ts';
import { Textract, TextractCompletions } from './adapters/textract.ts';
import { WebhookSecretStore } from './adapters/webhook-secrets.ts';
import { WorkQueue } from './adapters/work-queue.ts';
import { type AwsClients, createAwsClients } from './aws-clients.ts';
import { type Config, webhookSettings } from './config.ts';
import { JobLifecycle } from './lifecycle.ts';
import { type MetricsSink, outcomeMetrics } from './metrics.ts';

/** Everything a handler or the worker needs, built once per process from configuration. */
export interface Runtime {
  config: Config;
  jobs: JobStore;
  /** Reads across jobs: listings, a tenant's share, queue position, the reconciler's scans. */
  jobQueries: JobQueries;
  blobs: BlobStore;
  queue: WorkQueue;
  events: EventBus;
  apiKeys: ApiKeyStore;
  stats: StatsStore;
  /** Textract and the queue of its completions, where the configuration enables it. */
  textract?: Textract;
  textractCompletions?: TextractCompletions;
  /** Ingest's failed S3 events, where the configuration names the queue. */
  ingestFailures?: MessageQueue;
  /** The webhook dispatcher's queue (its retries go back onto it), where one is configured. */
  webhookQueue?: MessageQueue;
  /** Tenants' webhook signing secrets. */
  webhookSecrets: WebhookSecretStore;
  /** The shared rules of a job's life (end a job, put it on a queue): see lifecycle.ts. */
  lifecycle: JobLifecycle;
  logger: Logger;
}

export function createRuntime(
  config: Config,
  options: {
    clients?: AwsClients;
    logger?: Logger;
    serviceName?: string;
    /** Where job outcomes are counted (EMF lines, the local stack's Prometheus registry). */
    metrics?: MetricsSink;
  } = {},
): Runtime {
  const clients = options.clients ?? createAwsClients(config);
  const webhookQueueUrl = webhookSettings(config).queueUrl;
  const parts = {
    config,
    jobs: new JobStore(clients.dynamo, config.tableName),
    jobQueries: new JobQueries(clients.dynamo, config.tableName),
    blobs: new BlobStore(clients.s3, config.bucketName),
    queue: new WorkQueue(clients.sqs, config.queues, config.deadLetterQueues),
    stats: new StatsStore(clients.dynamo, config.tableName),
    ...textractParts(config, clients),
    ...(config.ingestFailuresQueue
      ? { ingestFailures: new MessageQueue(clients.sqs, config.ingestFailuresQueue) }
      : {}),
    ...(webhookQueueUrl ? { webhookQueue: new MessageQueue(clients.sqs, webhookQueueUrl) } : {}),
    webhookSecrets: new WebhookSecretStore(clients.dynamo, config.tableName),
    events: new EventBus(clients.sns, config.eventsTopicArn),
    apiKeys: new ApiKeyStore(clients.dynamo, config.tableName),
    logger: options.logger ?? new Logger({ serviceName: options.serviceName ?? 'ocr-pipeline' }),
  };
  const onOutcome = options.metrics ? outcomeMetrics(options.metrics) : undefined;
  return { ...parts, lifecycle: new JobLifecycle({ ...parts, ...(onOutcome ? { onOutcome } : {}) }) };
}

function textractParts(config: Config, clients: AwsClients) {
  const settings = config.textract;
  if (!settings || !clients.textract) return {};
  const { completion } = settings;
  return {
    textract: new Textract(clients.textract, {
      bucket: config.bucketName,
      ...(completion ? { notification: { topicArn: completion.topicArn, roleArn: completion.roleArn } } : {}),
    }),
    ...(completion ? { textractCompletions: new TextractCompletions(clients.sqs, completion.queueUrl) } : {}),
  };
}
