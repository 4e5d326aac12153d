import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_AUTO_THRESHOLDS,
  DEFAULT_LIMITS,
  DEFAULT_MULTIPART,
  DEFAULT_WEBHOOKS,
  loadConfig,
} from '../../lambdas/shared/config.ts';
import { PipelineFunction, pipelineEnvironment } from '../../lib/constructs/lambda-function.ts';
import { testStack } from './support.ts';

describe('pipelineEnvironment', () => {
  const stack = testStack();
  const queueUrl = (name: string) => `https://sqs.us-east-1.amazonaws.com/123456789012/${name}`;
  const queue = (name: string) =>
    Queue.fromQueueAttributes(stack, name, {
      queueArn: `arn:aws:sqs:us-east-1:123456789012:${name}`,
      queueUrl: queueUrl(name),
    });
  const resources = {
    table: Table.fromTableName(stack, 'Table', 'jobs'),
    bucket: Bucket.fromBucketName(stack, 'Bucket', 'documents'),
    queues: {
      express: queue('express'),
      bulk: queue('bulk'),
      expressDlq: queue('express-dlq'),
      bulkDlq: queue('bulk-dlq'),
    },
    eventsTopic: Topic.fromTopicArn(stack, 'Topic', 'arn:aws:sns:us-east-1:123456789012:events'),
  };

  it('is what loadConfig reads, minus AWS_REGION, which Lambda sets itself', () => {
    const env = pipelineEnvironment(resources, {
      maxUploadBytes: 1000,
      resultUrlTtlSeconds: 60,
      jobTtlDays: 2,
      limits: { maxPages: 50 },
      allowedOrigins: ['https://app.example.com'],
    });
    expect(env).not.toHaveProperty('AWS_REGION');
    expect(loadConfig({ ...env, AWS_REGION: 'eu-west-1' })).toEqual({
      region: 'eu-west-1',
      tableName: 'jobs',
      bucketName: 'documents',
      queues: { express: queueUrl('express'), bulk: queueUrl('bulk') },
      deadLetterQueues: { express: queueUrl('express-dlq'), bulk: queueUrl('bulk-dlq') },
      eventsTopicArn: 'arn:aws:sns:us-east-1:123456789012:events',
      allowedOrigins: ['https://app.example.com'],
      maxUploadBytes: 1000,
      resultUrlTtlSeconds: 60,
      jobTtlDays: 2,
      limits: { ...DEFAULT_LIMITS, maxPages: 50 },
      multipart: DEFAULT_MULTIPART,
      // No queue URL: only the dispatcher's own environment names it.
      webhooks: DEFAULT_WEBHOOKS,
      endpoints: {},
      auto: DEFAULT_AUTO_THRESHOLDS,
    });
  });

  it('uses the same defaults as loadConfig', () => {
    const env = pipelineEnvironment(resources);
    const required = [
      'OCRQ_TABLE_NAME',
      'OCRQ_BUCKET_NAME',
      'OCRQ_EXPRESS_QUEUE_URL',
      'OCRQ_EVENTS_TOPIC_ARN',
    ];
    const minimal = Object.fromEntries(Object.entries(env).filter(([name]) => required.includes(name)));
    const { queues: _q, deadLetterQueues: _d, ...withDefaults } = loadConfig(minimal);
    const { queues: _q2, deadLetterQueues: _d2, ...configured } = loadConfig(env);
    expect(configured).toEqual(withDefaults);
  });
});

describe('PipelineFunction', () => {
  let template: Template;

  beforeAll(() => {
    const stack = testStack();
    new PipelineFunction(stack, 'GetJob', { handler: 'get-job', environment: { EXTRA: 'yes' } });
    new PipelineFunction(stack, 'Ingest', {
      handler: 'ingest',
      environment: {},
      memorySize: 1024,
      timeout: Duration.seconds(30),
      logRetention: RetentionDays.ONE_WEEK,
    });
    template = Template.fromStack(stack);
  });

  it('runs Node.js 22 on ARM with tracing and the shared defaults', () => {
    template.resourceCountIs('AWS::Lambda::Function', 2);
    template.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 512,
      Timeout: 10,
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: 'get-job',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: '--enable-source-maps',
          EXTRA: 'yes',
        },
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 1024,
      Timeout: 30,
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'ingest' }) },
    });
  });

  it('logs to a log group of its own with a retention period', () => {
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'get-job' }) },
      LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('^GetJobLogs') } },
    });
  });

  it('refuses a handler folder that does not exist', () => {
    expect(
      () => new PipelineFunction(testStack(), 'Nope', { handler: 'no-such-handler', environment: {} }),
    ).toThrow(/no-such-handler/);
  });
});
