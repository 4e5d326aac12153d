import { XMLValidator } from 'fast-xml-parser';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OcrClient } from '../../client/index.ts';
import type { OcrResult } from '../../gpu-worker/src/ocr/index.ts';
import type { DocumentRecognizer } from '../../gpu-worker/src/worker.ts';
import { QueueStatsSchema } from '../../lambdas/openapi/schemas.ts';
import { pdfPageTexts } from '../../lambdas/shared/documents/pdf-text.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { localTextract } from '../../local/textract.ts';
import { numberedPdf } from '../support/documents.ts';

/** Reads every page as "Recognised page N" across the page, in the page's own pixels. */
const recognizer: DocumentRecognizer = {
  async recognize(_input, pages = { firstPage: 1, pageCount: 1 }): Promise<OcrResult> {
    return {
      pages: Array.from({ length: pages.pageCount }, (_, i) => {
        const page = pages.firstPage + i;
        const words = ['Recognised', 'page', String(page)];
        return {
          page,
          width: 1000,
          height: 1400,
          lines: [
            {
              text: words.join(' '),
              confidence: 0.95,
              box: [
                [100, 100],
                [900, 100],
                [900, 160],
                [100, 160],
              ],
              words: words.map((text, w) => ({
                text,
                confidence: 0.95,
                box: [
                  [100 + w * 280, 100],
                  [340 + w * 280, 100],
                  [340 + w * 280, 160],
                  [100 + w * 280, 160],
                ],
              })),
            },
          ],
        };
      }),
    };
  },
};

describe('engines and outputs on the local stack (Textract absent)', () => {
  let stack: LocalStack;
  let client: OcrClient;

  beforeAll(async () => {
    stack = await startLocalStack({
      port: 0,
      workers: 1,
      apiKeys: { tenantA: 'key-a' },
      recognizer,
      textract: false,
      worker: { idleWaitSeconds: 1 },
      logLevel: 'SILENT',
    });
    client = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-a' });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('refuses engine textract with 400 ENGINE_UNAVAILABLE', async () => {
    const error = await client
      .createJob({ fileName: 'a.png', contentType: 'image/png', sizeBytes: 10, engine: 'textract' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400, code: 'ENGINE_UNAVAILABLE' });
  });

  it('runs auto as PP-OCR and writes every format: pages with engine and ms, hOCR, a searchable PDF', async () => {
    const pdf = await numberedPdf(3);
    const created = await client.submit({ bytes: pdf, fileName: 'report.pdf' }, { engine: 'auto' });
    const job = await client.waitForJob(created.jobId, { timeoutMs: 30_000 });
    expect(job.status).toBe('SUCCEEDED');
    expect(Object.keys(job.result ?? {})).toEqual(expect.arrayContaining(['json', 'text', 'hocr', 'pdf']));

    const json = await client.getResult(created.jobId, 'json');
    expect(json.pages.map((p) => [p.page, (p as { engine?: string }).engine])).toEqual([
      [1, 'paddle'],
      [2, 'paddle'],
      [3, 'paddle'],
    ]);
    for (const page of json.pages) expect((page as { ms?: number }).ms).toBeGreaterThanOrEqual(0);

    const hocr = await client.getResult(created.jobId, 'hocr');
    expect(XMLValidator.validate(hocr)).toBe(true);
    expect(hocr.match(/class="ocr_page"/g)).toHaveLength(3);

    const searchable = await client.getResult(created.jobId, 'pdf');
    const texts = await pdfPageTexts(searchable);
    expect(texts).toHaveLength(3);
    texts.forEach((text, i) => {
      const words = text.split(/\s+/);
      // The original text and the recognised words, on the page they belong to.
      expect(words).toEqual(expect.arrayContaining(['Recognised', 'page', String(i + 1), 'report']));
    });

    const stats = QueueStatsSchema.parse(await client.queueStats());
    expect(stats.engines.paddle.pages).toBeGreaterThanOrEqual(3);
    expect(stats.engines.textract.pages).toBe(0);
  }, 60_000);

  it('turns an image into a one-page searchable PDF', async () => {
    const png = await sharp({ create: { width: 1000, height: 1400, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    const created = await client.submit({ bytes: png, fileName: 'scan.png' });
    expect((await client.waitForJob(created.jobId, { timeoutMs: 30_000 })).status).toBe('SUCCEEDED');
    const texts = await pdfPageTexts(await client.getResult(created.jobId, 'pdf'));
    expect(texts.map((t) => t.split(/\s+/).filter(Boolean))).toEqual([['Recognised', 'page', '1']]);
  }, 60_000);
});

describe('the local stack finds Textract in the environment', () => {
  it('is off without OCRQ_TEXTRACT_REGION, on with it and credentials', async () => {
    const warn = vi.fn();
    expect(await localTextract({}, warn)).toBeUndefined();
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAEXAMPLE');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret');
    try {
      expect(await localTextract({ OCRQ_TEXTRACT_REGION: 'eu-west-1' }, warn)).toEqual({
        region: 'eu-west-1',
      });
    } finally {
      vi.unstubAllEnvs();
    }
    expect(warn).not.toHaveBeenCalled();
  });
});
