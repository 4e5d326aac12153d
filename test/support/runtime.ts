import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import {
  type Config,
  DEFAULT_AUTO_THRESHOLDS,
  DEFAULT_LIMITS,
  DEFAULT_MULTIPART,
  DEFAULT_WEBHOOKS,
} from '../../lambdas/shared/config.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { createRuntime } from '../../lambdas/shared/runtime.ts';

export const TEST_CONFIG: Config = {
  region: 'us-east-1',
  tableName: 'jobs',
  bucketName: 'docs',
  queues: {
    express: 'https://sqs.us-east-1.amazonaws.com/123456789012/express',
    bulk: 'https://sqs.us-east-1.amazonaws.com/123456789012/bulk',
  },
  eventsTopicArn: 'arn:aws:sns:us-east-1:123456789012:events',
  allowedOrigins: [],
  maxUploadBytes: 1_000_000,
  multipart: DEFAULT_MULTIPART,
  webhooks: DEFAULT_WEBHOOKS,
  resultUrlTtlSeconds: 600,
  jobTtlDays: 7,
  deadLetterQueues: {
    express: 'https://sqs.us-east-1.amazonaws.com/123456789012/express-dlq',
    bulk: 'https://sqs.us-east-1.amazonaws.com/123456789012/bulk-dlq',
  },
  limits: DEFAULT_LIMITS,
  auto: DEFAULT_AUTO_THRESHOLDS,
  endpoints: {},
};

/** A runtime over real SDK clients whose `send` is mocked by aws-sdk-client-mock. */
export function mockedRuntime(config: Config = TEST_CONFIG) {
  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({ region: config.region, credentials }));
  const clients = {
    dynamo,
    s3: new S3Client({ region: config.region, credentials }),
    sqs: new SQSClient({ region: config.region, credentials }),
    sns: new SNSClient({ region: config.region, credentials }),
  };
  const mocks = {
    dynamo: mockClient(dynamo),
    s3: mockClient(clients.s3),
    sqs: mockClient(clients.sqs),
    sns: mockClient(clients.sns),
  };
  // Defaults for the capacity checks every create makes: no active jobs, empty queues.
  mocks.dynamo.on(QueryCommand).resolves({ Count: 0, Items: [] });
  mocks.sqs.on(GetQueueAttributesCommand).resolves({ Attributes: {} });
  // No job unless a test stores one; empty dead-letter queues.
  mocks.dynamo.on(GetCommand).resolves({});
  mocks.sqs.on(ReceiveMessageCommand).resolves({});
  const runtime = createRuntime(config, { clients, logger: new Logger({ logLevel: 'SILENT' }) });
  return { runtime, mocks };
}

/** The work message of `makeJob()`'s job: its one page, as ingest would send it. */
export const WORK = {
  v: 1,
  tenantId: 'tenant-a',
  jobId: 'job-1',
  inputKey: 'inputs/tenant-a/job-1/source',
  contentType: 'image/png',
  chunk: { index: 0, firstPage: 1, pageCount: 1 },
  enqueuedAt: '2026-01-01T00:00:00Z',
};

export function makeJob(overrides: Partial<Job> = {}): Job {
  return {
    tenantId: 'tenant-a',
    jobId: 'job-1',
    status: 'AWAITING_UPLOAD',
    fileName: 'scan.png',
    contentType: 'image/png',
    sizeBytes: 1234,
    priority: 'express',
    inputKey: 'inputs/tenant-a/job-1/source',
    pages: { done: 0, total: 0 },
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** The job as the table holds it (keys included). */
export function jobItem(job: Job): Record<string, unknown> {
  return {
    pk: `JOB#${job.jobId}`,
    sk: 'JOB',
    gsi1pk: `TENANT#${job.tenantId}`,
    gsi1sk: `${job.createdAt}#${job.jobId}`,
    ...job,
  };
}

export function apiEvent(overrides: Partial<APIGatewayProxyEvent> = {}): APIGatewayProxyEvent {
  return {
    resource: '/v1/jobs',
    path: '/v1/jobs',
    httpMethod: 'POST',
    headers: { host: 'api.example.com', 'x-api-key': 'key-a' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: {
      stage: 'prod',
      path: '/prod/v1/jobs',
    } as APIGatewayProxyEvent['requestContext'],
    ...overrides,
  };
}

export const lambdaContext = {} as Context;
