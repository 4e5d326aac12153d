import { Duration, Stack } from 'aws-cdk-lib';
import {
  type AdjustmentTier,
  AdjustmentType,
  MetricAggregationType,
  ScalableTarget,
  ServiceNamespace,
  StepScalingAction,
} from 'aws-cdk-lib/aws-applicationautoscaling';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { ApplicationScalingAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Ec2Service, ICluster } from 'aws-cdk-lib/aws-ecs';
import { Role } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { WorkQueues } from './work-queues.ts';

/** Every alarm looks at one-minute points: SQS publishes its queue metrics once a minute. */
const PERIOD = Duration.minutes(1);

/**
 * Between two scale-outs: a GPU task needs an instance launched, the image pulled and the models
 * loaded before it takes messages, and until then the backlog still looks as large as before.
 * A repeated alarm inside the cooldown adds nothing unless it asks for a bigger step.
 */
export const SCALE_OUT_COOLDOWN = Duration.minutes(5);

/**
 * Messages per task (visible + in flight) below which one task is let go, when the level holds
 * for {@link SCALE_DOWN_MINUTES}. A worker keeps up to four messages in hand, so below three per
 * task the fleet is no longer kept busy; tasks holding work are not stopped (task scale-in
 * protection), ECS picks an idle one.
 */
export const SCALE_DOWN_MESSAGES_PER_TASK = 3;
export const SCALE_DOWN_MINUTES = 10;

/** One alarm and the one step scaling policy it triggers. */
export class ScalingRule extends Construct {
  readonly alarm: Alarm;
  readonly policy: StepScalingAction;

  constructor(
    scope: Construct,
    id: string,
    props: {
      target: ScalableTarget;
      description: string;
      metric: IMetric;
      comparisonOperator: ComparisonOperator;
      threshold: number;
      evaluationPeriods: number;
      treatMissingData: TreatMissingData;
      adjustmentType: AdjustmentType;
      adjustments: AdjustmentTier[];
      cooldown: Duration;
    },
  ) {
    super(scope, id);
    this.policy = new StepScalingAction(this, 'Policy', {
      scalingTarget: props.target,
      adjustmentType: props.adjustmentType,
      cooldown: props.cooldown,
      metricAggregationType: MetricAggregationType.MAXIMUM,
    });
    for (const adjustment of props.adjustments) this.policy.addAdjustment(adjustment);
    this.alarm = new Alarm(this, 'Alarm', {
      alarmDescription: props.description,
      metric: props.metric,
      comparisonOperator: props.comparisonOperator,
      threshold: props.threshold,
      evaluationPeriods: props.evaluationPeriods,
      datapointsToAlarm: props.evaluationPeriods,
      treatMissingData: props.treatMissingData,
    });
    this.alarm.addAlarmAction(new ApplicationScalingAction(this.policy));
  }
}

export interface WorkerScalingProps {
  readonly service: Ec2Service;
  readonly cluster: ICluster;
  readonly queues: WorkQueues;
  /** The service's most tasks (MaxCapacity of the scalable target). */
  readonly maxTasks: number;
  /** Visible messages per task above which a task is added (`scaleOutBacklogPerTask`). */
  readonly backlogPerTask: number;
  /** Minutes with both queues empty, nothing in flight included, before scaling to zero. */
  readonly idleMinutes: number;
}

/**
 * Scales the worker service on the depth of both work queues, with step scaling only: target
 * tracking scales in proportion to the current count, so it can never leave zero, and two
 * policies on one target would race. Three alarms, each with metric math over both queues and
 * one policy:
 *
 * - `ScaleFromZero`: work is visible (≥ 1 message for one minute) while the service wants no
 *   task: +1. Gated on the task count so it never fires beside running tasks.
 * - `ScaleOut`: visible messages ÷ max(tasks, 1) above the backlog a task clears within the
 *   acceptable latency: +1, +2 or +4 by how far above.
 * - `ScaleIn`: visible + in-flight = 0 on both queues for `idleMinutes`: exactly 0. In-flight
 *   messages keep their task: nothing is scaled in under a worker that holds work.
 * - `ScaleDown`: more than one task and fewer than three messages (visible + in flight) per task
 *   for ten minutes: −1. Without it the only way down is to zero, and a day of steady traffic
 *   keeps every task the morning's peak started until night (measured with `npm run
 *   bench:scaling`: 36% fewer GPU-hours at 1M pages/day, and shorter waits, see bench/README.md).
 *
 * The task count is Container Insights' `DesiredTaskCount` (the cluster has it on): what the
 * policies already asked for, so tasks still starting on new instances count and a scale-out is
 * not repeated while they start. Missing points (Container Insights sends none for a service
 * with no tasks on some setups) count as zero.
 */
export class WorkerScaling extends Construct {
  readonly scalableTarget: ScalableTarget;
  readonly scaleFromZero: ScalingRule;
  readonly scaleOut: ScalingRule;
  readonly scaleIn: ScalingRule;
  readonly scaleDown: ScalingRule;

