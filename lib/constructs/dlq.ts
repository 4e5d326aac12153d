import { Duration } from 'aws-cdk-lib';
import type { Rule } from 'aws-cdk-lib/aws-events';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import { type PipelineResources, type PipelineSettings, pipelineEnvironment } from './lambda-function.ts';
import { scheduledFunction } from './scheduled-function.ts';

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
 * redrive. Never two sweeps at once, no retries: see {@link scheduledFunction}.
 */
export class DeadLetterSweep extends Construct {
  readonly function: NodejsFunction;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: DeadLetterSweepProps) {
    super(scope, id);
    const { table, queues, eventsTopic } = props.resources;
    const { handler: sweep, schedule } = scheduledFunction(this, {
      handler: 'dlq',
      logRetention: props.settings?.logRetention,
      description: 'Every minute: fail the jobs of dead-lettered work (MAX_ATTEMPTS)',
      environment: pipelineEnvironment(props.resources, props.settings),
      timeout: SWEEP_TIMEOUT,
      interval: props.interval ?? Duration.minutes(1),
      scheduleDescription: 'Sweeps the OCR pipeline dead-letter queues',
    });
    table.grantReadWriteData(sweep);
    queues.grantConsumeDeadLetters(sweep);
    eventsTopic.grantPublish(sweep);

    this.schedule = schedule;
    this.function = sweep.function;
  }
}
