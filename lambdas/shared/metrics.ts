import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricsOptions } from '@aws-lambda-powertools/metrics/types';
import type { JobError } from './job.ts';
import {
  ENGINE_DIMENSION,
  ERROR_CODE_DIMENSION,
  METRIC,
  METRICS_NAMESPACE,
  SERVICE_DIMENSION,
} from './metric-names.ts';

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/**
 * How each metric is kept: a `counter` adds up (pages, jobs, errors), a `summary` is a
 * distribution of which sum and count are kept (batch size, times). Times are recorded in
 * milliseconds (the EMF unit) and served in seconds to Prometheus, as its conventions ask.
 */
const METRIC_KINDS: Record<
  MetricName,
  {
    kind: 'counter' | 'summary';
    unit: 'Count' | 'Milliseconds';
    /** The second dimension the third argument of `record` fills: ErrorCode unless named here. */
    dimension?: typeof ENGINE_DIMENSION;
  }
> = {
  [METRIC.pages]: { kind: 'counter', unit: 'Count' },
  [METRIC.batchPages]: { kind: 'summary', unit: 'Count' },
  [METRIC.queueWait]: { kind: 'summary', unit: 'Milliseconds' },
  [METRIC.engineTime]: { kind: 'summary', unit: 'Milliseconds' },
  [METRIC.decodeTime]: { kind: 'summary', unit: 'Milliseconds' },
  [METRIC.jobsSucceeded]: { kind: 'counter', unit: 'Count' },
  [METRIC.jobsFailed]: { kind: 'counter', unit: 'Count' },
  [METRIC.workerErrors]: { kind: 'counter', unit: 'Count' },
  [METRIC.webhookAttempts]: { kind: 'counter', unit: 'Count' },
  [METRIC.enginePages]: { kind: 'counter', unit: 'Count', dimension: ENGINE_DIMENSION },
  [METRIC.enginePageTime]: { kind: 'summary', unit: 'Milliseconds', dimension: ENGINE_DIMENSION },
  [METRIC.escalations]: { kind: 'counter', unit: 'Count', dimension: ENGINE_DIMENSION },
};

/** The dimension a metric's third `record` argument fills: `ErrorCode`, or `Engine` for the engine metrics. */
export function secondDimension(name: MetricName): string {
  return METRIC_KINDS[name].dimension ?? ERROR_CODE_DIMENSION;
}

/** One figure: a count to add, or one observation of a distribution. */
export interface MetricRecord {
  name: MetricName;
  value: number;
  /** The `ErrorCode` dimension of the error and outcome counters (`Engine` of the engine metrics). */
  errorCode?: string;
}

/** Where the worker and the lifecycle put their figures (EMF lines, a Prometheus registry, both). */
export interface MetricsSink {
  record(name: MetricName, value: number, errorCode?: string): void;
}

export function isMetricName(name: unknown): name is MetricName {
  return typeof name === 'string' && Object.hasOwn(METRIC_KINDS, name);
}

/**
 * CloudWatch metrics as EMF lines on stdout (Powertools), in namespace `OcrPipeline` with the
 * service as dimension. Powertools buffers until `publishStoredMetrics()`, which a Lambda's
 * middleware calls at the end of each invocation; a long-running worker has no such end, so
 * {@link start} flushes on an interval (and {@link stop} once more at exit). Counters with an
 * error code go out at once as single metrics: Powertools' dimensions apply to a whole flush.
 */
