import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_QUEUE_SETTINGS } from '../../lambdas/shared/resources.ts';
import { WEBHOOK_BATCH_SIZE, WebhookDispatcher } from '../../lib/constructs/webhook-dispatcher.ts';
import { allowStatements, pipelineResources, testStack, wildcardWrites } from './support.ts';

describe('WebhookDispatcher', () => {
  let template: Template;
  let functionId: string;
  let fn: { Properties: { Timeout: number; Environment: { Variables: Record<string, string> } } };
  let queueId: string;

  beforeAll(() => {
    const stack = testStack();
    new WebhookDispatcher(stack, 'Webhooks', {
      resources: pipelineResources(stack),
      settings: { webhooks: { timeoutMs: 5000, retrySpanSeconds: 7200 } },
    });
    template = Template.fromStack(stack);
    [[functionId, fn]] = Object.entries(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'webhook-dispatcher' } } },
      }),
    ) as unknown as [[string, typeof fn]];
    [queueId] = Object.keys(
      template.findResources('AWS::SQS::Queue', {
        Properties: { VisibilityTimeout: WEBHOOK_QUEUE_SETTINGS.visibilityTimeoutSeconds },
      }),
    ) as [string];
  });

  it('subscribes its queue to the events topic with raw delivery, only for events a webhook wants', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      RawMessageDelivery: true,
      FilterPolicy: { webhook: ['true'] },
      Endpoint: { 'Fn::GetAtt': [queueId, 'Arn'] },
    });
  });

  it('gives the queue a DLQ for crash loops, encryption and TLS only', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: WEBHOOK_QUEUE_SETTINGS.visibilityTimeoutSeconds,
      SqsManagedSseEnabled: true,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: WEBHOOK_QUEUE_SETTINGS.maxReceiveCount }),
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('runs lambdas/webhook-dispatcher on the queue in batches, reporting failures per record', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionId },
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      BatchSize: WEBHOOK_BATCH_SIZE,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const env = fn.Properties.Environment.Variables;
    expect(JSON.stringify(env.OCRQ_WEBHOOK_QUEUE_URL)).toContain(queueId);
    expect(env.OCRQ_WEBHOOK_TIMEOUT_MS).toBe('5000');
    expect(env.OCRQ_WEBHOOK_RETRY_SPAN_SECONDS).toBe('7200');
    // Loopback receivers are for the local stack only.
    expect(env.OCRQ_WEBHOOK_ALLOW_LOOPBACK).toBe('false');
    // One POST's timeout and the writes fit; six timeouts fit in the queue's visibility.
    expect(fn.Properties.Timeout).toBe(20);
    expect(fn.Properties.Timeout * 6).toBeLessThanOrEqual(WEBHOOK_QUEUE_SETTINGS.visibilityTimeoutSeconds);
  });

  it('may update jobs and requeue on its own queue, and nothing more', () => {
    const statements = allowStatements(template)
      .filter(({ policy }) => policy.startsWith('WebhooksDispatcher'))
      .map(({ statement }) => statement);
    const resourcesOf = (action: string) =>
      JSON.stringify(statements.filter((s) => [s.Action].flat().includes(action)).map((s) => s.Resource));
    expect(resourcesOf('sqs:SendMessage')).toContain(queueId);
    expect(resourcesOf('sqs:SendMessage')).not.toMatch(/Queues(Express|Bulk)/);
    expect(resourcesOf('dynamodb:UpdateItem')).toMatch(/JobsTable/);
    expect(resourcesOf('sns:Publish')).toBe('[]');
    expect(resourcesOf('s3:GetObject*')).toBe('[]');
    expect(wildcardWrites(template)).toEqual([]);
  });
});
