import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES } from '../../lambdas/shared/routes.ts';
import { API_HANDLER_ACCESS, ApiFunctions } from '../../lib/constructs/api-functions.ts';
import { allowStatements, pipelineResources, testStack, wildcardWrites } from './support.ts';

const OCRQ_VARIABLES = [
  'OCRQ_TABLE_NAME',
  'OCRQ_BUCKET_NAME',
  'OCRQ_EXPRESS_QUEUE_URL',
  'OCRQ_BULK_QUEUE_URL',
  'OCRQ_EVENTS_TOPIC_ARN',
  'OCRQ_MAX_UPLOAD_BYTES',
  'OCRQ_RESULT_URL_TTL_SECONDS',
  'OCRQ_JOB_TTL_DAYS',
  'OCRQ_EXPRESS_DLQ_URL',
  'OCRQ_BULK_DLQ_URL',
  'OCRQ_MAX_PAGES',
  'OCRQ_MAX_QUEUE_DEPTH',
];

describe('ApiFunctions', () => {
  let template: Template;
  let apiFunctions: ApiFunctions;
  const handlers = [...new Set(API_ROUTES.map((r) => r.handler))];

  beforeAll(() => {
    const stack = testStack();
    apiFunctions = new ApiFunctions(stack, 'ApiFunctions', {
      resources: pipelineResources(stack),
      settings: { maxUploadBytes: 10_000_000 },
    });
    template = Template.fromStack(stack);
  });

  const policyOf = (functionPrefix: string) => {
    const statements = allowStatements(template).filter(({ policy }) => policy.startsWith(functionPrefix));
    expect(statements.length).toBeGreaterThan(0);
    return JSON.stringify(statements.map(({ statement }) => statement));
  };

  it('has one function per handler of the route table, on Node.js 22 with the full pipeline environment', () => {
    template.resourceCountIs('AWS::Lambda::Function', handlers.length);
    for (const service of handlers) {
      const [fn] = Object.values(
        template.findResources('AWS::Lambda::Function', {
          Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: service } } },
        }),
      );
      expect(fn?.Properties.Runtime, service).toBe('nodejs22.x');
      const variables = fn?.Properties.Environment.Variables;
      expect(Object.keys(variables)).toEqual(expect.arrayContaining(OCRQ_VARIABLES));
      expect(variables).not.toHaveProperty('AWS_REGION');
      expect(variables.OCRQ_MAX_UPLOAD_BYTES).toBe('10000000');
      expect(variables.OCRQ_TABLE_NAME).toEqual({ Ref: expect.stringMatching(/^JobsTable/) });
      expect(variables.OCRQ_BUCKET_NAME).toEqual({ Ref: expect.stringMatching(/^StorageBucket/) });
      expect(variables.OCRQ_EXPRESS_DLQ_URL).toEqual({ Ref: expect.stringMatching(/^QueuesExpressDlq/) });
      expect(apiFunctions.functionFor(service)).toBeDefined();
    }
    expect(() => apiFunctions.functionFor('ingest')).toThrow(/no API route/);
  });

  it('gives redrive 29 s (all API Gateway waits) and a budget to stop in; the others 10 s', () => {
    for (const service of handlers) {
      const [fn] = Object.values(
        template.findResources('AWS::Lambda::Function', {
          Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: service } } },
        }),
      );
      const budget = fn?.Properties.Environment.Variables.OCRQ_TIME_BUDGET_MS;
      if (service === 'redrive') {
        expect(fn?.Properties.Timeout).toBe(29);
        expect(budget).toBe('24000');
      } else {
        expect(fn?.Properties.Timeout, service).toBe(10);
        expect(budget, service).toBeUndefined();
      }
    }
  });

  it('defines the access of every handler the routes name', () => {
    expect(handlers.filter((h) => !(h in API_HANDLER_ACCESS))).toEqual([]);
  });

  it('lets create-job write jobs, presign uploads under inputs/ and read queue depths', () => {
    const policy = policyOf('ApiFunctionsCreateJob');
    expect(policy).toMatch(/dynamodb:PutItem/);
    expect(policy).toMatch(/s3:PutObject/);
    expect(policy).toMatch(/\/inputs\/\*/);
    expect(policy).not.toMatch(/\/results\//);
    expect(policy).toMatch(/kms:GenerateDataKey/);
    expect(policy).toMatch(/sqs:GetQueueAttributes/);
    expect(policy).not.toMatch(/sqs:(SendMessage|ReceiveMessage|DeleteMessage)|sns:|Dlq/);
  });

  it('lets get-job and get-result read jobs and presign downloads under results/ only', () => {
    for (const fn of ['ApiFunctionsGetJob', 'ApiFunctionsGetResult']) {
      const policy = policyOf(fn);
      expect(policy).toMatch(/dynamodb:GetItem/);
      expect(policy).not.toMatch(/dynamodb:(PutItem|UpdateItem|DeleteItem)/);
      expect(policy).toMatch(/s3:GetObject/);
      expect(policy).toMatch(/\/results\/\*/);
      expect(policy).not.toMatch(/s3:Put|\/inputs\//);
      expect(policy).toMatch(/kms:Decrypt/);
    }
  });

  it('lets list-jobs read the table and nothing else', () => {
    const policy = policyOf('ApiFunctionsListJobs');
    expect(policy).toMatch(/dynamodb:Query/);
    expect(policy).not.toMatch(/dynamodb:(PutItem|UpdateItem)|s3:|sqs:|sns:/);
  });

  it('lets cancel-job update jobs, publish the event and abort a multipart upload', () => {
    const policy = policyOf('ApiFunctionsCancelJob');
    expect(policy).toMatch(/dynamodb:UpdateItem/);
    expect(policy).toMatch(/sns:Publish/);
    expect(policy).toMatch(/s3:Abort\*/);
    expect(policy).not.toMatch(/s3:GetObject|sqs:/);
  });

  it('lets upload list, presign and complete parts under inputs/ only, and not change jobs', () => {
    const policy = policyOf('ApiFunctionsUpload');
    expect(policy).toMatch(/s3:List\*/);
    expect(policy).toMatch(/s3:PutObject/);
    expect(policy).toMatch(/kms:Decrypt/);
    expect(policy).toMatch(/kms:GenerateDataKey/);
    expect(policy).toMatch(/inputs\/\*/);
    expect(policy).not.toMatch(/results\/|dynamodb:(PutItem|UpdateItem)|sqs:|sns:/);
  });

  it('lets queue-stats read the depth of every queue, dead letters included', () => {
    const policy = policyOf('ApiFunctionsQueueStats');
    expect(policy).toMatch(/sqs:GetQueueAttributes/);
    expect(policy).toMatch(/QueuesExpressDlq/);
    expect(policy).not.toMatch(/sqs:(SendMessage|ReceiveMessage|DeleteMessage)|dynamodb:PutItem/);
  });

  it('lets retry-job requeue work and announce it', () => {
    const policy = policyOf('ApiFunctionsRetryJob');
    expect(policy).toMatch(/dynamodb:UpdateItem/);
    expect(policy).toMatch(/sqs:SendMessage/);
    expect(policy).toMatch(/sns:Publish/);
    expect(policy).not.toMatch(/Dlq|s3:/);
  });

  it('gives the OpenAPI document no access beyond tracing', () => {
    const actions = allowStatements(template)
      .filter(({ policy }) => policy.startsWith('ApiFunctionsOpenapi'))
      .flatMap(({ statement }) => [statement.Action].flat());
    expect(actions.filter((action) => !action.startsWith('xray:'))).toEqual([]);
  });

  it('lets redrive take dead letters and send them back to the work queues', () => {
    const statements = allowStatements(template)
      .filter(({ policy }) => policy.startsWith('ApiFunctionsRedrive'))
      .map(({ statement }) => statement);
    const resourcesOf = (action: string) =>
      JSON.stringify(statements.filter((s) => [s.Action].flat().includes(action)).map((s) => s.Resource));
    expect(resourcesOf('sqs:ReceiveMessage')).toMatch(
      /QueuesExpressDlq.*QueuesBulkDlq|QueuesBulkDlq.*QueuesExpressDlq/,
    );
    expect(resourcesOf('sqs:ReceiveMessage')).not.toMatch(/QueuesExpress[0-9A-F]{8}"/);
    expect(resourcesOf('sqs:SendMessage')).toMatch(/QueuesExpress[0-9A-F]{8}"/);
    expect(resourcesOf('sqs:SendMessage')).not.toMatch(/Dlq/);
  });

  it('grants nothing to write on "*"', () => {
    expect(wildcardWrites(template)).toEqual([]);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })],
      }),
    });
  });
});
