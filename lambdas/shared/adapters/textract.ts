import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  type Block,
  DetectDocumentTextCommand,
  GetDocumentTextDetectionCommand,
  type GetDocumentTextDetectionCommandOutput,
  StartDocumentTextDetectionCommand,
  type TextractClient,
} from '@aws-sdk/client-textract';
import { PermanentError } from '../permanent-error.ts';

/**
 * Amazon Textract, the second OCR engine: the only place that builds Textract commands (and the
 * SQS commands of the queue its completions arrive on). Single pages go to `DetectDocumentText`
 * with their bytes (Textract's synchronous API takes one page, at most 10 MB); multi-page PDF and
 * TIFF documents go to `StartDocumentTextDetection` from their S3 object, whose completion
 * Textract publishes on an SNS topic that feeds {@link TextractCompletions}' queue, and their
 * blocks come back from `GetDocumentTextDetection` in pages of up to 1,000 blocks.
 *
 * Textract's LINE and WORD blocks become the pipeline's result format (DESIGN.md's contract) in
 * {@link textractPage}: pixel boxes from the relative polygons, confidences 0..1, lines in
 * Textract's reading order (the PAGE block's children), words under their line.
 */

/** A point and a quad in page pixels: the result format's boxes, structurally. */
type Point = [number, number];
type Quad = [Point, Point, Point, Point];

/** One page in the result format (the same shape as the engine's `PageResult`). */
export interface TextractPage {
  page: number;
  width: number;
  height: number;
  lines: Array<{
    text: string;
    confidence: number;
    box: Quad;
    words: Array<{ text: string; confidence: number; box: Quad }>;
  }>;
}

/** Textract's quotas answered "slow down": the message goes back to the queue and is tried later. */
export class TextractThrottledError extends Error {
  readonly code = 'TEXTRACT_THROTTLED';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TextractThrottledError';
  }
}

/** An asynchronous detection that Textract reported as failed (possibly passing): tried again. */
export class TextractJobFailedError extends Error {
  readonly code = 'TEXTRACT_FAILED';

  constructor(message: string) {
    super(message);
    this.name = 'TextractJobFailedError';
  }
}

/** Why Textract refuses a document for good; the job fails with the same code. */
export const TEXTRACT_DOCUMENT_ERROR_CODES = [
  'TEXTRACT_DOCUMENT_TOO_LARGE',
  'TEXTRACT_UNSUPPORTED_DOCUMENT',
  'TEXTRACT_BAD_DOCUMENT',
  'TEXTRACT_TOO_MANY_PAGES',
] as const;
export type TextractDocumentErrorCode = (typeof TEXTRACT_DOCUMENT_ERROR_CODES)[number];

/** A document over Textract's limits or one it cannot read: no retry helps. */
export class TextractDocumentError extends PermanentError {
  declare readonly code: TextractDocumentErrorCode;

  constructor(code: TextractDocumentErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** Textract's documented quotas that the adapter checks before calling. */
export const TEXTRACT_LIMITS = {
  /** Bytes of one synchronous call (DetectDocumentText). */
  syncBytes: 10 * 1024 * 1024,
  /** Pages of one asynchronous PDF/TIFF detection. */
  asyncPages: 3000,
} as const;

const THROTTLING = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
]);
const DOCUMENT_ERRORS: Record<string, TextractDocumentErrorCode> = {
  DocumentTooLargeException: 'TEXTRACT_DOCUMENT_TOO_LARGE',
  UnsupportedDocumentException: 'TEXTRACT_UNSUPPORTED_DOCUMENT',
  BadDocumentException: 'TEXTRACT_BAD_DOCUMENT',
};

/** Textract's exceptions as the pipeline's: throttling transient, document problems permanent. */
export function textractError(error: unknown): unknown {
  const name = (error as { name?: string } | undefined)?.name ?? '';
  const message = error instanceof Error ? error.message : String(error);
  if (THROTTLING.has(name))
    return new TextractThrottledError(`Textract ${name}: ${message}`, { cause: error });
  const code = DOCUMENT_ERRORS[name];
  if (code)
    return new TextractDocumentError(code, `Textract refused the document (${name}): ${message}`, {
      cause: error,
    });
  return error;
}

/** How an asynchronous detection ended, as its SNS notification or a status read says. */
export interface TextractCompletion {
  jobId: string;
  status: 'SUCCEEDED' | 'FAILED' | 'PARTIAL_SUCCESS';
  message?: string;
}

/** Blocks of an asynchronous detection, grouped by page (1-based). */
export interface TextractDetection {
  status: string;
  message?: string;
  pages: number;
  blocks: Map<number, Block[]>;
}

/** Where Textract publishes completions: the SNS topic and the role it assumes to publish. */
export interface TextractNotificationChannel {
  topicArn: string;
  roleArn: string;
}

export class Textract {
  constructor(
    private readonly client: TextractClient,
    private readonly options: { bucket: string; notification?: TextractNotificationChannel },
  ) {}

  /** Whether multi-page documents can be sent (a completion channel is configured). */
  get canStartJobs(): boolean {
    return this.options.notification !== undefined;
  }

