import { CreateTableCommand, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import {
  type Config,
  DEFAULT_MULTIPART,
  DEFAULT_WEBHOOKS,
  type MultipartSettings,
} from '../lambdas/shared/config.ts';
import {
  QUEUE_SETTINGS,
  RESOURCE_NAMES,
  TABLE,
  TABLE_INDEXES,
  WEBHOOK_QUEUE_SETTINGS,
} from '../lambdas/shared/resources.ts';
import type { Emulators } from './emulators.ts';

const DAY = 86_400;

/**
 * Multipart uploads in the local stack: fauxqs answers its own 413 to any request body above
 * 11 MiB, so documents above 10 MiB upload in parts of 8 MiB (at most 11 MiB each, locally).
 */
export const LOCAL_MULTIPART: MultipartSettings = {
  ...DEFAULT_MULTIPART,
  thresholdBytes: 10 * 1024 * 1024,
  partBytes: 8 * 1024 * 1024,
};

/**
 * Creates in the emulators what the CDK stack creates in AWS, from the same names and
 * settings (lambdas/shared/resources.ts), and returns the configuration that points at them.
 */
export async function provisionLocalResources(
  emulators: Emulators,
  settings: Pick<
    Config,
    'region' | 'maxUploadBytes' | 'resultUrlTtlSeconds' | 'jobTtlDays' | 'limits' | 'multipart' | 'webhooks'
  >,
): Promise<Config> {
  const { aws } = emulators;
  const queueAttributes = (dlqArn: string) => ({
    VisibilityTimeout: String(QUEUE_SETTINGS.visibilityTimeoutSeconds),
    ReceiveMessageWaitTimeSeconds: String(QUEUE_SETTINGS.receiveWaitTimeSeconds),
    MessageRetentionPeriod: String(QUEUE_SETTINGS.retentionDays * DAY),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: QUEUE_SETTINGS.maxReceiveCount,
    }),
  });
  const dlqAttributes = { MessageRetentionPeriod: String(QUEUE_SETTINGS.dlqRetentionDays * DAY) };
  const expressDlq = aws.createQueue(RESOURCE_NAMES.expressDlq, { attributes: dlqAttributes });
  const bulkDlq = aws.createQueue(RESOURCE_NAMES.bulkDlq, { attributes: dlqAttributes });
  const express = aws.createQueue(RESOURCE_NAMES.expressQueue, {
    attributes: queueAttributes(expressDlq.queueArn),
  });
  const bulk = aws.createQueue(RESOURCE_NAMES.bulkQueue, { attributes: queueAttributes(bulkDlq.queueArn) });
  const ingestFailures = aws.createQueue(RESOURCE_NAMES.ingestFailures, { attributes: dlqAttributes });
  const { topicArn } = aws.createTopic(RESOURCE_NAMES.eventsTopic);
  const webhookDlq = aws.createQueue(RESOURCE_NAMES.webhookDlq, { attributes: dlqAttributes });
  const webhookQueue = aws.createQueue(RESOURCE_NAMES.webhookQueue, {
    attributes: {
      VisibilityTimeout: String(WEBHOOK_QUEUE_SETTINGS.visibilityTimeoutSeconds),
      MessageRetentionPeriod: String(WEBHOOK_QUEUE_SETTINGS.retentionDays * DAY),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: webhookDlq.queueArn,
        maxReceiveCount: WEBHOOK_QUEUE_SETTINGS.maxReceiveCount,
      }),
    },
  });
  aws.subscribe({
    topic: RESOURCE_NAMES.eventsTopic,
    queue: RESOURCE_NAMES.webhookQueue,
    attributes: {
      RawMessageDelivery: 'true',
      FilterPolicy: JSON.stringify(WEBHOOK_QUEUE_SETTINGS.filterPolicy),
    },
  });
  aws.createBucket(RESOURCE_NAMES.bucket);

  const dynamo = new DynamoDBClient({
    region: settings.region,
    endpoint: emulators.dynamoEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await dynamo.send(
      new CreateTableCommand({
        TableName: RESOURCE_NAMES.table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          TABLE.partitionKey,
          TABLE.sortKey,
          ...TABLE_INDEXES.flatMap((i) => [i.partitionKey, i.sortKey]),
        ].map((name) => ({ AttributeName: name, AttributeType: 'S' as const })),
        KeySchema: [
          { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
          { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: TABLE_INDEXES.map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' as const },
            { AttributeName: index.sortKey, KeyType: 'RANGE' as const },
          ],
          Projection: { ProjectionType: 'ALL' as const },
        })),
      }),
    );
  } catch (error) {
    // A table kept on disk from an earlier run is reused as it is.
    if (!(error instanceof ResourceInUseException)) throw error;
  } finally {
    dynamo.destroy();
  }
  // dynalite has no UpdateTimeToLive: expiry of local jobs is not emulated.

  return {
    ...settings,
    multipart: settings.multipart ?? LOCAL_MULTIPART,
    tableName: RESOURCE_NAMES.table,
    bucketName: RESOURCE_NAMES.bucket,
    queues: { express: express.queueUrl, bulk: bulk.queueUrl },
    deadLetterQueues: { express: expressDlq.queueUrl, bulk: bulkDlq.queueUrl },
    eventsTopicArn: topicArn,
    // A developer's browser app on any local port may call the local API.
    allowedOrigins: ['*'],
    ingestFailuresQueue: ingestFailures.queueUrl,
    // A developer may receive webhooks on localhost, over plain http; nothing else opens up.
    webhooks: {
      ...DEFAULT_WEBHOOKS,
      ...settings.webhooks,
      queueUrl: webhookQueue.queueUrl,
      allowLoopback: true,
    },
    endpoints: {
      default: emulators.awsEndpoint,
      dynamodb: emulators.dynamoEndpoint,
      s3: emulators.s3Endpoint,
    },
  };
}