export class EmfMetrics implements MetricsSink {
  private readonly metrics: Metrics;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: { serviceName: string; logger?: MetricsOptions['logger'] }) {
    this.metrics = new Metrics({
      namespace: METRICS_NAMESPACE,
      serviceName: options.serviceName,
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  record(name: MetricName, value: number, errorCode?: string): void {
    const unit = METRIC_KINDS[name].unit === 'Milliseconds' ? MetricUnit.Milliseconds : MetricUnit.Count;
    if (errorCode) {
      const single = this.metrics.singleMetric();
      single.addDimension(secondDimension(name), errorCode);
      single.addMetric(name, unit, value);
      return;
    }
    this.metrics.addMetric(name, unit, value);
  }

  /** Prints what is buffered as one EMF line (nothing when nothing was recorded). */
  flush(): void {
    if (this.metrics.hasStoredMetrics()) this.metrics.publishStoredMetrics();
  }

  /** Flushes every `intervalMs` (CloudWatch's resolution is a minute; 10 s keeps lines small). */
  start(intervalMs = 10_000): this {
    this.timer ??= setInterval(() => this.flush(), intervalMs).unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }
}

const PROMETHEUS_PREFIX = 'ocrpipeline_';

function prometheusName(name: MetricName): string {
  const { kind, unit } = METRIC_KINDS[name];
  const base = name
    .replace(/Ms$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase();
  if (unit === 'Milliseconds') return `${PROMETHEUS_PREFIX}${base}_seconds`;
  return `${PROMETHEUS_PREFIX}${base}${kind === 'counter' ? '_total' : ''}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/**
 * The same figures in memory, served by the local stack at `GET /metrics` in the Prometheus
 * text format (0.0.4): counters as `_total`, distributions as summaries without quantiles
 * (`_sum`, `_count`), labelled with the service and, for errors, the error code.
 */
export class PrometheusRegistry implements MetricsSink {
  private readonly series = new Map<string, { sum: number; count: number }>();

  constructor(private readonly service: string) {}

  record(name: MetricName, value: number, errorCode?: string): void {
    if (!Number.isFinite(value)) return;
    const key = `${name}\u0000${errorCode ?? ''}`;
    const entry = this.series.get(key) ?? { sum: 0, count: 0 };
    entry.sum += value;
    entry.count += 1;
    this.series.set(key, entry);
  }

  /** Current value of a counter, or sum of a distribution (for tests and the CLI). */
  total(name: MetricName, errorCode?: string): number {
    let sum = 0;
    for (const [key, entry] of this.series) {
      const [n, code] = key.split('\u0000');
      if (n === name && (errorCode === undefined || code === errorCode)) sum += entry.sum;
    }
    return sum;
  }

  render(): string {
    const lines: string[] = [];
    for (const name of Object.keys(METRIC_KINDS) as MetricName[]) {
      const { kind, unit } = METRIC_KINDS[name];
      const promName = prometheusName(name);
      lines.push(`# TYPE ${promName} ${kind}`);
      const scale = unit === 'Milliseconds' ? 1 / 1000 : 1;
      const entries = [...this.series].filter(([key]) => key.startsWith(`${name}\u0000`));
      // A counter with no observation yet is still a series at zero, so rate() has a start.
      if (entries.length === 0 && kind === 'counter') entries.push([`${name}\u0000`, { sum: 0, count: 0 }]);
      for (const [key, entry] of entries) {
        const code = key.split('\u0000')[1];
        const labels = [`${SERVICE_DIMENSION}="${escapeLabel(this.service)}"`];
        if (code) {
          const label = METRIC_KINDS[name].dimension === ENGINE_DIMENSION ? 'engine' : 'error_code';
          labels.push(`${label}="${escapeLabel(code)}"`);
        }
        const l = `{${labels.join(',')}}`;
        if (kind === 'counter') lines.push(`${promName}${l} ${entry.sum}`);
        else {
          lines.push(`${promName}_sum${l} ${entry.sum * scale}`);
          lines.push(`${promName}_count${l} ${entry.count}`);
        }
      }
    }
    return `${lines.join('\n')}\n`;
  }
}

/**
 * Figures sent to the local stack's registry by a worker running in its own process (`npm run
 * worker`), so `GET /metrics` on the stack covers every worker as in-process ones. Records are
 * batched and posted every `intervalMs`; a failed post is dropped with a warning (the worker's
 * EMF lines keep the figures).
 */
export class PushedMetrics implements MetricsSink {
  private buffer: MetricRecord[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly logger: { warn(message: string, extra?: object): void },
  ) {}

  record(name: MetricName, value: number, errorCode?: string): void {
    this.buffer.push({ name, value, ...(errorCode ? { errorCode } : {}) });
  }

  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const records = this.buffer;
    this.buffer = [];
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(records),
        signal: AbortSignal.timeout(5000),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    } catch (error) {
      this.logger.warn('could not push metrics to the local stack', {
        records: records.length,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  start(intervalMs = 2000): this {
    this.timer ??= setInterval(() => void this.flush(), intervalMs).unref();
    return this;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

/** Reads what {@link PushedMetrics} posts; anything else is refused. */
export function parsePushedRecords(body: unknown): MetricRecord[] {
  if (!Array.isArray(body)) throw new Error('expected an array of metric records');
  return body.map((r: unknown) => {
    const { name, value, errorCode } = (r ?? {}) as Record<string, unknown>;
    if (!isMetricName(name) || typeof value !== 'number' || !Number.isFinite(value))
      throw new Error('a metric record needs a known name and a finite value');
    if (errorCode !== undefined && typeof errorCode !== 'string')
      throw new Error('errorCode must be a string');
    return { name, value, ...(errorCode ? { errorCode } : {}) };
  });
}

/** Several sinks as one (in-process workers locally: EMF lines and the stack's registry). */
export function teeMetrics(...sinks: MetricsSink[]): MetricsSink {
  return {
    record: (name, value, code) => {
      for (const sink of sinks) sink.record(name, value, code);
    },
  };
}

/** The lifecycle's `onOutcome` callback over a sink: jobs succeeded, and failed by error code. */
export function outcomeMetrics(
  sink: MetricsSink,
): (outcome: 'succeeded' | 'failed' | 'cancelled', error?: JobError) => void {
  return (outcome, error) => {
    if (outcome === 'succeeded') sink.record(METRIC.jobsSucceeded, 1);
    else if (outcome === 'failed') sink.record(METRIC.jobsFailed, 1, error?.code ?? 'UNKNOWN');
  };
}
