import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCALE_DOWN_MESSAGES_PER_TASK, SCALE_OUT_COOLDOWN } from '../../lib/constructs/worker-scaling.ts';
import { fleetStack } from './fleet-support.ts';

interface MetricDataQuery {
  Id: string;
  Expression?: string;
  ReturnData?: boolean;
  MetricStat?: {
    Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: unknown }[] };
    Period: number;
    Stat: string;
  };
}

interface AlarmProperties {
  AlarmActions: { Ref: string }[];
  ComparisonOperator: string;
  Threshold: number;
  EvaluationPeriods: number;
  DatapointsToAlarm: number;
  TreatMissingData: string;
  Metrics: MetricDataQuery[];
}

interface PolicyProperties {
  PolicyType: string;
  ScalingTargetId: { Ref: string };
  StepScalingPolicyConfiguration: {
    AdjustmentType: string;
    Cooldown: number;
    StepAdjustments: {
      MetricIntervalLowerBound?: number;
      MetricIntervalUpperBound?: number;
      ScalingAdjustment: number;
    }[];
  };
}

/** The alarm and policy of one rule, found by the role in their logical ids, as a reader of the template would. */
function rule(template: Template, role: 'ScaleFromZero' | 'ScaleOut' | 'ScaleDown' | 'ScaleIn') {
  const alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(([id]) =>
    id.startsWith(`WorkerScaling${role}Alarm`),
  );
  expect(alarms).toHaveLength(1);
  const [, alarm] = alarms[0]!;
  const alarmProperties = alarm.Properties as AlarmProperties;
  expect(alarmProperties.AlarmActions).toHaveLength(1);
  const policyId = alarmProperties.AlarmActions[0]!.Ref;
  expect(policyId).toMatch(new RegExp(`^WorkerScaling${role}Policy`));
  const policy = template.toJSON().Resources[policyId].Properties as PolicyProperties;
  const expression = alarmProperties.Metrics.find((query) => query.ReturnData !== false)?.Expression ?? '';
  const metric = (id: string) => alarmProperties.Metrics.find((query) => query.Id === id)?.MetricStat;
  return { alarm: alarmProperties, policy, expression, metric };
}

/** Every metric of an alarm, as "namespace metric dimension=ref". */
function metricsOf(alarm: AlarmProperties): string[] {
  return alarm.Metrics.filter((query) => query.MetricStat)
    .map(({ MetricStat }) => {
      const { Namespace, MetricName, Dimensions } = MetricStat!.Metric;
      const dims = Dimensions.map(
        ({ Name, Value }) => `${Name}=${JSON.stringify(Value).replace(/[0-9A-F]{8}"/, '"')}`,
      );
      return `${Namespace} ${MetricName} ${dims.join(' ')}`;
    })
    .sort();
}

const visibleOfBothQueues = [
  'AWS/SQS ApproximateNumberOfMessagesVisible QueueName={"Fn::GetAtt":["QueuesBulk","QueueName"]}',
  'AWS/SQS ApproximateNumberOfMessagesVisible QueueName={"Fn::GetAtt":["QueuesExpress","QueueName"]}',
];
const desiredTasks =
  'ECS/ContainerInsights DesiredTaskCount ClusterName={"Ref":"NetworkCluster"} ServiceName={"Fn::GetAtt":["WorkerService","Name"]}';

