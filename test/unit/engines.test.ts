import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  DetectDocumentTextCommand,
  GetDocumentTextDetectionCommand,
  StartDocumentTextDetectionCommand,
  TextractClient,
  ThrottlingException,
} from '@aws-sdk/client-textract';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  type EngineRequest,
  EngineRouter,
  type PaddleRecognizer,
} from '../../gpu-worker/src/engines/engine-router.ts';
import { inkShare, pageDifficulty } from '../../gpu-worker/src/engines/escalation.ts';
import { TextractRecognizer } from '../../gpu-worker/src/engines/textract-recognizer.ts';
import type { DecodedPage, PageResult, RgbImage } from '../../gpu-worker/src/ocr/index.ts';
import { Textract, TextractCompletions } from '../../lambdas/shared/adapters/textract.ts';
import { PrometheusRegistry, secondDimension } from '../../lambdas/shared/metrics.ts';
import { numberedPdf } from '../support/documents.ts';
import { textractLine } from '../support/textract-blocks.ts';

const THRESHOLDS = { minConfidence: 0.8, minInk: 0.02, minTextChars: 10 };

/** A white page with a dark band over `inked` of its rows. */
function pageImage(inked: number, width = 200, height = 100): RgbImage {
  const data = new Uint8Array(width * height * 3).fill(255);
  data.fill(20, 0, Math.round(height * inked) * width * 3);
  return { data, width, height };
}

const line = (text: string, confidence: number) => ({
  text,
  confidence,
  box: [
    [0, 0],
    [10, 0],
    [10, 10],
    [0, 10],
  ] as PageResult['lines'][number]['box'],
});

/**
 * PP-OCR stand-in: page n of the document reads as `readings[n - 1]` (its lines' confidences) on
 * an image with `ink[n - 1]` of its rows dark. Counts what it was asked.
 */
function fakePaddle(readings: Array<Array<[string, number]>>, ink: number[]) {
  const calls = { decoded: 0, recognized: 0 };
  const paddle: PaddleRecognizer = {
    async recognize() {
      throw new Error('auto decodes first');
    },
    async decode(_input, selection) {
      calls.decoded++;
      const first = selection?.firstPage ?? 1;
      const count = selection?.pageCount ?? readings.length;
      return Array.from({ length: count }, (_, i) => ({
        page: first + i,
        image: pageImage(ink[first + i - 1]!),
      }));
    },
    async recognizeDecoded(pages: DecodedPage[]) {
      calls.recognized += pages.length;
      return pages.map(({ page, image }) => ({
        page,
        width: image.width,
        height: image.height,
        lines: readings[page - 1]!.map(([text, confidence]) => line(text, confidence)),
      }));
    },
  };
  return { paddle, calls };
}

const client = new TextractClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 't', secretAccessKey: 't' },
});
const textractMock = mockClient(client);
const recognizer = new TextractRecognizer(new Textract(client, { bucket: 'docs' }), undefined);

const request = (engine: EngineRequest['engine'], pageCount: number): EngineRequest => ({
  engine,
  input: Buffer.from('document'),
  inputKey: 'inputs/t/j/source',
  contentType: 'application/pdf',
  selection: { firstPage: 1, pageCount },
  totalPages: pageCount,
  token: 'token',
});

beforeEach(() => {
  textractMock.reset();
  textractMock.on(DetectDocumentTextCommand).resolves({ Blocks: textractLine('Textract reads this page') });
});

