import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterSweep } from '../../lib/constructs/dlq.ts';
import { allowStatements, pipelineResources, testStack, wildcardWrites } from './support.ts';

describe('DeadLetterSweep', () => {
  let template: Template;

  beforeAll(() => {
    const stack = testStack();
    new DeadLetterSweep(stack, 'DeadLetterSweep', { resources: pipelineResources(stack) });
    template = Template.fromStack(stack);
  });

  it('runs lambdas/dlq every minute without retrying a failed run', () => {
    const [[functionId, fn]] = Object.entries(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'dlq' } } },
      }),
    ) as [[string, { Properties: Record<string, unknown> }]];
    expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Timeout: 300 });
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [functionId, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0 },
        }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [functionId, 'Arn'] },
    });
  });

  it('never overlaps itself: one reserved execution, and a throttled tick is dropped, not queued', () => {
    const [[functionId, fn]] = Object.entries(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'dlq' } } },
      }),
    ) as [
      [
        string,
        {
          Properties: {
            ReservedConcurrentExecutions?: number;
            Environment: { Variables: Record<string, string> };
          };
        },
      ],
    ];
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(1);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
    // It stops within its budget (270 s of the 300) and leaves the rest to the next run.
    expect(fn.Properties.Environment.Variables.OCRQ_TIME_BUDGET_MS).toBe('270000');
  });

  it('may peek at the dead-letter queues only, update jobs and publish events', () => {
    const statements = allowStatements(template)
      .filter(({ policy }) => policy.startsWith('DeadLetterSweep'))
      .map(({ statement }) => statement);
    const resourcesOf = (action: string) =>
      JSON.stringify(statements.filter((s) => [s.Action].flat().includes(action)).map((s) => s.Resource));
    expect(resourcesOf('sqs:ReceiveMessage')).toMatch(/QueuesExpressDlq/);
    expect(resourcesOf('sqs:ReceiveMessage')).toMatch(/QueuesBulkDlq/);
    expect(resourcesOf('sqs:ReceiveMessage')).not.toMatch(/Queues(Express|Bulk)[0-9A-F]{8}"/);
    expect(resourcesOf('sqs:SendMessage')).toBe('[]');
    expect(resourcesOf('dynamodb:UpdateItem')).toMatch(/JobsTable/);
    expect(resourcesOf('sns:Publish')).toMatch(/NotificationsEvents/);
    expect(wildcardWrites(template)).toEqual([]);
  });
});
