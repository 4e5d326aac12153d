import { loadConfig } from './config.ts';
import { EmfMetrics, type MetricsSink } from './metrics.ts';
import { createRuntime, type Runtime } from './runtime.ts';

/**
 * A Lambda entry for a function that may end jobs (ingest, the dead-letter sweep, the
 * reconciler, cancel): the runtime counts job outcomes as EMF lines (`JobsSucceeded`,
 * `JobsFailed` by code, the dashboard's "job outcomes"), flushed at the end of each invocation
 * as Powertools' own middleware would. `make` also gets that sink, for a function with figures
 * of its own (the webhook dispatcher's attempts).
 *
 * @example
 * export const handler = lambdaEntry('ingest', makeIngestHandler);
 */
export function lambdaEntry<A extends unknown[], R>(
  serviceName: string,
  make: (runtime: Runtime, metrics: MetricsSink) => (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  const metrics = new EmfMetrics({ serviceName });
  const handler = make(createRuntime(loadConfig(), { serviceName, metrics }), metrics);
  return async (...args: A) => {
    try {
      return await handler(...args);
    } finally {
      metrics.flush();
    }
  };
}
