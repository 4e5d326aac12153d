import { CreateTopicCommand, PublishCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TextractCompletions } from '../../lambdas/shared/adapters/textract.ts';
import { type Emulators, startEmulators } from '../../local/emulators.ts';

/**
 * The completion queue as in AWS, on fauxqs: Textract publishes to an SNS topic that feeds one
 * SQS queue shared by every worker. Two workers' waiters must each get their own job's notice,
 * however the receives fall, and leave the queue empty.
 */
describe('TextractCompletions on the emulated SNS → SQS channel', () => {
  let emulators: Emulators;
  let sqs: SQSClient;
  let sns: SNSClient;
  let queueUrl: string;
  let topicArn: string;

  beforeAll(async () => {
    emulators = await startEmulators({ region: 'us-east-1' });
    const base = {
      region: 'us-east-1',
      endpoint: emulators.awsEndpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    sqs = new SQSClient({ ...base, useQueueUrlAsEndpoint: false });
    sns = new SNSClient(base);
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'textract-completions' }))).QueueUrl!;
    const arn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))
    ).Attributes!.QueueArn!;
    topicArn = (await sns.send(new CreateTopicCommand({ Name: 'textract' }))).TopicArn!;
    await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: arn }));
  }, 30_000);

  afterAll(async () => {
    await emulators?.stop();
  });

  /** What Textract publishes when a detection ends (its documented notification body). */
  const publish = (jobId: string, status = 'SUCCEEDED') =>
    sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Message: JSON.stringify({
          JobId: jobId,
          Status: status,
          API: 'StartDocumentTextDetection',
          Timestamp: Date.now(),
          DocumentLocation: { S3ObjectName: 'inputs/t/j/source', S3Bucket: 'docs' },
        }),
      }),
    );

  it("gives each worker its own job's completion and deletes both notices", async () => {
    const options = { waitSeconds: 1, returnSeconds: 0 };
    const workerA = new TextractCompletions(sqs, queueUrl, options);
    const workerB = new TextractCompletions(sqs, queueUrl, options);
    const a = workerA.wait('job-a');
    const b = workerB.wait('job-b');
    await publish('job-b');
    await publish('job-a', 'FAILED');
    const [forA, forB] = await Promise.all([a.completion, b.completion]);
    expect(forA).toEqual({ jobId: 'job-a', status: 'FAILED' });
    expect(forB).toEqual({ jobId: 'job-b', status: 'SUCCEEDED' });
    const left = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(left.Messages ?? []).toHaveLength(0);
  }, 30_000);
});
