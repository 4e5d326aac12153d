/**
 * The worker fleet's scaling policy as the synthesized template states it, and the rules by
 * which CloudWatch and Application Auto Scaling carry it out, so that `bench/scaling.ts`
 * simulates what deploys and nothing else. Everything here reads CloudFormation shapes:
 * `AWS::ApplicationAutoScaling::ScalableTarget` (capacity limits),
 * `AWS::CloudWatch::Alarm` (a metric or metric math, threshold, periods, datapoints) and the
 * `AWS::ApplicationAutoScaling::ScalingPolicy` each alarm invokes (step adjustments, cooldown).
 * A metric the simulation does not produce is an error, not a zero.
 */

/** What the simulation can measure each minute; `queue` names a work queue by its role. */
export type SimMetric =
  | { source: 'sqs'; queue: 'express' | 'bulk'; name: SqsMetricName }
  | { source: 'ecs'; name: EcsMetricName };

const SQS_METRICS = [
  'ApproximateNumberOfMessagesVisible',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateAgeOfOldestMessage',
  'NumberOfMessagesReceived',
  'NumberOfMessagesDeleted',
  'NumberOfMessagesSent',
] as const;
type SqsMetricName = (typeof SQS_METRICS)[number];
const ECS_METRICS = ['RunningTaskCount', 'DesiredTaskCount', 'PendingTaskCount'] as const;
type EcsMetricName = (typeof ECS_METRICS)[number];

export type Statistic = 'Sum' | 'Average' | 'Maximum' | 'Minimum' | 'SampleCount';

export interface MetricQuery {
  id: string;
  returnData: boolean;
  expression?: string;
  metric?: SimMetric;
  stat?: Statistic;
  periodSeconds?: number;
}

export type Comparison =
  | 'GreaterThanOrEqualToThreshold'
  | 'GreaterThanThreshold'
  | 'LessThanThreshold'
  | 'LessThanOrEqualToThreshold';

export interface AlarmSpec {
  logicalId: string;
  queries: MetricQuery[];
  periodSeconds: number;
  threshold: number;
  comparison: Comparison;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  treatMissingData: 'missing' | 'notBreaching' | 'breaching' | 'ignore';
  /** Logical ids of the scaling policies in the alarm's actions. */
  policies: string[];
}

export interface StepAdjustment {
  lower?: number;
  upper?: number;
  adjustment: number;
}

export interface StepPolicySpec {
  logicalId: string;
  adjustmentType: 'ChangeInCapacity' | 'ExactCapacity' | 'PercentChangeInCapacity';
  cooldownSeconds: number;
  aggregation: 'Average' | 'Minimum' | 'Maximum';
  minAdjustmentMagnitude?: number;
  steps: StepAdjustment[];
}

export interface ScalingPlan {
  minCapacity: number;
  maxCapacity: number;
  alarms: AlarmSpec[];
  policies: Map<string, StepPolicySpec>;
}

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

/** Which work queue a logical id is; by default from the WorkQueues construct's ids. */
export type QueueRoles = Record<string, 'express' | 'bulk'>;

export function defaultQueueRoles(resources: Resources): QueueRoles {
  const roles: QueueRoles = {};
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::SQS::Queue' || /dlq/i.test(id)) continue;
    if (/Express/.test(id)) roles[id] = 'express';
    else if (/Bulk/.test(id)) roles[id] = 'bulk';
  }
  return roles;
}

const refOf = (value: unknown): string | undefined => {
  if (value && typeof value === 'object') {
    const ref = (value as { Ref?: unknown }).Ref;
    if (typeof ref === 'string') return ref;
    const getAtt = (value as { 'Fn::GetAtt'?: unknown })['Fn::GetAtt'];
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  }
  return undefined;
};

function simMetric(
  namespace: unknown,
  name: unknown,
  dimensions: unknown,
  roles: QueueRoles,
  where: string,
): SimMetric {
  const dims = (Array.isArray(dimensions) ? dimensions : []) as { Name: string; Value: unknown }[];
  if (namespace === 'AWS/SQS' && SQS_METRICS.includes(name as SqsMetricName)) {
    const queueDim = dims.find((dim) => dim.Name === 'QueueName');
    const queueId = refOf(queueDim?.Value);
    const role = queueId ? roles[queueId] : undefined;
    if (!role) throw new Error(`${where}: ${String(name)} of a queue that is not a work queue (${queueId})`);
    return { source: 'sqs', queue: role, name: name as SqsMetricName };
  }
  if (namespace === 'ECS/ContainerInsights' && ECS_METRICS.includes(name as EcsMetricName)) {
    return { source: 'ecs', name: name as EcsMetricName };
  }
  throw new Error(`${where}: the simulation does not produce ${String(namespace)} ${String(name)}`);
}

