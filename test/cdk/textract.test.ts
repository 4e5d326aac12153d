import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEXTRACT_ACTIONS } from '../../lib/constructs/textract.ts';
import { OcrPipelineStack } from '../../lib/ocr-pipeline-stack.ts';
import { parseSettings } from '../../lib/settings.ts';
import { testApp } from './support.ts';

const env = { account: '123456789012', region: 'us-east-1' };

/** The worker container's environment, by name. */
function workerEnvironment(template: Template): Record<string, unknown> {
  const [taskDefinition] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
  const entries = (taskDefinition?.Properties.ContainerDefinitions[0].Environment ?? []) as {
    Name: string;
    Value: unknown;
  }[];
  return Object.fromEntries(entries.map(({ Name, Value }) => [Name, Value]));
}

/** Every Allow statement of the worker task role's policies. */
function taskRoleStatements(template: Template): Array<Record<string, unknown>> {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes('WorkerTaskDefinitionTaskRole'))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>);
}

describe('Textract in the stack', () => {
  let template: Template;

  beforeAll(() => {
    template = Template.fromStack(new OcrPipelineStack(testApp(), 'OcrPipeline', { env }));
  });

  it('has a KMS-encrypted completion topic, its queue (with dead letters) and a role Textract assumes to publish', () => {
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TextractKey'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      TopicArn: { Ref: Match.stringLikeRegexp('^TextractCompletions') },
      Endpoint: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TextractQueue'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: Match.objectLike({
        deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TextractDeadLetters'), 'Arn'] },
      }),
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'textract.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
          }),
        ],
      },
    });
    // The role may publish to the topic and use its key.
    const rolePolicies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy.Properties.Roles).includes('TextractPublishRole'),
    );
    const actions = JSON.stringify(rolePolicies.map((p) => p.Properties.PolicyDocument));
    expect(actions).toContain('sns:Publish');
    expect(actions).toContain('kms:GenerateDataKey*');
  });

  it("grants the worker Textract's calls, passing the publish role and the completion queue", () => {
    const statements = taskRoleStatements(template);
    const textract = statements.find((s) => s.Sid === 'TextractTextDetection');
    expect(textract).toMatchObject({ Effect: 'Allow', Resource: '*' });
    expect([...((textract?.Action ?? []) as string[])].sort()).toEqual([...TEXTRACT_ACTIONS].sort());
    const passRole = statements.find((s) => s.Action === 'iam:PassRole');
    expect(JSON.stringify(passRole?.Resource)).toContain('TextractPublishRole');
    const consume = statements.find(
      (s) =>
        Array.isArray(s.Action) &&
        (s.Action as string[]).includes('sqs:ReceiveMessage') &&
        JSON.stringify(s.Resource).includes('TextractQueue'),
    );
    expect(consume).toBeDefined();
  });

  it('names the region and the completion channel to the worker and the functions', () => {
    const worker = workerEnvironment(template);
    expect(worker.OCRQ_TEXTRACT_REGION).toEqual({ Ref: 'AWS::Region' });
    expect(JSON.stringify(worker.OCRQ_TEXTRACT_TOPIC_ARN)).toContain('TextractCompletions');
    expect(JSON.stringify(worker.OCRQ_TEXTRACT_ROLE_ARN)).toContain('TextractPublishRole');
    expect(JSON.stringify(worker.OCRQ_TEXTRACT_QUEUE_URL)).toContain('TextractQueue');
    const createJob = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (fn) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === 'create-job',
    );
    expect(createJob?.Properties.Environment.Variables.OCRQ_TEXTRACT_REGION).toEqual({ Ref: 'AWS::Region' });
  });

  it('leaves Textract out of a deployment that turns it off', () => {
    expect(parseSettings({ textract: 'false' }).textract).toBe(false);
    expect(parseSettings({}).textract).toBe(true);
    expect(() => parseSettings({ textract: 'maybe' })).toThrow(/textract/);
    const stack = new OcrPipelineStack(testApp(), 'OcrPipeline', { env, deployment: { textract: false } });
    const off = Template.fromStack(stack);
    expect(stack.textract).toBeUndefined();
    expect(
      Object.keys(off.findResources('AWS::IAM::Role')).filter((id) => id.startsWith('Textract')),
    ).toEqual([]);
    expect(workerEnvironment(off).OCRQ_TEXTRACT_REGION).toBeUndefined();
    expect(taskRoleStatements(off).find((s) => s.Sid === 'TextractTextDetection')).toBeUndefined();
  });
});
