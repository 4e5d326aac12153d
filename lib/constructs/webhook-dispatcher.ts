import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { SubscriptionFilter } from 'aws-cdk-lib/aws-sns';
import { SqsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_WEBHOOKS } from '../../lambdas/shared/config.ts';
import { WEBHOOK_QUEUE_SETTINGS } from '../../lambdas/shared/resources.ts';
import {
  PipelineFunction,
  type PipelineResources,
  type PipelineSettings,
  pipelineEnvironment,
} from './lambda-function.ts';

export interface WebhookDispatcherProps {
  readonly resources: PipelineResources;
  readonly settings?: PipelineSettings;
  /** @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

/** Deliveries one dispatcher invocation makes at once (an SQS batch, POSTed in parallel). */
export const WEBHOOK_BATCH_SIZE = 10;

/**
 * Webhook delivery: the events topic → (raw delivery, only events a job's webhook wants) → the
 * webhook queue → `lambdas/webhook-dispatcher`, which POSTs each event signed, records the
 * attempt on the job, and puts a failed one back on the same queue with its backoff delay.
 * The queue's DLQ catches only messages whose handling crashed five times.
 *
 * The function runs outside the VPC: receivers are on the internet, and it reaches only them,
 * DynamoDB and SQS. Its timeout covers one POST (all of a batch's run in parallel) and the writes.
 */
export class WebhookDispatcher extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: WebhookDispatcherProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const common = { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true, removalPolicy };
    this.deadLetterQueue = new Queue(this, 'Dlq', { ...common, retentionPeriod: Duration.days(14) });
    this.queue = new Queue(this, 'Queue', {
      ...common,
      visibilityTimeout: Duration.seconds(WEBHOOK_QUEUE_SETTINGS.visibilityTimeoutSeconds),
      retentionPeriod: Duration.days(WEBHOOK_QUEUE_SETTINGS.retentionDays),
      deadLetterQueue: {
        queue: this.deadLetterQueue,
        maxReceiveCount: WEBHOOK_QUEUE_SETTINGS.maxReceiveCount,
      },
    });
    props.resources.eventsTopic.addSubscription(
      new SqsSubscription(this.queue, {
        rawMessageDelivery: true,
        filterPolicy: {
          webhook: SubscriptionFilter.stringFilter({
            allowlist: [...WEBHOOK_QUEUE_SETTINGS.filterPolicy.webhook],
          }),
        },
      }),
    );

    const timeoutMs = props.settings?.webhooks?.timeoutMs ?? DEFAULT_WEBHOOKS.timeoutMs;
    const dispatcher = new PipelineFunction(this, 'Dispatcher', {
      handler: 'webhook-dispatcher',
      description: "POSTs job events to their jobs' webhooks, signed, with retries",
      logRetention: props.settings?.logRetention,
      environment: {
        ...pipelineEnvironment(props.resources, props.settings),
        OCRQ_WEBHOOK_QUEUE_URL: this.queue.queueUrl,
      },
      timeout: Duration.millis(Math.min(30_000, timeoutMs + 15_000)),
    });
    props.resources.table.grantReadWriteData(dispatcher);
    // Retries go back onto the queue it reads.
    this.queue.grantSendMessages(dispatcher);
    dispatcher.function.addEventSource(
      new SqsEventSource(this.queue, { batchSize: WEBHOOK_BATCH_SIZE, reportBatchItemFailures: true }),
    );
    this.function = dispatcher.function;
  }
}
