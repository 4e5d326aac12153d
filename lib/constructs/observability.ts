import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  LogQueryWidget,
  MathExpression,
  Metric,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ICluster } from 'aws-cdk-lib/aws-ecs';
import { EventField, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { SnsTopic } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  ENGINE_DIMENSION,
  ERROR_CODE_DIMENSION,
  METRIC,
  METRICS_NAMESPACE,
  SERVICE_DIMENSION,
  WORKER_SERVICE,
} from '../../lambdas/shared/metric-names.ts';

/** What the GPU worker fleet shows of itself; each part adds its widgets and alarms when given. */
export interface WorkerFleetParts {
  /** The ECS cluster, with Container Insights on: instance count, and tasks that fail to start. */
  readonly cluster?: ICluster;
  /** The worker service: its running tasks (Container Insights). */
  readonly service?: { readonly serviceName: string };
  /** The worker's log group: its latest errors on the dashboard. */
  readonly logGroup?: ILogGroup;
}

export interface ObservabilityProps {
  /** The work queues, each with its dead-letter queue. */
  readonly queues: {
    readonly express: IQueue;
    readonly bulk: IQueue;
    readonly expressDlq: IQueue;
    readonly bulkDlq: IQueue;
  };
  /** Other queues whose messages are work given up on (ingest's failed S3 events). */
  readonly failureQueues?: Readonly<Record<string, IQueue>>;
  readonly api: RestApi;
  readonly fleet?: WorkerFleetParts;
  /** An address subscribed to the operators' topic (it must confirm the subscription). */
  readonly alarmEmail?: string;
  /**
   * Oldest work message age that raises an alarm: work waits this long only when the fleet
   * cannot start or keep up.
   * @default Duration.minutes(30)
   */
  readonly oldestMessageAge?: Duration;
  /** Worker errors in five minutes that raise an alarm. @default 10 */
  readonly workerErrorThreshold?: number;
  /** API 5xx answers in five minutes that raise an alarm. @default 5 */
  readonly apiServerErrorThreshold?: number;
  /** @default RemovalPolicy.DESTROY (the topic keeps no messages) */
  readonly removalPolicy?: RemovalPolicy;
}

const FIVE_MINUTES = Duration.minutes(5);

/** One of the pipeline's own metrics (`metric-names.ts`) as the worker emits it. */
function workerMetric(metricName: string, statistic: string, label: string, period = FIVE_MINUTES): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { [SERVICE_DIMENSION]: WORKER_SERVICE },
    statistic,
    period,
    label,
  });
}

/**
 * Every series of a metric that carries an error code, one line per code, labelled by
 * CloudWatch's dynamic labels with the code (and, across services, the service).
 */
function byErrorCode(metricName: string, label: string, onlyWorker = false): MathExpression {
  const service = onlyWorker ? ` ${SERVICE_DIMENSION}="${WORKER_SERVICE}"` : '';
  const dimension = (name: string) => `\${PROP('Dim.${name}')}`;
  return new MathExpression({
    expression: `SEARCH('{${METRICS_NAMESPACE},${ERROR_CODE_DIMENSION},${SERVICE_DIMENSION}} MetricName="${metricName}"${service}', 'Sum', 300)`,
    label: onlyWorker
      ? `${label} ${dimension(ERROR_CODE_DIMENSION)}`
      : `${label} ${dimension(ERROR_CODE_DIMENSION)} (${dimension(SERVICE_DIMENSION)})`,
    period: FIVE_MINUTES,
  });
}

/** One line per engine (the worker's `Engine` dimension) of a metric, with `statistic` over `period`. */
function byEngine(metricName: string, statistic: string, label: string, period: Duration): MathExpression {
  return new MathExpression({
    expression: `SEARCH('{${METRICS_NAMESPACE},${ENGINE_DIMENSION},${SERVICE_DIMENSION}} MetricName="${metricName}" ${SERVICE_DIMENSION}="${WORKER_SERVICE}"', '${statistic}', ${period.toSeconds()})`,
    label: `${label} \${PROP('Dim.${ENGINE_DIMENSION}')}`,
    period,
  });
}

/**
 * The operators' view of the pipeline: a dashboard (queues, throughput, job outcomes, the
 * fleet, the worker's batches and engine time, the API) and alarms on an operators' topic of
 * their own, apart from the job events clients subscribe to: dead letters, work waiting too
 * long, worker errors, API 5xx answers, and worker tasks that fail to start.
 */
export class Observability extends Construct {
  /** Where alarms go; encrypted, TLS only. */
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: IAlarm[] = [];
  /** The dashboard in the CloudWatch console. */
  readonly dashboardUrl: string;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.topic = this.createTopic(props);
    const action = new SnsAction(this.topic);
    const alarm = (alarmId: string, options: ConstructorParameters<typeof Alarm>[2]): Alarm => {
      const created = new Alarm(this, alarmId, {
        treatMissingData: TreatMissingData.NOT_BREACHING,
        ...options,
      });
      created.addAlarmAction(action);
      created.addOkAction(action);
      this.alarms.push(created);
      return created;
    };

