import { Match, Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Reconciler } from '../../lib/constructs/reconciler.ts';
import { allowStatements, pipelineResources, testStack, wildcardWrites } from './support.ts';

describe('Reconciler', () => {
  let template: Template;
  let functionId: string;
  let fn: {
    Properties: {
      ReservedConcurrentExecutions?: number;
      Timeout: number;
      Environment: { Variables: Record<string, string> };
    };
  };

  beforeAll(() => {
    const stack = testStack();
    const ingestFailures = new Queue(stack, 'IngestFailures');
    new Reconciler(stack, 'Reconciler', { resources: pipelineResources(stack), ingestFailures });
    template = Template.fromStack(stack);
    [[functionId, fn]] = Object.entries(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'reconciler' } } },
      }),
    ) as unknown as [[string, typeof fn]];
  });

  it('runs lambdas/reconciler every five minutes, never two at once, within its budget', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId, 'Arn'] } })],
    });
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(1);
    expect(fn.Properties.Timeout).toBe(300);
    expect(fn.Properties.Environment.Variables.OCRQ_TIME_BUDGET_MS).toBe('270000');
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId },
      MaximumRetryAttempts: 0,
    });
  });

  it("reads ingest's failure queue, which its environment names", () => {
    expect(JSON.stringify(fn.Properties.Environment.Variables.OCRQ_INGEST_FAILURES_QUEUE_URL)).toMatch(
      /IngestFailures/,
    );
  });

  it('may send work, read inputs and the failure queue, update jobs and publish, and nothing more', () => {
    const statements = allowStatements(template)
      .filter(({ policy }) => policy.startsWith('Reconciler'))
      .map(({ statement }) => statement);
    const resourcesOf = (action: string) =>
      JSON.stringify(statements.filter((s) => [s.Action].flat().includes(action)).map((s) => s.Resource));
    expect(resourcesOf('sqs:SendMessage')).toMatch(/QueuesExpress/);
    expect(resourcesOf('sqs:ReceiveMessage')).toMatch(/IngestFailures/);
    expect(resourcesOf('sqs:ReceiveMessage')).not.toMatch(/Queues(Express|Bulk)/);
    expect(resourcesOf('s3:GetObject*')).toMatch(/inputs\/\*/);
    expect(resourcesOf('s3:PutObject')).toBe('[]');
    expect(resourcesOf('dynamodb:UpdateItem')).toMatch(/JobsTable/);
    expect(resourcesOf('sns:Publish')).toMatch(/NotificationsEvents/);
    expect(wildcardWrites(template)).toEqual([]);
  });
});
