import { Duration } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { Construct } from 'constructs';
import { PipelineFunction, type PipelineFunctionProps, timeBudgetEnvironment } from './lambda-function.ts';

export interface ScheduledFunctionProps
  extends Omit<
    PipelineFunctionProps,
    'timeout' | 'reservedConcurrentExecutions' | 'retryAttempts' | 'maxEventAge'
  > {
  /** How long one run may take; it stops within `OCRQ_TIME_BUDGET_MS` and the next run goes on. */
  readonly timeout: Duration;
  readonly interval: Duration;
  readonly scheduleDescription: string;
}

/**
 * A pipeline function that works through a backlog on a schedule (the DLQ sweep, the
 * reconciler), as `Handler` and `Schedule` in `scope`. A missed or failed run is done by the next
 * one, so neither the schedule nor Lambda retries; and never two runs at once: one reserved
 * execution, so a tick that finds the previous run still going is throttled and dropped after a
 * minute (the shortest event age Lambda keeps) instead of piling up behind it.
 */
export function scheduledFunction(
  scope: Construct,
  props: ScheduledFunctionProps,
): { handler: PipelineFunction; schedule: Rule } {
  const { interval, scheduleDescription, environment, ...functionProps } = props;
  const handler = new PipelineFunction(scope, 'Handler', {
    ...functionProps,
    environment: { ...environment, ...timeBudgetEnvironment(props.timeout) },
    reservedConcurrentExecutions: 1,
    retryAttempts: 0,
    maxEventAge: Duration.minutes(1),
  });
  const schedule = new Rule(scope, 'Schedule', {
    description: scheduleDescription,
    schedule: Schedule.rate(interval),
    targets: [new LambdaFunction(handler.function, { retryAttempts: 0 })],
  });
  return { handler, schedule };
}
