import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Priority } from '../job.ts';
import type { WorkMessage } from '../messages.ts';

export interface QueueDepth {
  visible: number;
  inFlight: number;
  delayed: number;
}

export interface ReceivedMessage {
  queue: Priority;
  /** True for a message received from the queue's dead-letter queue. */
  dead?: boolean;
  messageId: string;
  receiptHandle: string;
  body: string;
  /** How many times SQS has delivered this message, this delivery included. */
  receiveCount: number;
  /** When the message was sent (epoch ms): its queue wait is the time since. */
  sentAt?: number;
}

/**
 * The tenant as the message group: on a standard queue SQS's fair queues then serve a quiet
 * tenant's messages ahead of a noisy tenant's backlog (no FIFO semantics, no extra cost).
 */
function groupOf(message: Pick<WorkMessage, 'tenantId'>): string {
  return message.tenantId;
}

/** The express and bulk work queues. */
export class WorkQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly urls: Record<Priority, string>,
    private readonly deadLetterUrls: Partial<Record<Priority, string>> = {},
  ) {}

  private urlOf(message: Pick<ReceivedMessage, 'queue' | 'dead'>): string {
    if (!message.dead) return this.urls[message.queue];
    const url = this.deadLetterUrls[message.queue];
    if (!url) throw new Error(`no dead-letter queue is configured for ${message.queue}`);
    return url;
  }

  hasDeadLetterQueue(priority: Priority): boolean {
    return this.deadLetterUrls[priority] !== undefined;
  }

  async send(priority: Priority, message: WorkMessage): Promise<string | undefined> {
    const out = await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.urls[priority],
        MessageBody: JSON.stringify(message),
        MessageGroupId: groupOf(message),
        MessageAttributes: {
          tenantId: { DataType: 'String', StringValue: message.tenantId },
          jobId: { DataType: 'String', StringValue: message.jobId },
        },
      }),
    );
    return out.MessageId;
  }

  /** Sends many messages, ten per request; any entry SQS refuses fails the whole call. */
  async sendMany(priority: Priority, messages: WorkMessage[]): Promise<void> {
    for (let start = 0; start < messages.length; start += 10) {
      const batch = messages.slice(start, start + 10);
      const out = await this.client.send(
        new SendMessageBatchCommand({
          QueueUrl: this.urls[priority],
          Entries: batch.map((message, i) => ({
            Id: String(i),
            MessageBody: JSON.stringify(message),
            MessageGroupId: groupOf(message),
            MessageAttributes: {
              tenantId: { DataType: 'String', StringValue: message.tenantId },
              jobId: { DataType: 'String', StringValue: message.jobId },
            },
          })),
        }),
      );
      if (out.Failed && out.Failed.length > 0) {
        const first = out.Failed[0]!;
        throw new Error(
          `SQS refused ${out.Failed.length} of ${batch.length} messages: ${first.Code} ${first.Message ?? ''}`,
        );
      }
    }
  }

  /** Long-polls one queue; an abort signal ends the wait early (worker shutdown). */
  async receive(
    priority: Priority,
    options: {
      maxMessages: number;
      waitSeconds: number;
      visibilitySeconds?: number;
      signal?: AbortSignal;
      dead?: boolean;
    },
  ): Promise<ReceivedMessage[]> {
    const dead = options.dead === true;
    const out = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.urlOf({ queue: priority, dead }),
        MaxNumberOfMessages: options.maxMessages,
        WaitTimeSeconds: options.waitSeconds,
        VisibilityTimeout: options.visibilitySeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
      }),
      { abortSignal: options.signal },
    );
    return (out.Messages ?? []).map((m) => ({
      queue: priority,
      ...(dead ? { dead } : {}),
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
      ...(m.Attributes?.SentTimestamp ? { sentAt: Number(m.Attributes.SentTimestamp) } : {}),
    }));
  }

  async delete(message: ReceivedMessage): Promise<void> {
    await this.client.send(
      new DeleteMessageCommand({ QueueUrl: this.urlOf(message), ReceiptHandle: message.receiptHandle }),
    );
  }

  /** Hides the message for `seconds` more: the heartbeat of a busy worker, or a retry's backoff. */
  async extendVisibility(message: ReceivedMessage, seconds: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.urlOf(message),
        ReceiptHandle: message.receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  }

  /**
   * Sends a message body as it is (a redriven dead letter keeps its content), in its tenant's
   * group when the body names one.
   */
  async sendBody(priority: Priority, body: string): Promise<void> {
    let tenantId: unknown;
    try {
      tenantId = (JSON.parse(body) as { tenantId?: unknown }).tenantId;
    } catch {
      tenantId = undefined;
    }
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.urls[priority],
        MessageBody: body,
        ...(typeof tenantId === 'string' && tenantId !== '' ? { MessageGroupId: tenantId } : {}),
      }),
    );
  }

  /**
   * A dead-letter queue's letters, ten at a time, each batch held hidden for `holdSeconds` so
   * that every receive returns letters not seen yet (a peek that made them visible at once could
   * meet the same ten again and stop early). The caller stops when it has read enough, and gives
   * back with {@link release} what it leaves in the queue.
   */
  async *deadLetterBatches(
    priority: Priority,
    options: { holdSeconds: number; firstWaitSeconds?: number },
  ): AsyncGenerator<ReceivedMessage[]> {
    let waitSeconds = options.firstWaitSeconds ?? 0;
    while (true) {
      const batch = await this.receive(priority, {
        dead: true,
        maxMessages: 10,
        waitSeconds,
        visibilitySeconds: options.holdSeconds,
      });
      if (batch.length === 0) return;
      waitSeconds = 0;
      yield batch;
    }
  }

  /** Makes held messages visible again at once; one whose receipt has expired returns by itself. */
  async release(messages: readonly ReceivedMessage[]): Promise<void> {
    await Promise.all(messages.map((m) => this.extendVisibility(m, 0).catch(() => undefined)));
  }

  /** Approximate message counts of a work queue or of its dead-letter queue. */
  async depth(priority: Priority, options: { dead?: boolean } = {}): Promise<QueueDepth> {
    const out = await this.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.urlOf({ queue: priority, dead: options.dead }),
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    const a = out.Attributes ?? {};
    return {
      visible: Number(a.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  }
}
