import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  BadDocumentException,
  DetectDocumentTextCommand,
  DocumentTooLargeException,
  GetDocumentTextDetectionCommand,
  LimitExceededException,
  ProvisionedThroughputExceededException,
  StartDocumentTextDetectionCommand,
  TextractClient,
  ThrottlingException,
  UnsupportedDocumentException,
} from '@aws-sdk/client-textract';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  Textract,
  TextractCompletions,
  TextractDocumentError,
  TextractThrottledError,
  textractPage,
} from '../../lambdas/shared/adapters/textract.ts';
import { configToEnv, loadConfig } from '../../lambdas/shared/config.ts';
import { jobErrorOf } from '../../lambdas/shared/errors.ts';
import { createRuntime } from '../../lambdas/shared/runtime.ts';
import { textractLine, textractPageBlocks } from '../support/textract-blocks.ts';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const client = new TextractClient({ region: 'us-east-1', credentials });
const textractMock = mockClient(client);
const channel = {
  topicArn: 'arn:aws:sns:us-east-1:123456789012:textract',
  roleArn: 'arn:aws:iam::123456789012:role/t',
};
const textract = new Textract(client, { bucket: 'docs', notification: channel });

beforeEach(() => textractMock.reset());

describe('textractPage (blocks → the result format)', () => {
  it('scales relative polygons to pixels, confidences to 0..1, and keeps words under their lines', () => {
    const blocks = textractPageBlocks([
      [
        { text: 'Hello', confidence: 99.5, left: 0.1, top: 0.1, width: 0.2, height: 0.05 },
        { text: 'world', confidence: 87.25, left: 0.35, top: 0.1, width: 0.2, height: 0.05 },
      ],
    ]);
    const page = textractPage(blocks, 3, { width: 1000, height: 2000 });
    expect(page.page).toBe(3);
    expect(page.width).toBe(1000);
    expect(page.lines).toHaveLength(1);
    const [line] = page.lines;
    expect(line!.text).toBe('Hello world');
    expect(line!.confidence).toBeCloseTo(0.9338, 4);
    expect(line!.box).toEqual([
      [100, 200],
      [550, 200],
      [550, 300],
      [100, 300],
    ]);
    expect(line!.words.map((w) => [w.text, w.confidence])).toEqual([
      ['Hello', 0.995],
      ['world', 0.8725],
    ]);
    expect(line!.words[1]!.box[0]).toEqual([350, 200]);
  });

  it('keeps the reading order of the PAGE block, not the order the blocks came in', () => {
    const blocks = textractPageBlocks([
      [{ text: 'first', left: 0.1, top: 0.5, width: 0.1, height: 0.05 }],
      [{ text: 'second', left: 0.1, top: 0.1, width: 0.1, height: 0.05 }],
    ]);
    // Lines listed out of order; the PAGE's CHILD list says first, second.
    const shuffled = [blocks[0]!, ...blocks.slice(1).reverse()];
    expect(textractPage(shuffled, 1, { width: 100, height: 100 }).lines.map((l) => l.text)).toEqual([
      'first',
      'second',
    ]);
  });
});

describe('Textract adapter', () => {
  it('sends a single page as bytes to DetectDocumentText', async () => {
    textractMock.on(DetectDocumentTextCommand).resolves({
      DocumentMetadata: { Pages: 1 },
      Blocks: textractLine('Total 12.00'),
    });
    const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
    const blocks = await textract.detect(bytes);
    expect(textractPage(blocks, 1, { width: 500, height: 500 }).lines[0]!.text).toBe('Total 12.00');
    const call = textractMock.commandCalls(DetectDocumentTextCommand)[0]!;
    expect(call.args[0].input.Document?.Bytes).toEqual(bytes);
  });

  it('starts a multi-page detection from the S3 object with the notification channel and a token', async () => {
    textractMock.on(StartDocumentTextDetectionCommand).resolves({ JobId: 'job-123' });
    expect(await textract.start('inputs/t/j/source', 12, 'ocrq-j')).toBe('job-123');
    expect(textractMock.commandCalls(StartDocumentTextDetectionCommand)[0]!.args[0].input).toEqual({
      DocumentLocation: { S3Object: { Bucket: 'docs', Name: 'inputs/t/j/source' } },
      ClientRequestToken: 'ocrq-j',
      NotificationChannel: { SNSTopicArn: channel.topicArn, RoleArn: channel.roleArn },
    });
  });

  it('reads every page of results through NextToken and groups the blocks by page', async () => {
    textractMock
      .on(GetDocumentTextDetectionCommand, { JobId: 'job-123', NextToken: undefined })
      .resolves({
        JobStatus: 'SUCCEEDED',
        DocumentMetadata: { Pages: 2 },
        Blocks: textractLine('page one', { page: 1 }),
        NextToken: 'token-2',
      })
      .on(GetDocumentTextDetectionCommand, { JobId: 'job-123', NextToken: 'token-2' })
      .resolves({
        JobStatus: 'SUCCEEDED',
        DocumentMetadata: { Pages: 2 },
        Blocks: textractLine('page two', { page: 2 }),
      });
    const detection = await textract.results('job-123');
    expect(detection.status).toBe('SUCCEEDED');
    expect(detection.pages).toBe(2);
    expect(textractMock.commandCalls(GetDocumentTextDetectionCommand)).toHaveLength(2);
    expect(textractPage(detection.blocks.get(2)!, 2, { width: 10, height: 10 }).lines[0]!.text).toBe(
      'page two',
    );
  });

  it('reads a running job as no completion and a finished one as its status', async () => {
    textractMock.on(GetDocumentTextDetectionCommand).resolvesOnce({ JobStatus: 'IN_PROGRESS' }).resolves({
      JobStatus: 'FAILED',
      StatusMessage: 'internal',
    });
    expect(await textract.status('job-1')).toBeUndefined();
    expect(await textract.status('job-1')).toEqual({ jobId: 'job-1', status: 'FAILED', message: 'internal' });
  });

  it.each([
    new ThrottlingException({ message: 'slow down', $metadata: {} }),
    new ProvisionedThroughputExceededException({ message: 'over TPS', $metadata: {} }),
    new LimitExceededException({ message: 'too many jobs', $metadata: {} }),
  ])('takes $name as transient, with its own code', async (exception) => {
    textractMock.on(DetectDocumentTextCommand).rejects(exception);
    const error = await textract.detect(new Uint8Array(4)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TextractThrottledError);
    expect((error as TextractThrottledError).code).toBe('TEXTRACT_THROTTLED');
  });

  it.each([
    [new DocumentTooLargeException({ message: 'big', $metadata: {} }), 'TEXTRACT_DOCUMENT_TOO_LARGE'],
    [new UnsupportedDocumentException({ message: 'format', $metadata: {} }), 'TEXTRACT_UNSUPPORTED_DOCUMENT'],
    [new BadDocumentException({ message: 'corrupt', $metadata: {} }), 'TEXTRACT_BAD_DOCUMENT'],
  ])('takes %s as permanent with the job code %s', async (exception, code) => {
    textractMock.on(StartDocumentTextDetectionCommand).rejects(exception);
    const error = await textract.start('k', 2, 't').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TextractDocumentError);
    expect(jobErrorOf(error as TextractDocumentError).code).toBe(code);
  });

  it('refuses pages over the synchronous size limit and documents over the page limit without a call', async () => {
    const big = await textract.detect(new Uint8Array(10 * 1024 * 1024 + 1)).catch((e: unknown) => e);
    expect(jobErrorOf(big as TextractDocumentError).code).toBe('TEXTRACT_DOCUMENT_TOO_LARGE');
    const long = await textract.start('k', 3001, 't').catch((e: unknown) => e);
    expect(jobErrorOf(long as TextractDocumentError).code).toBe('TEXTRACT_TOO_MANY_PAGES');
    expect(textractMock.calls()).toHaveLength(0);
  });
});

