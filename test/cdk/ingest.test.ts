import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { Ingest } from '../../lib/constructs/ingest.ts';
import { allowStatements, pipelineResources, testStack, wildcardWrites } from './support.ts';

describe('Ingest', () => {
  let template: Template;

  beforeAll(() => {
    const stack = testStack();
    new Ingest(stack, 'Ingest', { resources: pipelineResources(stack) });
    template = Template.fromStack(stack);
  });

  const ingestFunction = () => {
    const found = Object.entries(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'ingest' } } },
      }),
    );
    expect(found).toHaveLength(1);
    return found[0]!;
  };

  it('runs lambdas/ingest on Node.js 22 with the pipeline environment', () => {
    const [, fn] = ingestFunction();
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 60,
      MemorySize: 3008,
      TracingConfig: { Mode: 'Active' },
    });
    const variables = fn.Properties.Environment.Variables;
    expect(variables).toMatchObject({
      OCRQ_TABLE_NAME: { Ref: expect.stringMatching(/^JobsTable/) },
      OCRQ_BUCKET_NAME: { Ref: expect.stringMatching(/^StorageBucket/) },
      OCRQ_EXPRESS_QUEUE_URL: { Ref: expect.stringMatching(/^QueuesExpress[0-9A-F]{8}$/) },
      OCRQ_BULK_QUEUE_URL: { Ref: expect.stringMatching(/^QueuesBulk[0-9A-F]{8}$/) },
      OCRQ_EVENTS_TOPIC_ARN: { Ref: expect.stringMatching(/^NotificationsEvents/) },
      OCRQ_MAX_UPLOAD_BYTES: expect.any(String),
    });
    expect(variables).not.toHaveProperty('AWS_REGION');
  });

  it('is invoked for objects created under inputs/ only', () => {
    const [functionId] = ingestFunction();
    template.resourceCountIs('Custom::S3BucketNotifications', 1);
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: Match.stringLikeRegexp('^StorageBucket') },
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'inputs/' }] } },
            LambdaFunctionArn: { 'Fn::GetAtt': [functionId, 'Arn'] },
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 's3.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [functionId, 'Arn'] },
      SourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^StorageBucket'), 'Arn'] },
    });
  });

  it('retries a failed event twice, then keeps it in its failure queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IngestFailures'), 'Arn'] } },
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 60 * 60,
    });
  });

  it('may read inputs/, write jobs, send to both work queues and publish events', () => {
    const statements = allowStatements(template).filter(({ policy }) => policy.startsWith('IngestHandler'));
    const granted = (action: string) =>
      statements
        .filter(({ statement }) => [statement.Action].flat().includes(action))
        .map((s) => s.statement);
    const [read] = granted('s3:GetObject*');
    expect(JSON.stringify(read?.Resource)).toMatch(/\/inputs\/\*/);
    expect(JSON.stringify(granted('s3:PutObject'))).toBe('[]');
    expect(granted('dynamodb:UpdateItem')).toHaveLength(1);
    const [send] = granted('sqs:SendMessage');
    expect(JSON.stringify(send?.Resource)).toMatch(/QueuesExpress[0-9A-F]{8}"/);
    expect(JSON.stringify(send?.Resource)).toMatch(/QueuesBulk[0-9A-F]{8}"/);
    expect(granted('sns:Publish')).toEqual([
      expect.objectContaining({ Resource: { Ref: expect.stringMatching(/^NotificationsEvents/) } }),
    ]);
    // The topic and the bucket are encrypted with customer-managed keys.
    expect(JSON.stringify(granted('kms:GenerateDataKey*'))).toMatch(/NotificationsKey/);
    expect(JSON.stringify(granted('kms:Decrypt'))).toMatch(/StorageKey/);
  });

  it('grants nothing to write on "*"', () => {
    expect(wildcardWrites(template)).toEqual([]);
  });
});
