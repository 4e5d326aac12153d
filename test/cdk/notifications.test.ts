import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { Notifications } from '../../lib/constructs/notifications.ts';
import { testStack } from './support.ts';

describe('Notifications', () => {
  let template: Template;

  beforeAll(() => {
    const stack = testStack();
    new Notifications(stack, 'Notifications');
    template = Template.fromStack(stack);
  });

  it('is one topic encrypted with its own rotated key, named by CloudFormation', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    const [topic] = Object.values(template.findResources('AWS::SNS::Topic'));
    expect(topic?.Properties.TopicName).toBeUndefined();
    expect(topic?.Properties.KmsMasterKeyId).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^NotificationsKey/), 'Arn'],
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true, PendingWindowInDays: 7 });
  });

  it('refuses publishing without TLS', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ],
      },
    });
  });
});