  constructor(scope: Construct, id: string, props: WorkerScalingProps) {
    super(scope, id);
    const { service, cluster, queues } = props;

    this.scalableTarget = new ScalableTarget(this, 'Target', {
      serviceNamespace: ServiceNamespace.ECS,
      scalableDimension: 'ecs:service:DesiredCount',
      resourceId: `service/${cluster.clusterName}/${service.serviceName}`,
      minCapacity: 0,
      maxCapacity: props.maxTasks,
      // ECS's service-linked role for Application Auto Scaling, as the ECS constructs use: no
      // role of our own to keep.
      role: Role.fromRoleArn(
        this,
        'ServiceLinkedRole',
        Stack.of(this).formatArn({
          region: '',
          service: 'iam',
          resource: 'role/aws-service-role/ecs.application-autoscaling.amazonaws.com',
          resourceName: 'AWSServiceRoleForApplicationAutoScaling_ECSService',
        }),
      ),
    });
    this.scalableTarget.node.addDependency(service);

    const queueMetric = (queue: WorkQueues['express'], name: string) =>
      new Metric({
        namespace: 'AWS/SQS',
        metricName: name,
        dimensionsMap: { QueueName: queue.queueName },
        statistic: 'Maximum',
        period: PERIOD,
      });
    const visible = {
      expressVisible: queueMetric(queues.express, 'ApproximateNumberOfMessagesVisible'),
      bulkVisible: queueMetric(queues.bulk, 'ApproximateNumberOfMessagesVisible'),
    };
    const inFlight = {
      expressInFlight: queueMetric(queues.express, 'ApproximateNumberOfMessagesNotVisible'),
      bulkInFlight: queueMetric(queues.bulk, 'ApproximateNumberOfMessagesNotVisible'),
    };
    const tasks = new Metric({
      namespace: 'ECS/ContainerInsights',
      metricName: 'DesiredTaskCount',
      dimensionsMap: { ClusterName: cluster.clusterName, ServiceName: service.serviceName },
      statistic: 'Maximum',
      period: PERIOD,
    });
    const visibleSum = 'FILL(expressVisible, 0) + FILL(bulkVisible, 0)';
    const taskCount = 'FILL(tasks, 0)';

    this.scaleFromZero = new ScalingRule(this, 'ScaleFromZero', {
      target: this.scalableTarget,
      description: 'OCR workers: scale from zero, visible work messages while no task is wanted',
      metric: new MathExpression({
        label: 'Visible messages while the service wants no task',
        expression: `IF(${taskCount} < 1, ${visibleSum}, 0)`,
        usingMetrics: { ...visible, tasks },
        period: PERIOD,
      }),
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: 1,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      adjustmentType: AdjustmentType.CHANGE_IN_CAPACITY,
      adjustments: [{ lowerBound: 0, adjustment: 1 }],
      cooldown: SCALE_OUT_COOLDOWN,
    });

    const step = props.backlogPerTask;
    this.scaleOut = new ScalingRule(this, 'ScaleOut', {
      target: this.scalableTarget,
      description: `OCR workers: scale out, backlog per task above ${step} messages`,
      metric: new MathExpression({
        label: 'Visible messages per task',
        expression: `(${visibleSum}) / IF(${taskCount} > 1, ${taskCount}, 1)`,
        usingMetrics: { ...visible, tasks },
        period: PERIOD,
      }),
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      threshold: step,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      adjustmentType: AdjustmentType.CHANGE_IN_CAPACITY,
      // Bounds are offsets from the threshold: up to 2× the target adds one task, up to 4× two,
      // beyond that four.
      adjustments: [
        { lowerBound: 0, upperBound: step, adjustment: 1 },
        { lowerBound: step, upperBound: 3 * step, adjustment: 2 },
        { lowerBound: 3 * step, adjustment: 4 },
      ],
      cooldown: SCALE_OUT_COOLDOWN,
    });

    this.scaleIn = new ScalingRule(this, 'ScaleIn', {
      target: this.scalableTarget,
      description: `OCR workers: scale in to zero, no visible or in-flight message for ${props.idleMinutes} min`,
      metric: new MathExpression({
        label: 'Visible and in-flight messages',
        expression: `${visibleSum} + FILL(expressInFlight, 0) + FILL(bulkInFlight, 0)`,
        usingMetrics: { ...visible, ...inFlight },
        period: PERIOD,
      }),
      comparisonOperator: ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: 0,
      evaluationPeriods: props.idleMinutes,
      // SQS stops publishing for a queue that has been empty for a while: no data is idle.
      treatMissingData: TreatMissingData.BREACHING,
      adjustmentType: AdjustmentType.EXACT_CAPACITY,
      adjustments: [{ upperBound: 0, adjustment: 0 }],
      cooldown: Duration.minutes(1),
    });

    this.scaleDown = new ScalingRule(this, 'ScaleDown', {
      target: this.scalableTarget,
      description: `OCR workers: one task fewer, under ${SCALE_DOWN_MESSAGES_PER_TASK} messages per task for ${SCALE_DOWN_MINUTES} min`,
      metric: new MathExpression({
        label: 'Visible and in-flight messages per task (while more than one task is wanted)',
        // With one task or none the value is out of reach: the last task goes only by ScaleIn.
        expression: `IF(${taskCount} > 1, (${visibleSum} + FILL(expressInFlight, 0) + FILL(bulkInFlight, 0)) / ${taskCount}, ${SCALE_DOWN_MESSAGES_PER_TASK})`,
        usingMetrics: { ...visible, ...inFlight, tasks },
        period: PERIOD,
      }),
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      threshold: SCALE_DOWN_MESSAGES_PER_TASK,
      evaluationPeriods: SCALE_DOWN_MINUTES,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      adjustmentType: AdjustmentType.CHANGE_IN_CAPACITY,
      adjustments: [{ upperBound: 0, adjustment: -1 }],
      cooldown: SCALE_OUT_COOLDOWN,
    });
  }

  /** The four alarms, for dashboards and the scaling benchmark. */
  get alarms(): Alarm[] {
    return [this.scaleFromZero.alarm, this.scaleOut.alarm, this.scaleDown.alarm, this.scaleIn.alarm];
  }
}
