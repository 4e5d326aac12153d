import { Duration } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import {
  PipelineFunction,
  type PipelineResources,
  type PipelineSettings,
  pipelineEnvironment,
  timeBudgetEnvironment,
} from './lambda-function.ts';

export interface DeadLetterSweepProps {
  readonly resources: PipelineResources;
  readonly settings?: PipelineSettings;
  /** @default Duration.minutes(1) */
  readonly interval?: Duration;
}

/** How long one sweep may run; it stops within `OCRQ_TIME_BUDGET_MS` and the next run goes on. */
export const SWEEP_TIMEOUT = Duration.minutes(5);

/**
 * The `lambdas/dlq` sweep, on a schedule: peeks at the dead-letter queues, fails the jobs of
 * work that ran out of attempts (MAX_ATTEMPTS) and announces it, leaving the messages for
 * redrive. A missed or failed run is simply done by the next one, so the schedule does not retry.
 *
 * Never two sweeps at once: one reserved execution, so a tick that finds the previous sweep
 * still running is throttled, and dropped after a minute (the shortest event age Lambda keeps)
 * instead of piling up behind it.
 */
export class DeadLetterSweep extends Construct {
  readonly function: NodejsFunction;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: DeadLetterSweepProps) {
    super(scope, id);
    const { table, queues, eventsTopic } = props.resources;
    const sweep = new PipelineFunction(this, 'Handler', {
      handler: 'dlq',
      logRetention: props.settings?.logRetention,
      description: 'Every minute: fail the jobs of dead-lettered work (MAX_ATTEMPTS)',
      environment: {
        ...pipelineEnvironment(props.resources, props.settings),
        ...timeBudgetEnvironment(SWEEP_TIMEOUT),
      },
      timeout: SWEEP_TIMEOUT,
      reservedConcurrentExecutions: 1,
      retryAttempts: 0,
      maxEventAge: Duration.minutes(1),
    });
    table.grantReadWriteData(sweep);
    queues.grantConsumeDeadLetters(sweep);
    eventsTopic.grantPublish(sweep);

    this.schedule = new Rule(this, 'Schedule', {
      description: 'Sweeps the OCR pipeline dead-letter queues',
      schedule: Schedule.rate(props.interval ?? Duration.minutes(1)),
      targets: [new LambdaFunction(sweep.function, { retryAttempts: 0 })],
    });
    this.function = sweep.function;
  }
}