describe('escalation rules', () => {
  it('measures ink as the share of dark pixels', () => {
    expect(inkShare(pageImage(0))).toBe(0);
    expect(inkShare(pageImage(0.25))).toBeCloseTo(0.25, 2);
  });

  it('finds a page hard for low confidence, or for ink without text', () => {
    const page = (lines: Array<[string, number]>): PageResult => ({
      page: 1,
      width: 1,
      height: 1,
      lines: lines.map(([t, c]) => line(t, c)),
    });
    expect(pageDifficulty(page([['clear text here', 0.95]]), 0.1, THRESHOLDS).reason).toBeUndefined();
    expect(
      pageDifficulty(
        page([
          ['smudge', 0.5],
          ['ok line', 0.99],
        ]),
        0.1,
        THRESHOLDS,
      ).reason,
    ).toBe('low-confidence');
    expect(pageDifficulty(page([['ab', 0.99]]), 0.3, THRESHOLDS).reason).toBe('ink-without-text');
    // A blank page with little text is not hard: nothing there to miss.
    expect(pageDifficulty(page([]), 0.001, THRESHOLDS).reason).toBeUndefined();
  });
});

describe('EngineRouter', () => {
  it('auto sends exactly the pages under the thresholds to Textract and keeps its pages', async () => {
    const { paddle, calls } = fakePaddle(
      [
        [['A clear printed page', 0.97]], // 1: fine
        [
          ['blurry', 0.55],
          ['words', 0.6],
        ], // 2: mean confidence 0.575 < 0.8
        [['Also a clear page', 0.93]], // 3: fine
        [['x', 0.99]], // 4: 30% ink, one character
        [['Exactly at the threshold', 0.8]], // 5: 0.8 is not under 0.8
      ],
      [0.05, 0.05, 0.05, 0.3, 0.05],
    );
    const router = new EngineRouter(paddle, recognizer, THRESHOLDS);
    const outcome = await router.recognize(request('auto', 5));
    expect(calls).toEqual({ decoded: 1, recognized: 5 });
    expect(outcome.escalations).toBe(2);
    expect(outcome.pages.map((p) => [p.page, p.engine, p.escalated ?? false])).toEqual([
      [1, 'paddle', false],
      [2, 'textract', true],
      [3, 'paddle', false],
      [4, 'textract', true],
      [5, 'paddle', false],
    ]);
    expect(outcome.pages[1]!.lines.map((l) => l.text)).toEqual(['Textract reads this page']);
    // Textract's page is in the page image's pixels.
    expect(outcome.pages[3]!.width).toBe(200);
    expect(textractMock.commandCalls(DetectDocumentTextCommand)).toHaveLength(2);
    for (const page of outcome.pages) expect(page.ms).toBeGreaterThanOrEqual(0);
  });

  it('auto without Textract keeps every PP-OCR page', async () => {
    const { paddle } = fakePaddle([[['blurry', 0.4]]], [0.05]);
    const recognizeOnly: PaddleRecognizer = {
      recognize: async () => ({
        pages: [{ page: 1, width: 1, height: 1, lines: [line('blurry', 0.4)] }],
      }),
      decode: paddle.decode!,
      recognizeDecoded: paddle.recognizeDecoded!,
    };
    const outcome = await new EngineRouter(recognizeOnly, undefined, THRESHOLDS).recognize(
      request('auto', 1),
    );
    expect(outcome.escalations).toBe(0);
    expect(outcome.pages[0]!.engine).toBe('paddle');
  });

  it('a throttled escalation sends the chunk back (transient), it does not drop the page', async () => {
    textractMock
      .on(DetectDocumentTextCommand)
      .rejects(new ThrottlingException({ message: 'slow', $metadata: {} }));
    const { paddle } = fakePaddle([[['blurry', 0.4]]], [0.05]);
    const error = await new EngineRouter(paddle, recognizer, THRESHOLDS)
      .recognize(request('auto', 1))
      .catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('TEXTRACT_THROTTLED');
  });

  it('textract reads each page of a document that cannot go as a whole through DetectDocumentText', async () => {
    const { paddle, calls } = fakePaddle([[], [], []], [0.1, 0.1, 0.1]);
    const outcome = await new EngineRouter(paddle, recognizer, THRESHOLDS).recognize(request('textract', 3));
    expect(calls.recognized).toBe(0);
    expect(outcome.pages.map((p) => [p.page, p.engine])).toEqual([
      [1, 'textract'],
      [2, 'textract'],
      [3, 'textract'],
    ]);
  });

  it('textract without Textract configured fails the job with ENGINE_UNAVAILABLE', async () => {
    const { paddle } = fakePaddle([[]], [0]);
    const error = await new EngineRouter(paddle, undefined, THRESHOLDS)
      .recognize(request('textract', 1))
      .catch((e: unknown) => e);
    expect((error as { code?: string; permanent?: boolean }).code).toBe('ENGINE_UNAVAILABLE');
    expect((error as { permanent?: boolean }).permanent).toBe(true);
  });
});

