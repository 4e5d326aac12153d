import { RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { OcrPipelineStack } from '../../lib/ocr-pipeline-stack.ts';
import { PIPELINE_HANDLERS, testApp, wildcardWrites } from './support.ts';

const env = { account: '123456789012', region: 'us-east-1' };

describe('OcrPipelineStack', () => {
  let template: Template;

  beforeAll(() => {
    template = Template.fromStack(new OcrPipelineStack(testApp(), 'OcrPipeline', { env }));
  });

  /** The functions built from lambdas/, told apart from CDK's own helpers by their service name. */
  const pipelineFunctions = () =>
    Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (fn) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME,
    );

  it('composes one of each concern', () => {
    template.resourceCountIs('AWS::S3::Bucket', 2); // documents + access logs
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.resourceCountIs('AWS::SQS::Queue', 9); // express, bulk, their DLQs, ingest failures, webhooks + DLQ, Textract completions + DLQ
    template.resourceCountIs('AWS::SNS::Topic', 3); // job events, operators' alarms, Textract completions
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
    template.resourceCountIs('Custom::S3BucketNotifications', 1);
    expect(
      pipelineFunctions()
        .map((fn) => fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME)
        .sort(),
    ).toEqual(PIPELINE_HANDLERS);
    // the dead-letter sweep and reconciler schedules; worker tasks that fail to start
    template.resourceCountIs('AWS::Events::Rule', 3);
  });

  it('runs the GPU worker fleet: one cluster, capacity provider, service and four scaling rules', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::ECS::Cluster', 1);
    template.resourceCountIs('AWS::AutoScaling::AutoScalingGroup', 1);
    template.resourceCountIs('AWS::ECS::CapacityProvider', 1);
    template.resourceCountIs('AWS::ECS::Service', 1);
    template.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 1);
    template.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 4);
    template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 0 });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 0,
      MaxCapacity: 12,
    });
    // The worker reads the same configuration as the functions, chunk size included.
    const [taskDefinition] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    const workerEnv = Object.fromEntries(
      (
        (taskDefinition?.Properties.ContainerDefinitions[0].Environment ?? []) as {
          Name: string;
          Value: unknown;
        }[]
      ).map(({ Name, Value }) => [Name, Value]),
    );
    const [ingest] = pipelineFunctions().filter(
      (fn) => fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME === 'ingest',
    );
    for (const name of [
      'OCRQ_TABLE_NAME',
      'OCRQ_BUCKET_NAME',
      'OCRQ_EXPRESS_QUEUE_URL',
      'OCRQ_BULK_QUEUE_URL',
      'OCRQ_CHUNK_PAGES',
    ]) {
      expect(workerEnv[name], name).toEqual(ingest?.Properties.Environment.Variables[name]);
    }
  });

  it('takes the fleet, chunk and CORS settings from its deployment settings', () => {
    const configured = Template.fromStack(
      new OcrPipelineStack(testApp(), 'Configured', {
        env,
        deployment: { maxTasks: '7', chunkPages: '4', allowedOrigins: 'https://app.example.com' },
      }),
    );
    configured.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MaxCapacity: 7 });
    // 300 s ÷ (4 pages × 0.25 s) = 300 messages per task.
    configured.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: 'OCR workers: scale out, backlog per task above 300 messages',
      Threshold: 300,
    });
    const [ingest] = Object.values(
      configured.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'ingest' } } },
      }),
    );
    expect(ingest?.Properties.Environment.Variables.OCRQ_CHUNK_PAGES).toBe('4');
    configured.hasResourceProperties('AWS::S3::Bucket', {
      CorsConfiguration: { CorsRules: [Match.objectLike({ AllowedOrigins: ['https://app.example.com'] })] },
    });
    // Without origins the bucket answers no browser.
    template.allResourcesProperties('AWS::S3::Bucket', { CorsConfiguration: Match.absent() });
  });

  it('runs every pipeline function on nodejs22.x with the resources of this stack', () => {
    for (const fn of pipelineFunctions()) {
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Environment.Variables).toMatchObject({
        OCRQ_TABLE_NAME: { Ref: expect.stringMatching(/^JobsTable/) },
        OCRQ_BUCKET_NAME: { Ref: expect.stringMatching(/^StorageBucket/) },
        OCRQ_EXPRESS_QUEUE_URL: { Ref: expect.stringMatching(/^QueuesExpress[0-9A-F]{8}$/) },
        OCRQ_BULK_QUEUE_URL: { Ref: expect.stringMatching(/^QueuesBulk[0-9A-F]{8}$/) },
        OCRQ_EVENTS_TOPIC_ARN: { Ref: expect.stringMatching(/^NotificationsEvents/) },
        OCRQ_JOB_TTL_DAYS: '7',
      });
    }
  });

  it('leaves physical names to CloudFormation so stacks can live side by side', () => {
    const named = Object.entries(template.toJSON().Resources as Record<string, { Properties?: object }>)
      .filter(([, r]) =>
        ['BucketName', 'TableName', 'QueueName', 'TopicName', 'FunctionName', 'LogGroupName'].some(
          (key) =>
            r.Properties &&
            key in r.Properties &&
            typeof (r.Properties as Record<string, unknown>)[key] === 'string',
        ),
      )
      .map(([id]) => id);
    expect(named).toEqual([]);
  });

  it('publishes what clients and operators need', () => {
    const outputs = template.toJSON().Outputs as Record<string, unknown>;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        'ApiUrl',
        'BucketName',
        'TableName',
        'ExpressQueueUrl',
        'BulkQueueUrl',
        'ExpressDlqUrl',
        'BulkDlqUrl',
        'EventsTopicArn',
        'OperatorsTopicArn',
        'DashboardUrl',
        'UsagePlanId',
        'IngestFailuresQueueUrl',
        'ClusterName',
        'WorkerServiceName',
        'WorkerLogGroup',
      ]),
    );
  });

  it('grants nothing to write on "*"', () => {
    expect(wildcardWrites(template)).toEqual([]);
  });

  it('encrypts every store and keeps every log for a limited time', () => {
    template.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    for (const group of Object.values(template.findResources('AWS::Logs::LogGroup'))) {
      expect(group.Properties.RetentionInDays).toBeGreaterThan(0);
    }
    template.allResourcesProperties('AWS::DynamoDB::Table', { SSESpecification: { SSEEnabled: true } });
  });

  it('keeps data by default and can be made disposable', () => {
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain' });
    const disposable = Template.fromStack(
      new OcrPipelineStack(testApp(), 'Disposable', {
        env,
        dataRemovalPolicy: RemovalPolicy.DESTROY,
        objectExpirationDays: 2,
      }),
    );
    disposable.allResources('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    disposable.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
    const [fn] = Object.values(
      disposable.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'ingest' } } },
      }),
    );
    expect(fn?.Properties.Environment.Variables.OCRQ_JOB_TTL_DAYS).toBe('2');
  });
});
