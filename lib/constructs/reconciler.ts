import { Duration } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  PipelineFunction,
  type PipelineResources,
  type PipelineSettings,
  pipelineEnvironment,
  timeBudgetEnvironment,
} from './lambda-function.ts';
import { KEY_PREFIXES } from './storage.ts';

export interface ReconcilerProps {
  readonly resources: PipelineResources;
  /** Ingest's on-failure destination: S3 events it gave up on, which the reconciler takes in again. */
  readonly ingestFailures: IQueue;
  readonly settings?: PipelineSettings;
  /** @default Duration.minutes(5) */
  readonly interval?: Duration;
}

/** How long one run may take; it stops within `OCRQ_TIME_BUDGET_MS` and the next run goes on. */
export const RECONCILER_TIMEOUT = Duration.minutes(5);

/**
 * The `lambdas/reconciler` run, on a schedule: finds the jobs no message will move any more
 * (QUEUED with unsent chunks, PROCESSING without progress on a drained queue, uploads ingest
 * gave up on) and sends, resends or fails them. Like the DLQ sweep it never overlaps itself
 * (one reserved execution; a throttled tick is dropped) and a failed run is done by the next.
 */
export class Reconciler extends Construct {
  readonly function: NodejsFunction;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: ReconcilerProps) {
    super(scope, id);
    const { table, bucket, queues, eventsTopic } = props.resources;
    const reconciler = new PipelineFunction(this, 'Handler', {
      handler: 'reconciler',
      logRetention: props.settings?.logRetention,
      description: 'Every five minutes: send, resend or fail the jobs that no message would move',
      environment: {
        ...pipelineEnvironment(props.resources, props.settings),
        OCRQ_INGEST_FAILURES_QUEUE_URL: props.ingestFailures.queueUrl,
        ...timeBudgetEnvironment(RECONCILER_TIMEOUT),
      },
      // Taking a failed upload in again counts a PDF's pages, as ingest does.
      memorySize: 1024,
      timeout: RECONCILER_TIMEOUT,
      bundleFiles: ['node_modules/@hyzyla/pdfium/dist/pdfium.wasm'],
      reservedConcurrentExecutions: 1,
      retryAttempts: 0,
      maxEventAge: Duration.minutes(1),
    });
    table.grantReadWriteData(reconciler);
    bucket.grantRead(reconciler, `${KEY_PREFIXES.inputs}*`);
    queues.grantSendMessages(reconciler);
    queues.grantReadDepth(reconciler);
    props.ingestFailures.grantConsumeMessages(reconciler);
    eventsTopic.grantPublish(reconciler);

    this.schedule = new Rule(this, 'Schedule', {
      description: 'Reconciles OCR pipeline jobs that no message would move',
      schedule: Schedule.rate(props.interval ?? Duration.minutes(5)),
      targets: [new LambdaFunction(reconciler.function, { retryAttempts: 0 })],
    });
    this.function = reconciler.function;
  }
}