describe('TextractRecognizer, multi-page documents', () => {
  it("starts one detection from S3, waits for its completion on the queue and reads the chunk's pages", async () => {
    const credentials = { accessKeyId: 't', secretAccessKey: 't' };
    const sqs = new SQSClient({ region: 'us-east-1', credentials });
    const sqsMock = mockClient(sqs);
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          {
            ReceiptHandle: 'r1',
            Attributes: { SentTimestamp: String(Date.now()) },
            Body: JSON.stringify({ Message: JSON.stringify({ JobId: 'tx-1', Status: 'SUCCEEDED' }) }),
          },
        ],
      })
      .resolves({});
    textractMock.on(StartDocumentTextDetectionCommand).resolves({ JobId: 'tx-1' });
    textractMock
      .on(GetDocumentTextDetectionCommand, { JobId: 'tx-1', NextToken: undefined })
      .resolves({
        JobStatus: 'SUCCEEDED',
        DocumentMetadata: { Pages: 3 },
        Blocks: [...textractLine('first page', { page: 1 }), ...textractLine('second page', { page: 2 })],
        NextToken: 'more',
      })
      .on(GetDocumentTextDetectionCommand, { JobId: 'tx-1', NextToken: 'more' })
      .resolves({ JobStatus: 'SUCCEEDED', Blocks: textractLine('third page', { page: 3 }) });
    const channel = { topicArn: 'arn:topic', roleArn: 'arn:role' };
    const async = new TextractRecognizer(
      new Textract(client, { bucket: 'docs', notification: channel }),
      new TextractCompletions(sqs, 'https://queue', { waitSeconds: 0 }),
      { pdfDpi: 200, statusPollMs: 60_000 },
    );
    const pages = await async.recognizeDocument(
      {
        input: await numberedPdf(3),
        inputKey: 'inputs/t/j/source',
        contentType: 'application/pdf',
        selection: { firstPage: 2, pageCount: 2 },
        totalPages: 3,
        token: 'tok',
      },
      async () => {
        throw new Error('a whole-document detection decodes nothing');
      },
    );
    expect(textractMock.commandCalls(StartDocumentTextDetectionCommand)).toHaveLength(1);
    expect(sqsMock.commandCalls(DeleteMessageCommand)).toHaveLength(1);
    expect(pages.map((p) => [p.page, p.lines[0]!.text, p.width, p.height])).toEqual([
      [2, 'second page', 1654, 2339],
      [3, 'third page', 1654, 2339],
    ]);
  });
});

describe('per-engine metrics', () => {
  it('carry the engine as their second dimension: Engine in EMF, engine in Prometheus', () => {
    expect(secondDimension('EnginePages')).toBe('Engine');
    expect(secondDimension('EnginePageMs')).toBe('Engine');
    expect(secondDimension('WorkerErrors')).toBe('ErrorCode');
    const registry = new PrometheusRegistry('gpu-worker');
    registry.record('EnginePages', 7, 'paddle');
    registry.record('EnginePages', 2, 'textract');
    registry.record('EnginePageMs', 1500, 'textract');
    registry.record('Escalations', 2, 'textract');
    const text = registry.render();
    expect(text).toContain('ocrpipeline_engine_pages_total{service="gpu-worker",engine="paddle"} 7');
    expect(text).toContain('ocrpipeline_engine_page_seconds_sum{service="gpu-worker",engine="textract"} 1.5');
    expect(text).toContain('ocrpipeline_escalations_total{service="gpu-worker",engine="textract"} 2');
  });
});