function alarmQueries(id: string, props: Record<string, unknown>, roles: QueueRoles): MetricQuery[] {
  if (Array.isArray(props.Metrics)) {
    return (props.Metrics as Record<string, unknown>[]).map((query) => {
      const stat = query.MetricStat as
        | { Metric: Record<string, unknown>; Period: number; Stat: Statistic }
        | undefined;
      return {
        id: String(query.Id),
        returnData: query.ReturnData !== false,
        ...(typeof query.Expression === 'string' ? { expression: query.Expression } : {}),
        ...(stat
          ? {
              metric: simMetric(
                stat.Metric.Namespace,
                stat.Metric.MetricName,
                stat.Metric.Dimensions,
                roles,
                `alarm ${id}`,
              ),
              stat: stat.Stat,
              periodSeconds: Number(stat.Period),
            }
          : {}),
      };
    });
  }
  return [
    {
      id: 'm',
      returnData: true,
      metric: simMetric(props.Namespace, props.MetricName, props.Dimensions, roles, `alarm ${id}`),
      stat: props.Statistic as Statistic,
      periodSeconds: Number(props.Period),
    },
  ];
}

/**
 * The scaling plan of a template with one scalable target. Only alarms whose actions invoke a
 * step scaling policy of that target take part; other alarms (DLQ, errors) are not scaling.
 */
export function readScalingPlan(
  template: { Resources: Resources },
  roles: QueueRoles = defaultQueueRoles(template.Resources),
): ScalingPlan {
  const resources = template.Resources;
  const targets = Object.entries(resources).filter(
    ([, r]) => r.Type === 'AWS::ApplicationAutoScaling::ScalableTarget',
  );
  if (targets.length !== 1) throw new Error(`expected one scalable target, found ${targets.length}`);
  const [targetId, target] = targets[0]!;
  const policies = new Map<string, StepPolicySpec>();
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::ApplicationAutoScaling::ScalingPolicy') continue;
    const props = resource.Properties ?? {};
    if (refOf(props.ScalingTargetId) !== targetId) continue;
    const config = props.StepScalingPolicyConfiguration as Record<string, unknown> | undefined;
    if (props.PolicyType !== 'StepScaling' || !config)
      throw new Error(`policy ${id}: only step scaling is simulated (${String(props.PolicyType)})`);
    policies.set(id, {
      logicalId: id,
      adjustmentType: config.AdjustmentType as StepPolicySpec['adjustmentType'],
      cooldownSeconds: Number(config.Cooldown ?? 0),
      aggregation: (config.MetricAggregationType as StepPolicySpec['aggregation']) ?? 'Average',
      ...(config.MinAdjustmentMagnitude !== undefined
        ? { minAdjustmentMagnitude: Number(config.MinAdjustmentMagnitude) }
        : {}),
      steps: ((config.StepAdjustments as Record<string, unknown>[]) ?? []).map((step) => ({
        ...(step.MetricIntervalLowerBound !== undefined
          ? { lower: Number(step.MetricIntervalLowerBound) }
          : {}),
        ...(step.MetricIntervalUpperBound !== undefined
          ? { upper: Number(step.MetricIntervalUpperBound) }
          : {}),
        adjustment: Number(step.ScalingAdjustment),
      })),
    });
  }
  const alarms: AlarmSpec[] = [];
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::CloudWatch::Alarm') continue;
    const props = resource.Properties ?? {};
    const actions = ((props.AlarmActions as unknown[]) ?? []).map(refOf).filter((ref) => ref !== undefined);
    const invoked = actions.filter((ref) => policies.has(ref));
    if (invoked.length === 0) continue;
    const queries = alarmQueries(id, props, roles);
    const periods = queries.map((query) => query.periodSeconds).filter((p) => p !== undefined);
    const periodSeconds = Math.max(...periods);
    if (periods.some((p) => p !== periodSeconds) || periodSeconds % 60 !== 0)
      throw new Error(`alarm ${id}: periods must agree and be whole minutes (${periods.join(', ')})`);
    alarms.push({
      logicalId: id,
      queries,
      periodSeconds,
      threshold: Number(props.Threshold),
      comparison: props.ComparisonOperator as Comparison,
      evaluationPeriods: Number(props.EvaluationPeriods),
      datapointsToAlarm: Number(props.DatapointsToAlarm ?? props.EvaluationPeriods),
      treatMissingData: (props.TreatMissingData as AlarmSpec['treatMissingData']) ?? 'missing',
      policies: invoked,
    });
  }
  const props = target.Properties ?? {};
  return {
    minCapacity: Number(props.MinCapacity),
    maxCapacity: Number(props.MaxCapacity),
    alarms,
    policies,
  };
}