    const workQueues: [string, IQueue][] = [
      ['express', props.queues.express],
      ['bulk', props.queues.bulk],
    ];
    const deadLetterQueues: [string, IQueue][] = [
      ['express DLQ', props.queues.expressDlq],
      ['bulk DLQ', props.queues.bulkDlq],
      ...Object.entries(props.failureQueues ?? {}),
    ];
    const allQueues = [...workQueues, ...deadLetterQueues];
    // Alarms get plain metrics (a label would turn them into metric queries); graphs, labelled ones.
    const depth = (queue: IQueue, period: Duration, label?: string) =>
      queue.metricApproximateNumberOfMessagesVisible({ label, statistic: Stats.MAXIMUM, period });
    const oldestAge = (queue: IQueue, period: Duration, label?: string) =>
      queue.metricApproximateAgeOfOldestMessage({ label, statistic: Stats.MAXIMUM, period });

    for (const [label, queue] of deadLetterQueues) {
      alarm(`${alarmIdOf(label)}NotEmpty`, {
        alarmDescription: `Messages in the ${label}: work given up on (redrive it, or look at why it failed)`,
        metric: depth(queue, FIVE_MINUTES),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      });
    }
    const maxAge = props.oldestMessageAge ?? Duration.minutes(30);
    for (const [label, queue] of workQueues) {
      alarm(`${alarmIdOf(label)}OldestMessage`, {
        alarmDescription: `The oldest ${label} work message waited over ${maxAge.toHumanString()}: the fleet is not starting or not keeping up`,
        metric: oldestAge(queue, FIVE_MINUTES),
        threshold: maxAge.toSeconds(),
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      });
    }
    // Alarms cannot use SEARCH; a Metrics Insights query adds up every error code's series.
    alarm('WorkerErrors', {
      alarmDescription: 'The GPU worker met errors (transient or permanent), all codes together',
      metric: new MathExpression({
        expression: `SELECT SUM(${METRIC.workerErrors}) FROM SCHEMA("${METRICS_NAMESPACE}", ${ERROR_CODE_DIMENSION}, ${SERVICE_DIMENSION}) WHERE ${SERVICE_DIMENSION} = '${WORKER_SERVICE}'`,
        label: 'worker errors',
        period: FIVE_MINUTES,
      }),
      threshold: props.workerErrorThreshold ?? 10,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    const stage = props.api.deploymentStage;
    alarm('Api5xx', {
      alarmDescription: 'The jobs API answered 5xx (handler failures, authorizer failures, timeouts)',
      metric: stage.metricServerError({ statistic: Stats.SUM, period: FIVE_MINUTES }),
      threshold: props.apiServerErrorThreshold ?? 5,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });

    const fleet = props.fleet ?? {};
    const failedToStart = fleet.cluster ? this.watchTaskStarts(fleet.cluster) : undefined;

    const insights = (metricName: string, label: string, dimensionsMap: Record<string, string>) =>
      new Metric({
        namespace: 'ECS/ContainerInsights',
        metricName,
        dimensionsMap,
        statistic: Stats.MAXIMUM,
        period: Duration.minutes(1),
        label,
      });
    const fleetMetrics: IMetric[] = [
      ...(fleet.cluster && fleet.service
        ? [
            insights('RunningTaskCount', 'running tasks', {
              ClusterName: fleet.cluster.clusterName,
              ServiceName: fleet.service.serviceName,
            }),
          ]
        : []),
      ...(fleet.cluster
        ? [insights('ContainerInstanceCount', 'instances', { ClusterName: fleet.cluster.clusterName })]
        : []),
    ];

    const graph = (title: string, left: IMetric[], right: IMetric[] = [], width = 8) =>
      new GraphWidget({ title, left, right, width, height: 6 });
    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(
      graph(
        'Queue depth (visible messages)',
        allQueues.map(([label, queue]) => depth(queue, Duration.minutes(1), label)),
      ),
      graph(
        'Oldest message age (s)',
        allQueues.map(([label, queue]) => oldestAge(queue, Duration.minutes(1), label)),
      ),
      graph('Pages per minute', [workerMetric(METRIC.pages, Stats.SUM, 'pages/min', Duration.minutes(1))]),
    );
    this.dashboard.addWidgets(
      graph('Job outcomes (per 5 min)', [
        workerMetric(METRIC.jobsSucceeded, Stats.SUM, 'succeeded'),
        byErrorCode(METRIC.jobsFailed, 'failed'),
      ]),
      graph('Worker batch size (pages per engine batch)', [
        workerMetric(METRIC.batchPages, Stats.AVERAGE, 'average'),
        workerMetric(METRIC.batchPages, Stats.MAXIMUM, 'largest'),
      ]),
      graph(
        'Worker engine time (ms per chunk)',
        [
          workerMetric(METRIC.engineTime, Stats.AVERAGE, 'engine avg'),
          workerMetric(METRIC.engineTime, Stats.p(90), 'engine p90'),
          workerMetric(METRIC.decodeTime, Stats.p(90), 'decode p90'),
        ],
        [workerMetric(METRIC.queueWait, Stats.p(90), 'queue wait p90')],
      ),
    );
    this.dashboard.addWidgets(
      graph('Worker fleet', fleetMetrics, failedToStart ? [failedToStart] : []),
      graph('Worker errors by code (per 5 min)', [byErrorCode(METRIC.workerErrors, 'errors', true)]),
      graph(
        'API latency (ms)',
        [Stats.p(50), Stats.p(90), Stats.p(99)].map((statistic) =>
          stage.metricLatency({ statistic, label: `latency ${statistic}` }),
        ),
        [stage.metricIntegrationLatency({ statistic: Stats.p(90), label: 'integration p90' })],
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'API errors (per 5 min)',
        [
          stage.metricClientError({ statistic: Stats.SUM, period: FIVE_MINUTES, label: '4xx' }),
          stage.metricServerError({ statistic: Stats.SUM, period: FIVE_MINUTES, label: '5xx' }),
        ],
        [stage.metricCount({ statistic: Stats.SUM, period: FIVE_MINUTES, label: 'requests' })],
      ),
      new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 8, height: 6 }),
      graph(
        'Engines: pages per minute, escalations (per 5 min)',
        [byEngine(METRIC.enginePages, 'Sum', 'pages/min', Duration.minutes(1))],
        [byEngine(METRIC.escalations, 'Sum', 'escalated to', FIVE_MINUTES)],
      ),
      graph('Engines: ms per page', [byEngine(METRIC.enginePageTime, 'Average', 'ms/page', FIVE_MINUTES)]),
      ...(fleet.logGroup
        ? [
            new LogQueryWidget({
              title: 'Latest worker errors',
              logGroupNames: [fleet.logGroup.logGroupName],
              queryLines: [
                'fields @timestamp, message, error.name, error.message',
                'filter level = "ERROR"',
                'sort @timestamp desc',
                'limit 20',
              ],
              width: 8,
              height: 6,
            }),
          ]
        : []),
    );

