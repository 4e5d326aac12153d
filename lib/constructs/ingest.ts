import { Duration } from 'aws-cdk-lib';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { EventType } from 'aws-cdk-lib/aws-s3';
import { LambdaDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  PipelineFunction,
  type PipelineResources,
  type PipelineSettings,
  pipelineEnvironment,
} from './lambda-function.ts';
import { KEY_PREFIXES } from './storage.ts';

export interface IngestProps {
  readonly resources: PipelineResources;
  readonly settings?: PipelineSettings;
}

/**
 * Upload → queue: the `lambdas/ingest` function runs for every object created under
 * `inputs/`, checks the bytes against the job, moves the job to QUEUED, sends its work
 * message and publishes the event.
 *
 * S3 invokes the function asynchronously. The handler is safe to repeat, so Lambda retries
 * a failed event twice; an event that still fails lands in {@link Ingest.failures} with
 * the error, instead of being dropped.
 */
export class Ingest extends Construct {
  readonly function: NodejsFunction;
  /** Events that failed every attempt (Lambda on-failure destination records). */
  readonly failures: Queue;

  constructor(scope: Construct, id: string, props: IngestProps) {
    super(scope, id);
    const { table, bucket, queues, eventsTopic } = props.resources;

    this.failures = new Queue(this, 'Failures', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    const ingest = new PipelineFunction(this, 'Handler', {
      handler: 'ingest',
      logRetention: props.settings?.logRetention,
      description: 'S3 upload under inputs/: check the document and queue the job',
      environment: pipelineEnvironment(props.resources, props.settings),
      // Counting a PDF's pages holds all of it twice (its bytes, and their copy in PDFium's
      // WebAssembly memory): a PDF at MAX_PDF_BYTES (1 GiB) peaked at 2.24 GB RSS. Large TIFFs
      // are walked with ranged reads.
      memorySize: 3008,
      timeout: Duration.seconds(60),
      // PDF pages are counted by PDFium, as the worker that renders them does.
      bundleFiles: ['node_modules/@hyzyla/pdfium/dist/pdfium.wasm'],
      retryAttempts: 2,
      onFailure: new SqsDestination(this.failures),
    });
    table.grantReadWriteData(ingest);
    bucket.grantRead(ingest, `${KEY_PREFIXES.inputs}*`);
    queues.grantSendMessages(ingest);
    eventsTopic.grantPublish(ingest);

    bucket.addEventNotification(EventType.OBJECT_CREATED, new LambdaDestination(ingest.function), {
      prefix: KEY_PREFIXES.inputs,
    });
    this.function = ingest.function;
  }
}