// ── metric math ──────────────────────────────────────────────────────────────────────────────
// The part of CloudWatch's metric math that scaling alarms use: numbers, query ids, + - * /,
// comparisons, AND/OR/NOT, parentheses, [a, b] arrays, and the functions below. A missing value
// (null) propagates through arithmetic, as a missing datapoint does in CloudWatch.
type Value = number | null | Value[];

const FUNCTIONS: Record<string, (args: Value[]) => Value> = {
  MAX: (args) => reduce(args, Math.max),
  MIN: (args) => reduce(args, Math.min),
  SUM: (args) => reduce(args, (a, b) => a + b),
  AVG: (args) => {
    const values = flat(args);
    return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
  },
  ABS: ([x]) => scalar(x, Math.abs),
  CEIL: ([x]) => scalar(x, Math.ceil),
  FLOOR: ([x]) => scalar(x, Math.floor),
  FILL: ([x, fill]) => (x === null || x === undefined ? (fill ?? null) : x),
  IF: ([condition, whenTrue, whenFalse]) =>
    condition === null || condition === undefined
      ? null
      : condition !== 0
        ? (whenTrue ?? null)
        : (whenFalse ?? 0),
};

function flat(values: Value[]): number[] {
  return values.flatMap((value) => (Array.isArray(value) ? flat(value) : value === null ? [] : [value]));
}

function reduce(values: Value[], op: (a: number, b: number) => number): number | null {
  const numbers = flat(values);
  return numbers.length === 0 ? null : numbers.reduce((a, b) => op(a, b));
}

function scalar(value: Value | undefined, op: (x: number) => number): number | null {
  return typeof value === 'number' ? op(value) : null;
}

