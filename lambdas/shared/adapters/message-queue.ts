import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/** One message of a {@link MessageQueue}, and how many times it has been read. */
export interface QueueRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  receiveCount: number;
}

/** SQS's longest delay of one message, in seconds. */
export const MAX_DELAY_SECONDS = 900;

/**
 * A plain SQS queue of JSON records (the work queues, with their priorities, dead letters and
 * fairness, are `WorkQueue`). Two use it:
 * - ingest's failure queue, where a Lambda's asynchronous invocations land after their last
 *   retry (its on-failure destination): the reconciler reads it, and the local stack writes to
 *   it what S3 and Lambda would;
 * - the webhook queue, which the events topic feeds and the webhook dispatcher reads; the
 *   dispatcher puts its retries back on it with a delay.
 */
export class MessageQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly url: string,
  ) {}

  async receive(maxMessages: number, visibilitySeconds: number, waitSeconds = 0): Promise<QueueRecord[]> {
    const out = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.url,
        MaxNumberOfMessages: maxMessages,
        WaitTimeSeconds: waitSeconds,
        VisibilityTimeout: visibilitySeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    return (out.Messages ?? []).map((m) => ({
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
    }));
  }

  async delete(record: Pick<QueueRecord, 'receiptHandle'>): Promise<void> {
    await this.client.send(
      new DeleteMessageCommand({ QueueUrl: this.url, ReceiptHandle: record.receiptHandle }),
    );
  }

  /** Sends one record, delivered after `delaySeconds` (at most {@link MAX_DELAY_SECONDS}). */
  async send(body: unknown, options: { delaySeconds?: number } = {}): Promise<void> {
    const delay = Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil(options.delaySeconds ?? 0)));
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.url,
        MessageBody: JSON.stringify(body),
        ...(delay > 0 ? { DelaySeconds: delay } : {}),
      }),
    );
  }
}
