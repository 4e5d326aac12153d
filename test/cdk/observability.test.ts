import { Duration } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { MockIntegration, RestApi } from 'aws-cdk-lib/aws-apigateway';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Cluster } from 'aws-cdk-lib/aws-ecs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Observability, type ObservabilityProps } from '../../lib/constructs/observability.ts';
import { WorkQueues } from '../../lib/constructs/work-queues.ts';
import { testStack } from './support.ts';

function observabilityTemplate(props: Partial<ObservabilityProps> = {}, withFleet = true) {
  const stack = testStack();
  const api = new RestApi(stack, 'Api');
  api.root.addMethod('GET', new MockIntegration());
  const vpc = Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-1', availabilityZones: ['us-east-1a'] });
  const fleet = withFleet
    ? {
        cluster: Cluster.fromClusterAttributes(stack, 'Cluster', { clusterName: 'workers', vpc }),
        service: { serviceName: 'ocr-worker' },
        logGroup: LogGroup.fromLogGroupName(stack, 'WorkerLogs', 'worker-logs'),
      }
    : undefined;
  const observability = new Observability(stack, 'Observability', {
    queues: new WorkQueues(stack, 'Queues'),
    failureQueues: { 'ingest failures': new Queue(stack, 'IngestFailures') },
    api,
    fleet,
    ...props,
  });
  return { template: Template.fromStack(stack), observability, stack };
}

describe('Observability', () => {
  let template: Template;
  let observability: Observability;
  let stack: ReturnType<typeof observabilityTemplate>['stack'];

  beforeAll(() => {
    ({ template, observability, stack } = observabilityTemplate());
  });

  const topicRef = () => ({ Ref: Match.stringLikeRegexp('^ObservabilityTopic') });
  /** The same, for vitest's own matchers. */
  const topic = () => ({ Ref: expect.stringMatching(/^ObservabilityTopic[0-9A-F]{8}$/) });
  const alarmsNamed = (pattern: RegExp) =>
    Object.entries(template.findResources('AWS::CloudWatch::Alarm'))
      .filter(([id]) => pattern.test(id))
      .map(([, alarm]) => alarm.Properties);

  it("sends alarms to an operators' topic of its own: customer-managed key, TLS only", () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ObservabilityTopicKey'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const [policy] = Object.values(template.findResources('AWS::SNS::TopicPolicy'));
    const statements = policy?.Properties.PolicyDocument.Statement as Record<string, unknown>[];
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: 'sns:Publish',
          Condition: expect.objectContaining({
            StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          }),
        }),
      ]),
    );
    // The services that publish must be able to use the key.
    const [key] = Object.values(template.findResources('AWS::KMS::Key'));
    expect(key?.Properties.KeyPolicy.Statement).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Principal: { Service: ['cloudwatch.amazonaws.com', 'events.amazonaws.com'] },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        }),
      ]),
    );
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    observabilityTemplate({ alarmEmail: 'ops@example.com' }).template.hasResourceProperties(
      'AWS::SNS::Subscription',
      { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: topicRef() },
    );
  });

  it('alarms as soon as any dead-letter or failure queue holds a message', () => {
    const alarms = alarmsNamed(/NotEmpty/);
    expect(alarms).toHaveLength(3);
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Statistic: 'Maximum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [topic()],
        OKActions: [topic()],
      });
    }
    const queues = alarms.map((a) => JSON.stringify(a.Dimensions)).join();
    expect(queues).toMatch(/QueuesExpressDlq/);
    expect(queues).toMatch(/QueuesBulkDlq/);
    expect(queues).toMatch(/IngestFailures/);
  });

  it('alarms when the oldest work message waits longer than the bound (30 min unless told)', () => {
    const alarms = alarmsNamed(/OldestMessage/);
    expect(alarms).toHaveLength(2);
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({
        MetricName: 'ApproximateAgeOfOldestMessage',
        Threshold: 1800,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [topic()],
      });
      expect(JSON.stringify(alarm.Dimensions)).not.toMatch(/Dlq/);
    }
    const custom = observabilityTemplate({ oldestMessageAge: Duration.minutes(10) }).template;
    custom.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Threshold: 600,
    });
  });

  it('alarms on worker errors of every code, summed by a Metrics Insights query', () => {
    const [alarm] = alarmsNamed(/WorkerErrors/);
    expect(alarm).toMatchObject({ Threshold: 10, EvaluationPeriods: 1, AlarmActions: [topic()] });
    // CDK takes the query as a math expression without complaint (no unknown-identifier warning).
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
    expect(alarm?.Metrics).toEqual([
      expect.objectContaining({
        Expression:
          'SELECT SUM(WorkerErrors) FROM SCHEMA("OcrPipeline", ErrorCode, service) WHERE service = \'gpu-worker\'',
        Period: 300,
        ReturnData: true,
      }),
    ]);
  });

  it('alarms on API 5xx answers of the stage', () => {
    const [alarm] = alarmsNamed(/Api5xx/);
    expect(alarm).toMatchObject({
      MetricName: '5XXError',
      Namespace: 'AWS/ApiGateway',
      Statistic: 'Sum',
      Threshold: 5,
      AlarmActions: [topic()],
    });
    expect(alarm?.Dimensions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Name: 'Stage' }),
        expect.objectContaining({ Name: 'ApiName' }),
      ]),
    );
  });

  it("tells the topic about worker tasks of the fleet's cluster that fail to start", () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ecs'],
        'detail-type': ['ECS Task State Change'],
        detail: {
          clusterArn: [Match.anyValue()],
          lastStatus: ['STOPPED'],
          stopCode: ['TaskFailedToStart'],
        },
      },
      Targets: [Match.objectLike({ Arn: topicRef(), InputTransformer: Match.anyValue() })],
    });
    const [rule] = Object.values(template.findResources('AWS::Events::Rule'));
    expect(JSON.stringify(rule?.Properties.EventPattern.detail.clusterArn)).toContain('cluster/workers');
    const withoutFleet = observabilityTemplate({}, false).template;
    withoutFleet.resourceCountIs('AWS::Events::Rule', 0);
  });

  it('draws queues, throughput, outcomes, the fleet, batches, engine time and the API on one dashboard', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const expected of [
      'ApproximateNumberOfMessagesVisible',
      'ApproximateAgeOfOldestMessage',
      'PagesProcessed',
      'JobsSucceeded',
      'MetricName=\\\\\\"JobsFailed\\\\\\"',
      'RunningTaskCount',
      'ContainerInstanceCount',
      'BatchPages',
      'EngineMs',
      'Latency',
      '4XXError',
      '5XXError',
      'worker-logs',
      'alarm',
    ]) {
      expect(body, expected).toContain(expected);
    }
    expect(observability.dashboardUrl).toMatch(
      /console\.aws\.amazon\.com\/cloudwatch\/home\?region=.*#dashboards:name=/,
    );
    // Without the fleet's parts the dashboard still synthesizes, without their series.
    const bare = observabilityTemplate({}, false).template;
    const bareBody = JSON.stringify(Object.values(bare.findResources('AWS::CloudWatch::Dashboard'))[0]);
    expect(bareBody).not.toContain('RunningTaskCount');
    expect(bareBody).toContain('PagesProcessed');
  });

  it('shows each engine: pages per minute, escalations and time per page by the Engine dimension', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const metric of ['EnginePages', 'Escalations', 'EnginePageMs']) {
      expect(body).toContain(`{OcrPipeline,Engine,service} MetricName=\\\\\\"${metric}\\\\\\"`);
    }
    expect(body).toContain("PROP('Dim.Engine')");
  });
});
