import { Duration } from 'aws-cdk-lib';
import type { Rule } from 'aws-cdk-lib/aws-events';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type PipelineResources, type PipelineSettings, pipelineEnvironment } from './lambda-function.ts';
import { scheduledFunction } from './scheduled-function.ts';
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
 * gave up on) and sends, resends or fails them. Never two runs at once, no retries: see
 * {@link scheduledFunction}.
 */
export class Reconciler extends Construct {
  readonly function: NodejsFunction;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: ReconcilerProps) {
    super(scope, id);
    const { table, bucket, queues, eventsTopic } = props.resources;
    const { handler: reconciler, schedule } = scheduledFunction(this, {
      handler: 'reconciler',
      logRetention: props.settings?.logRetention,
      description: 'Every five minutes: send, resend or fail the jobs that no message would move',
      environment: {
        ...pipelineEnvironment(props.resources, props.settings),
        OCRQ_INGEST_FAILURES_QUEUE_URL: props.ingestFailures.queueUrl,
      },
      // Taking a failed upload in again counts a PDF's pages, as ingest does.
      memorySize: 1024,
      timeout: RECONCILER_TIMEOUT,
      bundleFiles: ['node_modules/@hyzyla/pdfium/dist/pdfium.wasm'],
      interval: props.interval ?? Duration.minutes(5),
      scheduleDescription: 'Reconciles OCR pipeline jobs that no message would move',
    });
    table.grantReadWriteData(reconciler);
    bucket.grantRead(reconciler, `${KEY_PREFIXES.inputs}*`);
    queues.grantSendMessages(reconciler);
    queues.grantReadDepth(reconciler);
    props.ingestFailures.grantConsumeMessages(reconciler);
    eventsTopic.grantPublish(reconciler);

    this.schedule = schedule;
    this.function = reconciler.function;
  }
}
