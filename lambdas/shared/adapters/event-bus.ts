import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { JobEvent } from '../events.ts';

/** The SNS message attribute that marks events a job's webhook wants: the dispatcher's filter. */
export const WEBHOOK_ATTRIBUTE = 'webhook';

/**
 * The job events topic. Every message carries the attributes `type`, `status` and `tenantId`
 * (a subscriber filters on them, e.g. one tenant's `job.succeeded`), and `webhook` = `true`
 * when the job's webhook wants the event: the webhook dispatcher's subscription takes only those.
 */
export class EventBus {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(event: JobEvent, options: { webhook?: boolean } = {}): Promise<void> {
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Message: JSON.stringify(event),
        MessageAttributes: {
          type: { DataType: 'String', StringValue: event.type },
          tenantId: { DataType: 'String', StringValue: event.tenantId },
          status: { DataType: 'String', StringValue: event.status },
          [WEBHOOK_ATTRIBUTE]: { DataType: 'String', StringValue: options.webhook ? 'true' : 'false' },
        },
      }),
    );
  }
}
