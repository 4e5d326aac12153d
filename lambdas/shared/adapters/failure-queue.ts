import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/** One record of the failure queue: what was invoked, and how many times it has been read. */
export interface FailureRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  receiveCount: number;
}

/**
 * The queue where a Lambda's asynchronous invocations land after their last retry (its
 * on-failure destination): for ingest, the S3 events it could not take in. The reconciler reads
 * it; the local stack writes to it what S3 and Lambda would.
 */
export class FailureQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly url: string,
  ) {}

  async receive(maxMessages: number, visibilitySeconds: number): Promise<FailureRecord[]> {
    const out = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.url,
        MaxNumberOfMessages: maxMessages,
        WaitTimeSeconds: 0,
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

  async delete(record: FailureRecord): Promise<void> {
    await this.client.send(
      new DeleteMessageCommand({ QueueUrl: this.url, ReceiptHandle: record.receiptHandle }),
    );
  }

  /** Writes a record as Lambda's destination would (the local stack's S3 event bridge). */
  async send(body: unknown): Promise<void> {
    await this.client.send(new SendMessageCommand({ QueueUrl: this.url, MessageBody: JSON.stringify(body) }));
  }
}