describe('WorkerScaling', () => {
  let template: Template;

  beforeAll(() => {
    template = Template.fromStack(fleetStack().stack);
  });

  it('scales the worker service between 0 and maxTasks', () => {
    template.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 1);
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 0,
      MaxCapacity: 12,
      ServiceNamespace: 'ecs',
      ScalableDimension: 'ecs:service:DesiredCount',
      ResourceId: {
        'Fn::Join': [
          '',
          [
            'service/',
            { Ref: Match.stringLikeRegexp('^NetworkCluster') },
            '/',
            { 'Fn::GetAtt': [Match.stringLikeRegexp('^WorkerService'), 'Name'] },
          ],
        ],
      },
    });
  });

  it('uses exactly four alarms, each with one step scaling policy and no target tracking', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    template.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 4);
    template.allResourcesProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'StepScaling',
    });
    for (const role of ['ScaleFromZero', 'ScaleOut', 'ScaleDown', 'ScaleIn'] as const) {
      const { alarm, policy } = rule(template, role);
      expect(policy.ScalingTargetId.Ref).toMatch(/^WorkerScalingTarget/);
      // One-minute points over both work queues, every time.
      for (const query of alarm.Metrics.filter((q) => q.MetricStat))
        expect(query.MetricStat?.Period).toBe(60);
      expect(metricsOf(alarm)).toEqual(expect.arrayContaining(visibleOfBothQueues));
    }
  });

  it('scales from zero: one task when a message is visible for one minute and none is wanted', () => {
    const { alarm, policy, expression } = rule(template, 'ScaleFromZero');
    expect(alarm).toMatchObject({
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(metricsOf(alarm)).toEqual([...visibleOfBothQueues, desiredTasks].sort());
    expect(expression).toBe('IF(FILL(tasks, 0) < 1, FILL(expressVisible, 0) + FILL(bulkVisible, 0), 0)');
    expect(policy.StepScalingPolicyConfiguration).toMatchObject({
      AdjustmentType: 'ChangeInCapacity',
      StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }],
    });
  });

  it('scales out on backlog per task against latency ÷ (pages per message × seconds per page)', () => {
    const { alarm, policy, expression } = rule(template, 'ScaleOut');
    // Defaults: 300 s ÷ (8 pages × 0.25 s) = 150 messages per task.
    expect(alarm).toMatchObject({
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 150,
      EvaluationPeriods: 1,
    });
    expect(metricsOf(alarm)).toEqual([...visibleOfBothQueues, desiredTasks].sort());
    expect(expression).toBe(
      '(FILL(expressVisible, 0) + FILL(bulkVisible, 0)) / IF(FILL(tasks, 0) > 1, FILL(tasks, 0), 1)',
    );
    expect(policy.StepScalingPolicyConfiguration).toEqual({
      AdjustmentType: 'ChangeInCapacity',
      Cooldown: SCALE_OUT_COOLDOWN.toSeconds(),
      MetricAggregationType: 'Maximum',
      StepAdjustments: [
        { MetricIntervalLowerBound: 0, MetricIntervalUpperBound: 150, ScalingAdjustment: 1 },
        { MetricIntervalLowerBound: 150, MetricIntervalUpperBound: 450, ScalingAdjustment: 2 },
        { MetricIntervalLowerBound: 450, ScalingAdjustment: 4 },
      ],
    });
  });

  it('scales in to exactly zero when nothing is visible or in flight for the idle minutes', () => {
    const { alarm, policy, expression } = rule(template, 'ScaleIn');
    expect(alarm).toMatchObject({
      ComparisonOperator: 'LessThanOrEqualToThreshold',
      Threshold: 0,
      EvaluationPeriods: 10,
      DatapointsToAlarm: 10,
      TreatMissingData: 'breaching',
    });
    expect(metricsOf(alarm)).toEqual(
      [
        ...visibleOfBothQueues,
        'AWS/SQS ApproximateNumberOfMessagesNotVisible QueueName={"Fn::GetAtt":["QueuesBulk","QueueName"]}',
        'AWS/SQS ApproximateNumberOfMessagesNotVisible QueueName={"Fn::GetAtt":["QueuesExpress","QueueName"]}',
      ].sort(),
    );
    expect(expression).toBe(
      'FILL(expressVisible, 0) + FILL(bulkVisible, 0) + FILL(expressInFlight, 0) + FILL(bulkInFlight, 0)',
    );
    expect(policy.StepScalingPolicyConfiguration).toMatchObject({
      AdjustmentType: 'ExactCapacity',
      StepAdjustments: [{ MetricIntervalUpperBound: 0, ScalingAdjustment: 0 }],
    });
  });

  it('lets one task go when fewer than three messages per task remain for ten minutes, never the last', () => {
    const { alarm, policy, expression } = rule(template, 'ScaleDown');
    expect(alarm).toMatchObject({
      ComparisonOperator: 'LessThanThreshold',
      Threshold: SCALE_DOWN_MESSAGES_PER_TASK,
      EvaluationPeriods: 10,
      DatapointsToAlarm: 10,
      TreatMissingData: 'notBreaching',
    });
    expect(metricsOf(alarm)).toEqual(expect.arrayContaining([desiredTasks]));
    // One task or none: the value is the threshold itself, which never breaches "less than".
    expect(expression).toBe(
      'IF(FILL(tasks, 0) > 1, (FILL(expressVisible, 0) + FILL(bulkVisible, 0) + FILL(expressInFlight, 0) + FILL(bulkInFlight, 0)) / FILL(tasks, 0), 3)',
    );
    expect(policy.StepScalingPolicyConfiguration).toMatchObject({
      AdjustmentType: 'ChangeInCapacity',
      Cooldown: SCALE_OUT_COOLDOWN.toSeconds(),
      StepAdjustments: [{ MetricIntervalUpperBound: 0, ScalingAdjustment: -1 }],
    });
  });

  it('takes max tasks, the latency target and idle minutes from the settings', () => {
    const custom = Template.fromStack(
      fleetStack({
        maxTasks: 20,
        acceptableLatencySeconds: 120,
        secondsPerPage: 0.5,
        chunkPages: 4,
        idleMinutes: 30,
      }).stack,
    );
    custom.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 0,
      MaxCapacity: 20,
    });
    // 120 s ÷ (4 pages × 0.5 s) = 60 messages per task.
    expect(rule(custom, 'ScaleOut').alarm.Threshold).toBe(60);
    expect(rule(custom, 'ScaleOut').policy.StepScalingPolicyConfiguration.StepAdjustments[1]).toEqual({
      MetricIntervalLowerBound: 60,
      MetricIntervalUpperBound: 180,
      ScalingAdjustment: 2,
    });
    expect(rule(custom, 'ScaleIn').alarm).toMatchObject({ EvaluationPeriods: 30, DatapointsToAlarm: 30 });
    expect(rule(custom, 'ScaleFromZero').alarm.Threshold).toBe(1);
  });
});
