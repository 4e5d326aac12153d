import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { MessageQueue, QueueRecord } from '../lambdas/shared/adapters/message-queue.ts';

export type SqsBatchHandler = (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;

export interface SqsEventSourceOptions {
  /** The queue's ARN, as records carry it. */
  queueArn: string;
  region: string;
  /** Messages per invocation (Lambda's batch size). */
  batchSize?: number;
  /** How long a received message stays invisible while the handler works (the queue's timeout). */
  visibilitySeconds: number;
  onError?: (error: unknown) => void;
}

/** A message as Lambda's SQS event source hands it over. */
function sqsRecord(message: QueueRecord, options: SqsEventSourceOptions): SQSRecord {
  const now = String(Date.now());
  return {
    messageId: message.messageId,
    receiptHandle: message.receiptHandle,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: now,
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: now,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: options.queueArn,
    awsRegion: options.region,
  };
}

/**
 * Lambda's SQS event source mapping for the local stack: long-polls a queue, hands each batch
 * to the same handler the cloud's function runs, deletes the records it did not report as
 * failed (`batchItemFailures`), and leaves those to come back after their visibility timeout,
 * as in AWS. A handler that throws fails the whole batch.
 */
export class SqsEventSource {
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly queue: MessageQueue,
    private readonly handler: SqsBatchHandler,
    private readonly options: SqsEventSourceOptions,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // The receive in flight ends within its 1 s wait.
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const messages = await this.queue.receive(
          this.options.batchSize ?? 10,
          this.options.visibilitySeconds,
          1,
        );
        if (messages.length === 0 || this.stopped) continue;
        const response = await this.handler({ Records: messages.map((m) => sqsRecord(m, this.options)) });
        const failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
        await Promise.all(messages.filter((m) => !failed.has(m.messageId)).map((m) => this.queue.delete(m)));
      } catch (error) {
        if (this.stopped) return;
        this.options.onError?.(error);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
}
