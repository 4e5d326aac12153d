import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Priority } from '../../lambdas/shared/job.ts';
import { QUEUE_SETTINGS } from '../../lambdas/shared/resources.ts';

export interface WorkQueuesProps {
  /**
   * What happens to the queues (and the messages in them) when the stack is deleted.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The express and bulk work queues, each with its dead-letter queue. Settings come from
 * `QUEUE_SETTINGS`, shared with the local stack: a message is delivered at most
 * `maxReceiveCount` times before it moves to the DLQ.
 */
export class WorkQueues extends Construct {
  readonly express: Queue;
  readonly bulk: Queue;
  readonly expressDlq: Queue;
  readonly bulkDlq: Queue;

  constructor(scope: Construct, id: string, props: WorkQueuesProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const common = { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true, removalPolicy };

    const withDlq = (name: string): [Queue, Queue] => {
      const dlq = new Queue(this, `${name}Dlq`, {
        ...common,
        retentionPeriod: Duration.days(QUEUE_SETTINGS.dlqRetentionDays),
      });
      const queue = new Queue(this, name, {
        ...common,
        visibilityTimeout: Duration.seconds(QUEUE_SETTINGS.visibilityTimeoutSeconds),
        receiveMessageWaitTime: Duration.seconds(QUEUE_SETTINGS.receiveWaitTimeSeconds),
        retentionPeriod: Duration.days(QUEUE_SETTINGS.retentionDays),
        deadLetterQueue: { queue: dlq, maxReceiveCount: QUEUE_SETTINGS.maxReceiveCount },
      });
      return [queue, dlq];
    };

    [this.express, this.expressDlq] = withDlq('Express');
    [this.bulk, this.bulkDlq] = withDlq('Bulk');
  }

  /** The work queue for a job's priority. */
  queueFor(priority: Priority): Queue {
    return priority === 'bulk' ? this.bulk : this.express;
  }

  /** Lets the grantee send work messages to both queues (ingest, redrive). */
  grantSendMessages(grantee: IGrantable): void {
    for (const queue of [this.express, this.bulk]) queue.grantSendMessages(grantee);
  }

  /** Lets the grantee receive, delete and extend the visibility of work messages (the worker). */
  grantConsumeMessages(grantee: IGrantable): void {
    for (const queue of [this.express, this.bulk]) queue.grantConsumeMessages(grantee);
  }

  /** Lets the grantee peek at, delete and release dead letters (the DLQ sweep, redrive). */
  grantConsumeDeadLetters(grantee: IGrantable): void {
    for (const queue of [this.expressDlq, this.bulkDlq]) queue.grantConsumeMessages(grantee);
  }

  /**
   * Lets the grantee read the approximate message counts of the work queues, and of their
   * DLQs with `deadLetters` (backpressure on create, queue stats).
   */
  grantReadDepth(grantee: IGrantable, options: { deadLetters?: boolean } = {}): void {
    const queues = [this.express, this.bulk, ...(options.deadLetters ? [this.expressDlq, this.bulkDlq] : [])];
    for (const queue of queues) queue.grant(grantee, 'sqs:GetQueueAttributes');
  }
}
