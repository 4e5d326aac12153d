import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

export interface NotificationsProps {
  /**
   * What happens to the topic's encryption key when the stack is deleted. The topic keeps no
   * messages, so nothing is lost with the key.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The job events topic: ingest and the worker publish `job.*` events with `type`, `tenantId`
 * and `status` message attributes; subscribers (the webhook dispatcher, client queues)
 * filter on them.
 *
 * Encrypted with a customer-managed key: an AWS-managed `aws/sns` key cannot be shared with
 * the AWS services (CloudWatch alarms, EventBridge) that may publish here later.
 */
export class Notifications extends Construct {
  readonly topic: Topic;
  readonly encryptionKey: Key;

  constructor(scope: Construct, id: string, props: NotificationsProps = {}) {
    super(scope, id);
    this.encryptionKey = new Key(this, 'Key', {
      description: 'Encrypts the OCR pipeline job events topic',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    this.topic = new Topic(this, 'Events', {
      displayName: 'OCR pipeline job events',
      masterKey: this.encryptionKey,
      enforceSSL: true,
    });
  }
}