  /** One page's bytes (PNG, JPEG, one-page PDF or TIFF) through DetectDocumentText: its blocks. */
  async detect(bytes: Uint8Array): Promise<Block[]> {
    if (bytes.byteLength > TEXTRACT_LIMITS.syncBytes) {
      throw new TextractDocumentError(
        'TEXTRACT_DOCUMENT_TOO_LARGE',
        `a page of ${bytes.byteLength} bytes is over Textract's ${TEXTRACT_LIMITS.syncBytes}-byte limit for one page`,
      );
    }
    try {
      const out = await this.client.send(new DetectDocumentTextCommand({ Document: { Bytes: bytes } }));
      return out.Blocks ?? [];
    } catch (error) {
      throw textractError(error);
    }
  }

  /**
   * Starts the detection of a multi-page document stored at `key`; `token` makes a repeated start
   * (a redelivered message) return the same Textract job instead of paying twice.
   */
  async start(key: string, pages: number, token: string): Promise<string> {
    const channel = this.options.notification;
    if (!channel) throw new Error('Textract has no completion channel (topic and role) configured');
    if (pages > TEXTRACT_LIMITS.asyncPages) {
      throw new TextractDocumentError(
        'TEXTRACT_TOO_MANY_PAGES',
        `${pages} pages is over Textract's ${TEXTRACT_LIMITS.asyncPages}-page limit for one document`,
      );
    }
    try {
      const out = await this.client.send(
        new StartDocumentTextDetectionCommand({
          DocumentLocation: { S3Object: { Bucket: this.options.bucket, Name: key } },
          ClientRequestToken: token,
          NotificationChannel: { SNSTopicArn: channel.topicArn, RoleArn: channel.roleArn },
        }),
      );
      if (!out.JobId) throw new Error('StartDocumentTextDetection answered without a JobId');
      return out.JobId;
    } catch (error) {
      throw textractError(error);
    }
  }

  /** The job's status alone (one small read): the net under a lost completion notification. */
  async status(jobId: string): Promise<TextractCompletion | undefined> {
    const out = await this.get(jobId, undefined, 1);
    if (!out.JobStatus || out.JobStatus === 'IN_PROGRESS') return undefined;
    return { jobId, status: out.JobStatus, ...(out.StatusMessage ? { message: out.StatusMessage } : {}) };
  }

  /** Every block of a finished detection, following NextToken, grouped by page. */
  async results(jobId: string): Promise<TextractDetection> {
    const blocks = new Map<number, Block[]>();
    let token: string | undefined;
    let first: GetDocumentTextDetectionCommandOutput | undefined;
    do {
      const out = await this.get(jobId, token);
      first ??= out;
      for (const block of out.Blocks ?? []) {
        const page = block.Page ?? 1;
        const list = blocks.get(page) ?? [];
        list.push(block);
        blocks.set(page, list);
      }
      token = out.NextToken;
    } while (token);
    return {
      status: first.JobStatus ?? 'SUCCEEDED',
      ...(first.StatusMessage ? { message: first.StatusMessage } : {}),
      pages: first.DocumentMetadata?.Pages ?? blocks.size,
      blocks,
    };
  }

  private async get(jobId: string, nextToken?: string, maxResults = 1000) {
    try {
      return await this.client.send(
        new GetDocumentTextDetectionCommand({ JobId: jobId, MaxResults: maxResults, NextToken: nextToken }),
      );
    } catch (error) {
      throw textractError(error);
    }
  }
}

/**
 * One page's LINE and WORD blocks in the result format. Boxes are the relative polygons times
 * the page's size in pixels (`width`, `height`: the image's, or a PDF page rendered at the
 * worker's DPI, so both engines' boxes live in the same coordinates); confidences become 0..1;
 * lines keep Textract's reading order (the PAGE block's children, else the order of the blocks)
 * and carry the words their CHILD relationships name.
 */
export function textractPage(
  blocks: readonly Block[],
  page: number,
  size: { width: number; height: number },
): TextractPage {
  const byId = new Map<string, Block>();
  for (const block of blocks) if (block.Id) byId.set(block.Id, block);
  const pageBlock = blocks.find((b) => b.BlockType === 'PAGE');
  const ordered = childIds(pageBlock)
    .map((id) => byId.get(id))
    .filter((b): b is Block => b?.BlockType === 'LINE');
  const lines = ordered.length > 0 ? ordered : blocks.filter((b) => b.BlockType === 'LINE');
  return {
    page,
    width: size.width,
    height: size.height,
    lines: lines
      .filter((line) => (line.Text ?? '').trim() !== '')
      .map((line) => ({
        text: line.Text ?? '',
        confidence: confidenceOf(line),
        box: boxOf(line, size),
        words: childIds(line)
          .map((id) => byId.get(id))
          .filter((b): b is Block => b?.BlockType === 'WORD')
          .map((word) => ({ text: word.Text ?? '', confidence: confidenceOf(word), box: boxOf(word, size) })),
      })),
  };
}

function childIds(block: Block | undefined): string[] {
  return (block?.Relationships ?? []).filter((r) => r.Type === 'CHILD').flatMap((r) => r.Ids ?? []);
}

