import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { SqsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TextractSettings } from '../../lambdas/shared/config.ts';

/** What the worker calls: none of them takes a resource ARN, so they are granted on `*`. */
export const TEXTRACT_ACTIONS = [
  'textract:DetectDocumentText',
  'textract:StartDocumentTextDetection',
  'textract:GetDocumentTextDetection',
] as const;

export interface TextractEngineProps {
  /** @default RemovalPolicy.DESTROY (the topic and queues keep only completion notices) */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Amazon Textract as the pipeline's second engine: the SNS topic Textract publishes the
 * completion of multi-page detections to, the role it assumes to publish, and the queue the
 * workers wait on (gpu-worker/src/engines/textract-recognizer.ts), with a dead-letter queue for
 * notices no worker claimed (their waiters also read the job's status, so none is lost). The
 * topic is encrypted with a customer-managed key that the role may use (an AWS-managed one cannot
 * be granted to Textract); the queues with SQS-managed keys. {@link grantUse} lets the worker call Textract and pass the role; {@link settings} is what
 * the functions' and worker's environment names (`OCRQ_TEXTRACT_*`).
 */
export class TextractEngine extends Construct {
  readonly topic: Topic;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  /** Assumed by Textract to publish completions on {@link topic}. */
  readonly publishRole: Role;
  readonly key: Key;

  constructor(scope: Construct, id: string, props: TextractEngineProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    this.key = new Key(this, 'Key', {
      description: "Encrypts Textract's completion topic of the OCR pipeline",
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: Duration.days(7),
    });
    this.topic = new Topic(this, 'Completions', { masterKey: this.key, enforceSSL: true });
    this.publishRole = new Role(this, 'PublishRole', {
      assumedBy: new ServicePrincipal('textract.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'Textract publishes the completion of the document text detections of the OCR pipeline',
    });
    this.topic.grantPublish(this.publishRole);
    this.key.grant(this.publishRole, 'kms:GenerateDataKey*', 'kms:Decrypt');

    // SQS-managed encryption, like the pipeline's other queues: SNS delivers to it without a key grant.
    const encryption = { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true };
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      ...encryption,
      retentionPeriod: Duration.days(1),
      removalPolicy,
    });
    this.queue = new Queue(this, 'Queue', {
      ...encryption,
      // Notices are claimed within seconds; one a day old has lost its worker long ago.
      retentionPeriod: Duration.days(1),
      visibilityTimeout: Duration.seconds(30),
      // Workers give back the notices of other workers' jobs: many receives are normal.
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 100 },
      removalPolicy,
    });
    this.topic.addSubscription(new SqsSubscription(this.queue, { rawMessageDelivery: false }));

    Validations.of(this.publishRole).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: "Textract publishes to a KMS-encrypted topic: data keys of the topic's own key only",
    });
  }

  /** The `OCRQ_TEXTRACT_*` settings of the functions and the worker. */
  get settings(): TextractSettings {
    return {
      region: Aws.REGION,
      completion: {
        topicArn: this.topic.topicArn,
        roleArn: this.publishRole.roleArn,
        queueUrl: this.queue.queueUrl,
      },
    };
  }

  /**
   * What the worker needs: Textract's three text-detection calls (none takes a resource ARN),
   * passing the publish role to Textract, and the completion queue. Textract reads a document
   * from S3 with the caller's own permissions (the worker already reads inputs and their key).
   */
  grantUse(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'TextractTextDetection',
        actions: [...TEXTRACT_ACTIONS],
        resources: ['*'],
      }),
    );
    this.publishRole.grantPassRole(grantee.grantPrincipal);
    this.queue.grantConsumeMessages(grantee);
    Validations.of(grantee.grantPrincipal as unknown as Construct).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        "Textract's DetectDocumentText, StartDocumentTextDetection and GetDocumentTextDetection support no resource-level permissions",
    });
  }
}
