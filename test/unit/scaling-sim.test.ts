import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  AdjustmentType,
  MetricAggregationType,
  ScalableTarget,
  ServiceNamespace,
  StepScalingAction,
} from 'aws-cdk-lib/aws-applicationautoscaling';
import { Alarm, ComparisonOperator, MathExpression, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { ApplicationScalingAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SIM_SETTINGS, synthesizeTemplate } from '../../bench/scaling.ts';
import {
  adjustedCapacity,
  alarmState,
  evaluateExpression,
  readScalingPlan,
  type ScalingPlan,
  stepFor,
} from '../../bench/scaling-plan.ts';
import { arrivalCurve, percentile, type SimSettings, simulate, summarize } from '../../bench/scaling-sim.ts';
import { WorkQueues } from '../../lib/constructs/work-queues.ts';
import { SETTINGS_DEFAULTS, scaleOutBacklogPerTask } from '../../lib/settings.ts';
import { testApp, testStack } from '../cdk/support.ts';

/**
 * A small scaling setup built with the same CDK classes a real one uses: a wake-up alarm
 * (work visible, no task running → 1 task), a backlog-per-task alarm (+1 / +2 tasks) and an idle
 * alarm (nothing visible or in flight for 5 minutes → 0 tasks), on a target of 0–3 tasks.
 */
function fixtureTemplate(): {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
} {
  const stack: Stack = testStack(testApp());
  const queues = new WorkQueues(stack, 'Queues');
  const target = new ScalableTarget(stack, 'Target', {
    serviceNamespace: ServiceNamespace.ECS,
    scalableDimension: 'ecs:service:DesiredCount',
    resourceId: 'service/cluster/worker',
    minCapacity: 0,
    maxCapacity: 3,
  });
  const minute = Duration.minutes(1);
  const usingMetrics = {
    ev: queues.express.metricApproximateNumberOfMessagesVisible({ period: minute, statistic: 'Maximum' }),
    bv: queues.bulk.metricApproximateNumberOfMessagesVisible({ period: minute, statistic: 'Maximum' }),
    en: queues.express.metricApproximateNumberOfMessagesNotVisible({ period: minute, statistic: 'Maximum' }),
    bn: queues.bulk.metricApproximateNumberOfMessagesNotVisible({ period: minute, statistic: 'Maximum' }),
    rt: new Metric({
      namespace: 'ECS/ContainerInsights',
      metricName: 'RunningTaskCount',
      dimensionsMap: { ClusterName: 'cluster', ServiceName: 'worker' },
      period: minute,
      statistic: 'Average',
    }),
  };
  const policy = (
    id: string,
    type: AdjustmentType,
    cooldown: number,
    steps: [number | undefined, number | undefined, number][],
  ) => {
    const action = new StepScalingAction(stack, id, {
      scalingTarget: target,
      adjustmentType: type,
      cooldown: Duration.seconds(cooldown),
      metricAggregationType: MetricAggregationType.MAXIMUM,
    });
    for (const [lowerBound, upperBound, adjustment] of steps)
      action.addAdjustment({ lowerBound, upperBound, adjustment });
    return new ApplicationScalingAction(action);
  };
  const alarm = (
    id: string,
    expression: string,
    threshold: number,
    comparison: ComparisonOperator,
    periods: number,
  ) =>
    new Alarm(stack, id, {
      metric: new MathExpression({ expression, usingMetrics, period: minute }),
      threshold,
      comparisonOperator: comparison,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
    });
  alarm(
    'Wake',
    'IF(rt == 0, ev + bv, 0)',
    1,
    ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    1,
  ).addAlarmAction(policy('WakePolicy', AdjustmentType.EXACT_CAPACITY, 60, [[0, undefined, 1]]));
  alarm(
    'Backlog',
    '(ev + bv) / MAX([rt, 1])',
    50,
    ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    1,
  ).addAlarmAction(
    policy('BacklogPolicy', AdjustmentType.CHANGE_IN_CAPACITY, 120, [
      [0, 50, 1],
      [50, undefined, 2],
    ]),
  );
  alarm('Idle', 'ev + bv + en + bn', 0, ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD, 5).addAlarmAction(
    policy('IdlePolicy', AdjustmentType.EXACT_CAPACITY, 60, [[undefined, 0, 0]]),
  );
  // An alarm that scales nothing is not part of the plan.
  new Alarm(stack, 'DlqNotEmpty', {
    metric: queues.expressDlq.metricApproximateNumberOfMessagesVisible(),
    threshold: 1,
    evaluationPeriods: 1,
  });
  return Template.fromStack(stack).toJSON() as ReturnType<typeof fixtureTemplate>;
}

const PLAN: ScalingPlan = readScalingPlan(fixtureTemplate());

/** One burst of 200 pages (25 messages) in minute 60 of a day with nothing else. */
const BURST: SimSettings = {
  pagesPerDay: 200,
  pagesPerMessage: 8,
  secondsPerPage: 0.25,
  concurrency: 4,
  expressShare: 0.5,
  diurnalAmplitude: 0,
  peakHourUtc: 0,
  spikes: [{ atHour: 1, pages: 200, minutes: 1, queue: 'bulk' }],
  instanceBootSeconds: 240,
  imagePullSeconds: 120,
  engineStartSeconds: 30,
  instanceIdleSeconds: 600,
  metricDelaySeconds: 60,
  warmupDays: 0,
  onDemandPerHour: 0.8,
  spotPerHour: 0.3,
};

describe('readScalingPlan', () => {
  it('reads capacity limits, the scaling alarms and their step policies from the template', () => {
    expect(PLAN.minCapacity).toBe(0);
    expect(PLAN.maxCapacity).toBe(3);
    const byId = (prefix: string) => PLAN.alarms.find((alarm) => alarm.logicalId.startsWith(prefix))!;
    expect(PLAN.alarms.map((alarm) => alarm.logicalId.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
      'Backlog',
      'Idle',
      'Wake',
    ]);
    const backlog = byId('Backlog');
    expect(backlog).toMatchObject({
      threshold: 50,
      comparison: 'GreaterThanOrEqualToThreshold',
      evaluationPeriods: 1,
      periodSeconds: 60,
    });
    expect(backlog.queries.find((query) => query.returnData)?.expression).toBe('(ev + bv) / MAX([rt, 1])');
    expect(backlog.queries.find((query) => query.id === 'bv')).toMatchObject({
      metric: { source: 'sqs', queue: 'bulk', name: 'ApproximateNumberOfMessagesVisible' },
      stat: 'Maximum',
      periodSeconds: 60,
    });
    expect(backlog.queries.find((query) => query.id === 'rt')?.metric).toEqual({
      source: 'ecs',
      name: 'RunningTaskCount',
    });
    const policy = PLAN.policies.get(backlog.policies[0]!)!;
    expect(policy).toMatchObject({
      adjustmentType: 'ChangeInCapacity',
      cooldownSeconds: 120,
      aggregation: 'Maximum',
    });
    expect(policy.steps).toEqual([
      { lower: 0, upper: 50, adjustment: 1 },
      { lower: 50, adjustment: 2 },
    ]);
    expect(byId('Idle')).toMatchObject({ evaluationPeriods: 5, datapointsToAlarm: 5 });
  });

  it('refuses a metric the simulation does not produce, rather than reading it as zero', () => {
    const template = fixtureTemplate();
    const wake = Object.values(template.Resources).find(
      (resource) => resource.Type === 'AWS::CloudWatch::Alarm' && JSON.stringify(resource).includes('IF(rt'),
    )!;
    const metrics = wake.Properties!.Metrics as { MetricStat?: { Metric: { MetricName: string } } }[];
    metrics.find((query) => query.MetricStat)!.MetricStat!.Metric.MetricName = 'CPUUtilization';
    expect(() => readScalingPlan(template)).toThrow(/does not produce/);
  });
});

describe('metric math, alarms and steps', () => {
  it('evaluates the expressions scaling alarms use, with missing data propagating', () => {
    expect(evaluateExpression('(ev + bv) / MAX([rt, 1])', { ev: 30, bv: 90, rt: 0 })).toBe(120);
    expect(evaluateExpression('(ev + bv) / MAX([rt, 1])', { ev: 30, bv: 90, rt: 4 })).toBe(30);
    expect(evaluateExpression('IF(rt == 0 AND ev > 0, 1, 0)', { rt: 0, ev: 2 })).toBe(1);
    expect(evaluateExpression('ev + bv', { ev: null, bv: 3 })).toBeNull();
    expect(evaluateExpression('FILL(ev, 0) + bv', { ev: null, bv: 3 })).toBe(3);
    expect(evaluateExpression('-a * 2 + 10 / 4', { a: 1 })).toBe(0.5);
    expect(() => evaluateExpression('ANOMALY_DETECTION_BAND(m)', { m: 1 })).toThrow(/not simulated/);
  });

  it('judges M out of N datapoints, leaving the state alone when all are missing', () => {
    const alarm = {
      comparison: 'GreaterThanOrEqualToThreshold' as const,
      threshold: 10,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: 'missing' as const,
    };
    expect(alarmState(alarm, [11, 5, 12])).toBe('ALARM');
    expect(alarmState(alarm, [11, 5, 9])).toBe('OK');
    expect(alarmState(alarm, [null, null, null])).toBeNull();
    expect(alarmState({ ...alarm, treatMissingData: 'breaching' }, [null, 5, null])).toBe('ALARM');
  });

  it('picks steps with Application Auto Scaling bounds on each side of the threshold', () => {
    const steps = {
      steps: [
        { upper: -10, adjustment: -2 },
        { lower: -10, upper: 0, adjustment: -1 },
      ],
    };
    expect(stepFor(steps, 'LessThanOrEqualToThreshold', -10)?.adjustment).toBe(-2);
    expect(stepFor(steps, 'LessThanOrEqualToThreshold', 0)?.adjustment).toBe(-1);
    const up = {
      steps: [
        { lower: 0, upper: 50, adjustment: 1 },
        { lower: 50, adjustment: 2 },
      ],
    };
    expect(stepFor(up, 'GreaterThanOrEqualToThreshold', 0)?.adjustment).toBe(1);
    expect(stepFor(up, 'GreaterThanOrEqualToThreshold', 50)?.adjustment).toBe(2);
    expect(adjustedCapacity({ adjustmentType: 'PercentChangeInCapacity' }, 50, 3)).toBe(4);
    expect(
      adjustedCapacity({ adjustmentType: 'PercentChangeInCapacity', minAdjustmentMagnitude: 2 }, 10, 3),
    ).toBe(5);
  });
});

describe('simulate', () => {
  it('spreads a day of pages over the curve and the spikes', () => {
    const curve = arrivalCurve({ ...BURST, pagesPerDay: 1_000_000, diurnalAmplitude: 0.6, peakHourUtc: 14 });
    const total = [...curve.express, ...curve.bulk].reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(1_000_000, 3);
    expect(curve.bulk[60]! - curve.bulk[59]!).toBeGreaterThan(199);
    expect(curve.express[14 * 60]! / curve.express[2 * 60]!).toBeGreaterThan(3);
  });

  it('wakes from zero, boots, works the burst off and returns to zero on the minutes CloudWatch allows', () => {
    const result = simulate(PLAN, BURST);
    // Minute 60's datapoint reaches the alarms at the end of minute 61: wake to 1 task.
    expect(result.scalingActivities[0]).toMatchObject({ minute: 61, from: 0, to: 1 });
    // Ready 240 + 120 + 30 s after 62:00; 25 messages × 8 pages × 0.25 s = 50 s of work, done by 69:20,
    // then five empty minutes (69–73) before the idle alarm sets 0 at the end of minute 74.
    expect(result.scalingActivities.slice(1)).toEqual([
      { minute: 74, policy: expect.stringMatching(/^IdlePolicy/), from: 1, to: 0 },
    ]);
    expect(result.pagesDone).toBe(200);
    // First message: sent at 60:01.2, done at 68:32 (ready 68:30 + 2 s); last: sent 60:58.8, done 69:20.
    expect(Math.min(...result.messageLatencySeconds)).toBeCloseTo(501.2, 6);
    expect(Math.max(...result.messageLatencySeconds)).toBeCloseTo(510.8, 6);
    // The instance is billed from launch (62:00) until it has been empty 600 s (75:00 + 10 min).
    expect(result.instanceSeconds).toBe(85 * 60 - 62 * 60);
    const summary = summarize(result, BURST);
    expect(summary.maxTasks).toBe(1);
    expect(summary.costPer1000PagesOnDemand).toBeCloseTo(((23 / 60) * 0.8 * 1000) / 200, 9);
    expect(result.minutes.find((sample) => sample.minute === 65)?.oldestAgeSeconds).toBeCloseTo(360 - 1.2, 6);
  });

  it('keeps within the capacity limit and scales by backlog under a day of traffic', () => {
    const settings = {
      ...BURST,
      pagesPerDay: 400_000,
      diurnalAmplitude: 1,
      peakHourUtc: 14,
      spikes: [],
      warmupDays: 1,
    };
    const result = simulate(PLAN, settings);
    const summary = summarize(result, settings);
    expect(summary.maxTasks).toBe(3);
    expect(result.scalingActivities.some((activity) => activity.policy.startsWith('BacklogPolicy'))).toBe(
      true,
    );
    // Amplitude 1: the night around 02:00 is nearly empty, so the fleet reaches zero; 14:00 is busy.
    const night = result.minutes.filter((sample) => sample.minute >= 60 && sample.minute < 3 * 60);
    expect(night.some((sample) => sample.tasks === 0)).toBe(true);
    expect(result.minutes.find((sample) => sample.minute === 14 * 60)?.tasks).toBe(3);
    expect(summary.gpuHours).toBeGreaterThanOrEqual(summary.taskHours);
    expect(summary.oldestAgeP99S).toBeGreaterThanOrEqual(summary.oldestAgeP50S);
  });

  it('takes nearest-rank percentiles', () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        99,
      ),
    ).toBe(99);
    expect(percentile([], 99)).toBe(0);
  });
});

describe('the synthesized stack', () => {
  it('has a scaling plan the simulation reads whole, with the deployment settings in it', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'scaling-stack-'));
    try {
      const { template, settings, queueRoles } = synthesizeTemplate({ maxTasks: '6' }, outdir);
      const plan = readScalingPlan(template, queueRoles);
      expect(settings.maxTasks).toBe(6);
      expect(plan.maxCapacity).toBe(6);
      expect(plan.minCapacity).toBe(0);
      expect(plan.alarms.map((alarm) => alarm.threshold)).toContain(
        scaleOutBacklogPerTask(SETTINGS_DEFAULTS),
      );
      expect(Object.values(queueRoles).sort()).toEqual(['bulk', 'express']);
      const sim = {
        ...DEFAULT_SIM_SETTINGS,
        pagesPerDay: 100_000,
        warmupDays: 0,
        pagesPerMessage: settings.chunkPages,
        secondsPerPage: settings.secondsPerPage,
      };
      const summary = summarize(simulate(plan, sim), sim);
      expect(summary.pagesDone).toBeGreaterThan(90_000);
      expect(summary.maxTasks).toBeGreaterThan(0);
      expect(summary.maxTasks).toBeLessThanOrEqual(6);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 120_000);
});
