import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { JobEvent } from '../events.ts';

/** The job events topic: subscribers (webhook dispatcher, client queues) filter on attributes. */
export class EventBus {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(event: JobEvent): Promise<void> {
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Message: JSON.stringify(event),
        MessageAttributes: {
          type: { DataType: 'String', StringValue: event.type },
          tenantId: { DataType: 'String', StringValue: event.tenantId },
          status: { DataType: 'String', StringValue: event.status },
        },
      }),
    );
  }
}