describe('TextractCompletions', () => {
  const sqs = new SQSClient({ region: 'us-east-1', credentials });
  const sqsMock = mockClient(sqs);
  const notification = (jobId: string, sent = Date.now()) => ({
    MessageId: `m-${jobId}`,
    ReceiptHandle: `r-${jobId}`,
    Attributes: { SentTimestamp: String(sent) },
    Body: JSON.stringify({
      Type: 'Notification',
      Message: JSON.stringify({ JobId: jobId, Status: 'SUCCEEDED', API: 'StartDocumentTextDetection' }),
    }),
  });

  beforeEach(() => sqsMock.reset());

  it("wakes the waiter of its job, deletes that notification and gives back another worker's", async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [notification('theirs'), notification('mine')] })
      .resolves({});
    const completions = new TextractCompletions(sqs, 'https://queue', { waitSeconds: 0 });
    const { completion } = completions.wait('mine');
    expect(await completion).toEqual({ jobId: 'mine', status: 'SUCCEEDED' });
    expect(sqsMock.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input.ReceiptHandle)).toEqual([
      'r-mine',
    ]);
    expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand)[0]!.args[0].input.ReceiptHandle).toBe(
      'r-theirs',
    );
  });

  it('deletes a notification nobody claimed for longer than the stale limit', async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [notification('orphan', Date.now() - 3_600_000), notification('mine')] })
      .resolves({});
    const completions = new TextractCompletions(sqs, 'https://queue', { waitSeconds: 0 });
    await completions.wait('mine').completion;
    expect(sqsMock.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input.ReceiptHandle)).toEqual([
      'r-orphan',
      'r-mine',
    ]);
  });
});

describe('Textract configuration', () => {
  const base = {
    OCRQ_TABLE_NAME: 't',
    OCRQ_BUCKET_NAME: 'b',
    OCRQ_EXPRESS_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/1/express',
    OCRQ_EVENTS_TOPIC_ARN: 'arn:aws:sns:us-east-1:1:events',
  };

  it('is off without OCRQ_TEXTRACT_REGION, and the runtime then has no Textract', () => {
    const config = loadConfig(base);
    expect(config.textract).toBeUndefined();
    expect(createRuntime(config).textract).toBeUndefined();
  });

  it('reads the region, the completion channel and the auto thresholds, and writes them back', () => {
    const config = loadConfig({
      ...base,
      OCRQ_TEXTRACT_REGION: 'eu-west-1',
      OCRQ_TEXTRACT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:1:textract',
      OCRQ_TEXTRACT_ROLE_ARN: 'arn:aws:iam::1:role/textract',
      OCRQ_TEXTRACT_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/1/textract',
      OCRQ_AUTO_MIN_CONFIDENCE: '0.7',
    });
    expect(config.textract).toEqual({
      region: 'eu-west-1',
      completion: {
        topicArn: 'arn:aws:sns:eu-west-1:1:textract',
        roleArn: 'arn:aws:iam::1:role/textract',
        queueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/textract',
      },
    });
    expect(config.auto).toEqual({ minConfidence: 0.7, minInk: 0.02, minTextChars: 10 });
    expect(loadConfig(configToEnv(config)).textract).toEqual(config.textract);
    const runtime = createRuntime(config);
    expect(runtime.textract?.canStartJobs).toBe(true);
    expect(runtime.textractCompletions).toBeDefined();
  });
});