const TOKEN =
  /\s*(?:(\d+(?:\.\d+)?(?:e[+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(>=|<=|==|!=|&&|\|\||[-+*/(),[\]<>!]))/y;

/** Evaluates a metric math expression with the given query values. */
export function evaluateExpression(expression: string, values: Record<string, Value>): Value {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expression.length) {
    const start = TOKEN.lastIndex;
    const match = TOKEN.exec(expression);
    if (!match) {
      if (expression.slice(start).trim() === '') break;
      throw new Error(`metric math: cannot read "${expression.slice(start)}" in ${expression}`);
    }
    tokens.push(match[1] ?? match[2] ?? match[3]!);
  }
  let at = 0;
  const peek = () => tokens[at];
  const take = (expected?: string) => {
    const token = tokens[at++];
    if (expected !== undefined && token !== expected)
      throw new Error(`metric math: expected "${expected}" in ${expression}`);
    return token;
  };
  const arith = (a: Value, b: Value, op: (x: number, y: number) => number): Value =>
    typeof a === 'number' && typeof b === 'number' ? op(a, b) : null;
  const binaryLevels: [string[], (op: string, a: Value, b: Value) => Value][] = [
    [['OR', '||'], (_, a, b) => arith(a, b, (x, y) => (x !== 0 || y !== 0 ? 1 : 0))],
    [['AND', '&&'], (_, a, b) => arith(a, b, (x, y) => (x !== 0 && y !== 0 ? 1 : 0))],
    [
      ['>', '<', '>=', '<=', '==', '!='],
      (op, a, b) =>
        arith(a, b, (x, y) =>
          Number(
            op === '>'
              ? x > y
              : op === '<'
                ? x < y
                : op === '>='
                  ? x >= y
                  : op === '<='
                    ? x <= y
                    : op === '=='
                      ? x === y
                      : x !== y,
          ),
        ),
    ],
    [['+', '-'], (op, a, b) => arith(a, b, (x, y) => (op === '+' ? x + y : x - y))],
    [['*', '/'], (op, a, b) => arith(a, b, (x, y) => (op === '*' ? x * y : y === 0 ? Number.NaN : x / y))],
  ];
  const binary = (level: number): Value => {
    if (level === binaryLevels.length) return unary();
    const [ops, apply] = binaryLevels[level]!;
    let left = binary(level + 1);
    while (peek() !== undefined && ops.includes(peek()!.toUpperCase())) {
      const op = take()!.toUpperCase();
      left = apply(op, left, binary(level + 1));
    }
    return left;
  };
  const unary = (): Value => {
    const token = peek();
    if (token === '-') {
      take();
      return arith(0, unary(), (x, y) => x - y);
    }
    if (token === '!' || token?.toUpperCase() === 'NOT') {
      take();
      return arith(0, unary(), (_, y) => (y === 0 ? 1 : 0));
    }
    return primary();
  };
  const list = (close: string): Value[] => {
    const items: Value[] = [];
    if (peek() !== close) {
      items.push(binary(0));
      while (peek() === ',') {
        take();
        items.push(binary(0));
      }
    }
    take(close);
    return items;
  };
  const primary = (): Value => {
    const token = take();
    if (token === undefined) throw new Error(`metric math: ${expression} ends early`);
    if (token === '(') {
      const inner = binary(0);
      take(')');
      return inner;
    }
    if (token === '[') return list(']');
    if (/^\d/.test(token)) return Number(token);
    if (peek() === '(') {
      const fn = FUNCTIONS[token.toUpperCase()];
      if (!fn) throw new Error(`metric math: function ${token} is not simulated`);
      take('(');
      return fn(list(')'));
    }
    if (!(token in values)) throw new Error(`metric math: unknown id ${token} in ${expression}`);
    return values[token]!;
  };
  const result = binary(0);
  if (at !== tokens.length) throw new Error(`metric math: unexpected "${tokens[at]}" in ${expression}`);
  return result;
}

// ── alarms and step policies ─────────────────────────────────────────────────────────────────

/** Aggregates one period's per-minute samples the way CloudWatch's statistic does. */
export function statistic(stat: Statistic, samples: number[]): number | null {
  if (samples.length === 0) return null;
  switch (stat) {
    case 'Sum':
      return samples.reduce((a, b) => a + b, 0);
    case 'Average':
      return samples.reduce((a, b) => a + b, 0) / samples.length;
    case 'Maximum':
      return Math.max(...samples);
    case 'Minimum':
      return Math.min(...samples);
    case 'SampleCount':
      return samples.length;
  }
}

export function breaches(comparison: Comparison, value: number, threshold: number): boolean {
  switch (comparison) {
    case 'GreaterThanOrEqualToThreshold':
      return value >= threshold;
    case 'GreaterThanThreshold':
      return value > threshold;
    case 'LessThanThreshold':
      return value < threshold;
    case 'LessThanOrEqualToThreshold':
      return value <= threshold;
  }
}

/**
 * CloudWatch's M-out-of-N rule over the newest datapoints (oldest first, null = missing).
 * Returns ALARM, OK, or null when the missing data leaves the state as it was.
 */
export function alarmState(
  alarm: Pick<
    AlarmSpec,
    'comparison' | 'threshold' | 'evaluationPeriods' | 'datapointsToAlarm' | 'treatMissingData'
  >,
  datapoints: (number | null)[],
): 'ALARM' | 'OK' | null {
  const window = datapoints.slice(-alarm.evaluationPeriods);
  let breaching = 0;
  let present = 0;
  for (const point of window) {
    if (point === null || Number.isNaN(point)) {
      if (alarm.treatMissingData === 'breaching') breaching++;
      if (alarm.treatMissingData === 'breaching' || alarm.treatMissingData === 'notBreaching') present++;
      continue;
    }
    present++;
    if (breaches(alarm.comparison, point, alarm.threshold)) breaching++;
  }
  if (breaching >= alarm.datapointsToAlarm) return 'ALARM';
  if (present === 0 && (alarm.treatMissingData === 'missing' || alarm.treatMissingData === 'ignore'))
    return null;
  return 'OK';
}

/**
 * The step whose interval holds `metric - threshold`. Application Auto Scaling: above the
 * threshold the lower bound is inclusive and the upper exclusive, below it the other way round;
 * at the threshold itself the alarm's direction decides.
 */
export function stepFor(
  policy: Pick<StepPolicySpec, 'steps'>,
  comparison: Comparison,
  difference: number,
): StepAdjustment | undefined {
  const above = difference > 0 || (difference === 0 && comparison.startsWith('Greater'));
  return policy.steps.find((step) => {
    const lower = step.lower ?? Number.NEGATIVE_INFINITY;
    const upper = step.upper ?? Number.POSITIVE_INFINITY;
    return above ? lower <= difference && difference < upper : lower < difference && difference <= upper;
  });
}

/** The capacity a step asks for, from the current one, before limits and cooldowns. */
export function adjustedCapacity(
  policy: Pick<StepPolicySpec, 'adjustmentType' | 'minAdjustmentMagnitude'>,
  adjustment: number,
  current: number,
): number {
  switch (policy.adjustmentType) {
    case 'ExactCapacity':
      return adjustment;
    case 'ChangeInCapacity':
      return current + adjustment;
    case 'PercentChangeInCapacity': {
      const raw = (current * adjustment) / 100;
      // Rounded toward zero, but a non-zero change moves at least one (or MinAdjustmentMagnitude).
      let change = raw > 0 ? Math.max(1, Math.floor(raw)) : raw < 0 ? Math.min(-1, Math.ceil(raw)) : 0;
      const floor = policy.minAdjustmentMagnitude ?? 0;
      if (change !== 0 && Math.abs(change) < floor) change = Math.sign(change) * floor;
      return current + change;
    }
  }
}