function confidenceOf(block: Block): number {
  return Math.round(Math.min(100, Math.max(0, block.Confidence ?? 0)) * 100) / 10_000;
}

/** Four corners clockwise from the top left, in pixels: the polygon, else the bounding box. */
function boxOf(block: Block, size: { width: number; height: number }): Quad {
  const at = (x = 0, y = 0): Point => [
    Math.round(Math.min(1, Math.max(0, x)) * size.width),
    Math.round(Math.min(1, Math.max(0, y)) * size.height),
  ];
  const polygon = block.Geometry?.Polygon;
  if (polygon && polygon.length === 4) {
    return polygon.map((p) => at(p.X, p.Y)) as Quad;
  }
  const b = block.Geometry?.BoundingBox ?? {};
  const left = b.Left ?? 0;
  const top = b.Top ?? 0;
  const right = left + (b.Width ?? 0);
  const bottom = top + (b.Height ?? 0);
  return [at(left, top), at(right, top), at(right, bottom), at(left, bottom)];
}

/** A completion notification: SNS's envelope around Textract's JSON, as SQS delivers it. */
function parseCompletion(body: string | undefined): TextractCompletion | undefined {
  try {
    const envelope = JSON.parse(body ?? '') as { Message?: string };
    const inner = JSON.parse(envelope.Message ?? body ?? '') as {
      JobId?: string;
      Status?: string;
      StatusMessage?: string;
    };
    if (!inner.JobId || !inner.Status) return undefined;
    if (inner.Status !== 'SUCCEEDED' && inner.Status !== 'FAILED' && inner.Status !== 'PARTIAL_SUCCESS')
      return undefined;
    return {
      jobId: inner.JobId,
      status: inner.Status,
      ...(inner.StatusMessage ? { message: inner.StatusMessage } : {}),
    };
  } catch {
    return undefined;
  }
}

export interface TextractCompletionsOptions {
  /** Long poll of each receive. */
  waitSeconds: number;
  /** A notification nobody waits for is given back for this long, for the worker that does. */
  returnSeconds: number;
  /** A notification older than this that nobody here waits for is deleted (its waiter is gone). */
  staleAfterMs: number;
}

const DEFAULT_COMPLETIONS_OPTIONS: TextractCompletionsOptions = {
  waitSeconds: 20,
  returnSeconds: 5,
  staleAfterMs: 30 * 60_000,
};

/**
 * The queue Textract's SNS completions land on, shared by all workers. Each worker process runs
 * one long-poll loop while it waits for any job: a notification for one of its own jobs wakes
 * that waiter and is deleted; one for another worker's job is given back after a few seconds so
 * that worker's loop finds it, and one that nobody claimed for half an hour (its worker died) is
 * deleted. Callers keep a slow status read as a net (see the worker's Textract recognizer).
 */
export class TextractCompletions {
  private readonly waiters = new Map<string, Array<(completion: TextractCompletion) => void>>();
  private loop: Promise<void> | undefined;
  private readonly options: TextractCompletionsOptions;

  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    options: Partial<TextractCompletionsOptions> = {},
  ) {
    this.options = { ...DEFAULT_COMPLETIONS_OPTIONS, ...options };
  }

  /** Resolves when the completion of `jobId` arrives; `cancel` stops waiting (the promise never settles). */
  wait(jobId: string): { completion: Promise<TextractCompletion>; cancel: () => void } {
    let resolver: ((completion: TextractCompletion) => void) | undefined;
    const completion = new Promise<TextractCompletion>((resolve) => {
      resolver = resolve;
    });
    const list = this.waiters.get(jobId) ?? [];
    list.push(resolver!);
    this.waiters.set(jobId, list);
    this.loop ??= this.run().finally(() => {
      this.loop = undefined;
    });
    const cancel = () => {
      const left = (this.waiters.get(jobId) ?? []).filter((r) => r !== resolver);
      if (left.length > 0) this.waiters.set(jobId, left);
      else this.waiters.delete(jobId);
    };
    return { completion, cancel };
  }

  private async run(): Promise<void> {
    while (this.waiters.size > 0) {
      try {
        await this.receiveOnce();
      } catch {
        // A failed receive (network, throttling) is retried after a pause; waiters also poll status.
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  private async receiveOnce(): Promise<void> {
    const out = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: this.options.waitSeconds,
        MessageSystemAttributeNames: ['SentTimestamp'],
      }),
    );
    for (const message of out.Messages ?? []) {
      const completion = parseCompletion(message.Body);
      const waiting = completion ? this.waiters.get(completion.jobId) : undefined;
      const sent = Number(message.Attributes?.SentTimestamp ?? Date.now());
      if (waiting || !completion || Date.now() - sent > this.options.staleAfterMs) {
        await this.sqs.send(
          new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
        if (completion && waiting) {
          this.waiters.delete(completion.jobId);
          for (const resolve of waiting) resolve(completion);
        }
        continue;
      }
      await this.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.queueUrl,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: this.options.returnSeconds,
        }),
      );
    }
  }
}
