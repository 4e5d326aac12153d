import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_SETTINGS } from '../../lambdas/shared/resources.ts';
import { WorkQueues } from '../../lib/constructs/work-queues.ts';
import { testStack } from './support.ts';

const DAY = 24 * 60 * 60;

describe('WorkQueues', () => {
  let template: Template;
  let queues: WorkQueues;

  beforeAll(() => {
    const stack = testStack();
    queues = new WorkQueues(stack, 'Queues');
    const worker = new Role(stack, 'Worker', { assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com') });
    queues.grantSendMessages(worker);
    queues.grantConsumeMessages(worker);
    const sweeper = new Role(stack, 'Sweeper', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    queues.grantConsumeDeadLetters(sweeper);
    queues.grantReadDepth(sweeper, { deadLetters: true });
    template = Template.fromStack(stack);
  });

  /** The queue whose construct path is `name` (its logical id plus CDK's hash suffix). */
  const queue = (name: string) => {
    const found = Object.entries(template.findResources('AWS::SQS::Queue')).filter(([id]) =>
      new RegExp(`^${name}[0-9A-F]{8}$`).test(id),
    );
    expect(found).toHaveLength(1);
    return found[0]!;
  };

  it('has an express and a bulk queue, each with its own DLQ after 10 receives', () => {
    template.resourceCountIs('AWS::SQS::Queue', 4);
    for (const [name, dlq] of [
      ['QueuesExpress', 'QueuesExpressDlq'],
      ['QueuesBulk', 'QueuesBulkDlq'],
    ] as const) {
      const [, work] = queue(name);
      const [dlqId] = queue(dlq);
      expect(work.Properties.RedrivePolicy).toEqual({
        deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
        maxReceiveCount: QUEUE_SETTINGS.maxReceiveCount,
      });
      expect(QUEUE_SETTINGS.maxReceiveCount).toBe(10);
    }
  });

  it('uses the shared visibility, wait and retention settings', () => {
    for (const name of ['QueuesExpress', 'QueuesBulk']) {
      const [, work] = queue(name);
      expect(work.Properties).toMatchObject({
        VisibilityTimeout: 120,
        ReceiveMessageWaitTimeSeconds: 20,
        MessageRetentionPeriod: QUEUE_SETTINGS.retentionDays * DAY,
      });
      expect(work.Properties.QueueName).toBeUndefined();
    }
    for (const name of ['QueuesExpressDlq', 'QueuesBulkDlq']) {
      const [, dlq] = queue(name);
      expect(dlq.Properties.MessageRetentionPeriod).toBe(QUEUE_SETTINGS.dlqRetentionDays * DAY);
    }
  });

  it('encrypts every queue and refuses requests without TLS', () => {
    template.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    template.resourceCountIs('AWS::SQS::QueuePolicy', 4);
    template.allResourcesProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Deny',
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Principal: { AWS: '*' },
            Resource: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
          },
        ],
      },
    });
  });

  it('maps a priority to its queue', () => {
    expect(queues.queueFor('express')).toBe(queues.express);
    expect(queues.queueFor('bulk')).toBe(queues.bulk);
  });

  /** The statements of the role's policy, with their actions and resources as JSON. */
  const statementsOf = (role: string) => {
    const [policy] = Object.values(
      template.findResources('AWS::IAM::Policy', {
        Properties: { Roles: [{ Ref: Match.stringLikeRegexp(`^${role}`) }] },
      }),
    );
    return policy?.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[];
  };
  const arn = (name: string) => ({ 'Fn::GetAtt': [queue(name)[0], 'Arn'] });

  it('grants sending and consuming on both work queues only', () => {
    const statements = statementsOf('Worker');
    const send = statements.find((s) => s.Action.includes('sqs:SendMessage'));
    const consume = statements.find((s) => s.Action.includes('sqs:ReceiveMessage'));
    expect(send?.Resource).toEqual(expect.arrayContaining([arn('QueuesExpress'), arn('QueuesBulk')]));
    expect(consume?.Resource).toEqual(expect.arrayContaining([arn('QueuesExpress'), arn('QueuesBulk')]));
    expect(consume?.Action).toEqual(
      expect.arrayContaining(['sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']),
    );
    expect(JSON.stringify(statements)).not.toMatch(/Dlq/);
  });

  it('grants consuming dead letters on the DLQs only, and reading the depth of all four', () => {
    const statements = statementsOf('Sweeper');
    const consume = statements.find((s) => s.Action.includes('sqs:ReceiveMessage'));
    expect(consume?.Resource).toHaveLength(2);
    expect(consume?.Resource).toEqual(
      expect.arrayContaining([arn('QueuesExpressDlq'), arn('QueuesBulkDlq')]),
    );
    const depth = statements.filter((s) => s.Action === 'sqs:GetQueueAttributes');
    expect(depth.flatMap((s) => [s.Resource].flat())).toEqual(
      expect.arrayContaining(['QueuesExpress', 'QueuesBulk', 'QueuesExpressDlq', 'QueuesBulkDlq'].map(arn)),
    );
  });
});
