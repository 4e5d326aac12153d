import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Priority } from '../job.ts';
import type { WorkMessage } from '../messages.ts';

export interface ReceivedMessage {
  queue: Priority;
  messageId: string;
  receiptHandle: string;
  body: string;
  /** How many times SQS has delivered this message, this delivery included. */
  receiveCount: number;
}

/** The express and bulk work queues. */
export class WorkQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly urls: Record<Priority, string>,
  ) {}

  async send(priority: Priority, message: WorkMessage): Promise<string | undefined> {
    const out = await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.urls[priority],
        MessageBody: JSON.stringify(message),
        MessageAttributes: {
          tenantId: { DataType: 'String', StringValue: message.tenantId },
          jobId: { DataType: 'String', StringValue: message.jobId },
        },
      }),
    );
    return out.MessageId;
  }

  /** Long-polls one queue; an abort signal ends the wait early (worker shutdown). */
  async receive(
    priority: Priority,
    options: { maxMessages: number; waitSeconds: number; visibilitySeconds?: number; signal?: AbortSignal },
  ): Promise<ReceivedMessage[]> {
    const out = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.urls[priority],
        MaxNumberOfMessages: options.maxMessages,
        WaitTimeSeconds: options.waitSeconds,
        VisibilityTimeout: options.visibilitySeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
      { abortSignal: options.signal },
    );
    return (out.Messages ?? []).map((m) => ({
      queue: priority,
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
    }));
  }

  async delete(message: ReceivedMessage): Promise<void> {
    await this.client.send(
      new DeleteMessageCommand({ QueueUrl: this.urls[message.queue], ReceiptHandle: message.receiptHandle }),
    );
  }

  /** Hides the message for `seconds` more: the heartbeat of a busy worker, or a retry's backoff. */
  async extendVisibility(message: ReceivedMessage, seconds: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.urls[message.queue],
        ReceiptHandle: message.receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  }
}
