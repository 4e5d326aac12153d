import { Logger } from '@aws-lambda-powertools/logger';
import { ApiKeyStore } from './adapters/api-keys.ts';
import { BlobStore } from './adapters/blob-store.ts';
import { EventBus } from './adapters/event-bus.ts';
import { FailureQueue } from './adapters/failure-queue.ts';
import { JobQueries } from './adapters/job-queries.ts';
import { JobStore } from './adapters/job-store.ts';
import { StatsStore } from './adapters/stats-store.ts';
import { WorkQueue } from './adapters/work-queue.ts';
import { type AwsClients, createAwsClients } from './aws-clients.ts';
import type { Config } from './config.ts';
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
  /** Ingest's failed S3 events, where the configuration names the queue. */
  ingestFailures?: FailureQueue;
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
  const parts = {
    config,
    jobs: new JobStore(clients.dynamo, config.tableName),
    jobQueries: new JobQueries(clients.dynamo, config.tableName),
    blobs: new BlobStore(clients.s3, config.bucketName),
    queue: new WorkQueue(clients.sqs, config.queues, config.deadLetterQueues),
    stats: new StatsStore(clients.dynamo, config.tableName),
    ...(config.ingestFailuresQueue
      ? { ingestFailures: new FailureQueue(clients.sqs, config.ingestFailuresQueue) }
      : {}),
    events: new EventBus(clients.sns, config.eventsTopicArn),
    apiKeys: new ApiKeyStore(clients.dynamo, config.tableName),
    logger: options.logger ?? new Logger({ serviceName: options.serviceName ?? 'ocr-pipeline' }),
  };
  const onOutcome = options.metrics ? outcomeMetrics(options.metrics) : undefined;
  return { ...parts, lifecycle: new JobLifecycle({ ...parts, ...(onOutcome ? { onOutcome } : {}) }) };
}