    const region = Stack.of(this).region;
    this.dashboardUrl = `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`;
  }

  /**
   * The operators' topic. CloudWatch and EventBridge publish to it, so its key is a
   * customer-managed one whose policy lets them (an AWS-managed `aws/sns` key cannot).
   */
  private createTopic(props: ObservabilityProps): Topic {
    const key = new Key(this, 'TopicKey', {
      description: "Encrypts the OCR pipeline operators' alarm topic",
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AlarmsAndEventsPublishEncrypted',
        principals: [
          new ServicePrincipal('cloudwatch.amazonaws.com'),
          new ServicePrincipal('events.amazonaws.com'),
        ],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        // In a key policy "*" is this key itself.
        resources: ['*'],
      }),
    );
    const topic = new Topic(this, 'Topic', {
      displayName: 'OCR pipeline alarms',
      masterKey: key,
      enforceSSL: true,
    });
    // enforceSSL gives the topic a policy of its own, which replaces the default that let the
    // account's alarms publish: let them again, this account's only.
    topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: {
            'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*`,
          },
        },
      }),
    );
    if (props.alarmEmail) topic.addSubscription(new EmailSubscription(props.alarmEmail));
    return topic;
  }

  /**
   * Worker tasks that stop before their container ran (image pull, GPU or ENI not found,
   * secrets): ECS says so in a task state change, which goes to the topic as it happens.
   * Returns the rule's count of such events for the dashboard.
   */
  private watchTaskStarts(cluster: ICluster): Metric {
    const rule = new Rule(this, 'TasksFailingToStart', {
      description: 'OCR pipeline worker tasks that failed to start',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [cluster.clusterArn],
          lastStatus: ['STOPPED'],
          stopCode: ['TaskFailedToStart'],
        },
      },
      targets: [
        new SnsTopic(this.topic, {
          message: RuleTargetInput.fromText(
            `OCR pipeline worker task failed to start: ${EventField.fromPath('$.detail.stoppedReason')} (${EventField.fromPath('$.detail.taskArn')})`,
          ),
        }),
      ],
    });
    return new Metric({
      namespace: 'AWS/Events',
      metricName: 'TriggeredRules',
      dimensionsMap: { RuleName: rule.ruleName },
      statistic: Stats.SUM,
      period: FIVE_MINUTES,
      label: 'tasks failed to start',
    });
  }
}

/** `express DLQ` → `ExpressDlq`, `ingest failures` → `IngestFailures`. */
function alarmIdOf(label: string): string {
  return label
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word[0]?.toUpperCase() + word.slice(1).toLowerCase())
    .join('');
}
