import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wordPrecisionRecall } from '../../bench/metrics.ts';
import { OcrClient } from '../../client/index.ts';
import { listSamples } from '../../local/samples/index.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { numberedPdf } from '../support/documents.ts';

/**
 * The walking skeleton end to end: the public API over HTTP, a presigned upload with fetch(),
 * the S3 event into ingest, the queue, a worker running the real models, and the results.
 */
describe('pipeline on the local stack', () => {
  let stack: LocalStack;
  let client: OcrClient;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, workers: 2, apiKeys: { tenantA: 'key-a', tenantB: 'key-b' } });
    client = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-a' });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('reads a generated page through every part of the pipeline', async () => {
    const sample = listSamples()[0]!;
    const bytes = await readFile(sample.imagePath);
    const created = await client.submit({ fileName: 'page.png', bytes });
    expect(created.status).toBe('AWAITING_UPLOAD');

    const seen = new Set<string>();
    const job = await client.waitForJob(created.jobId, {
      timeoutMs: 90_000,
      onProgress: (j) => seen.add(j.status),
    });
    expect(job.status).toBe('SUCCEEDED');
    expect(job.pages).toEqual({ done: 1, total: 1 });
    expect(job.timings?.processingMs).toBeGreaterThan(0);

    const text = await client.getResult(job.jobId, 'text');
    const truth = await readFile(sample.groundTruthPath, 'utf8');
    const { recall } = wordPrecisionRecall(text, truth);
    expect(recall).toBeGreaterThanOrEqual(0.9);

    const json = await client.getResult(job.jobId, 'json');
    expect(json.pages).toHaveLength(1);
    const page = json.pages[0]!;
    expect(page).toMatchObject({ page: 1, width: expect.any(Number), height: expect.any(Number) });
    for (const line of page.lines) {
      expect(typeof line.text).toBe('string');
      expect(line.confidence).toBeGreaterThan(0);
      expect(line.confidence).toBeLessThanOrEqual(1);
      expect(line.box).toHaveLength(4);
      for (const [x, y] of line.box) {
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(page.width);
        expect(y).toBeGreaterThanOrEqual(0);
        expect(y).toBeLessThanOrEqual(page.height);
      }
    }
  }, 120_000);

  it('fails bytes that are not an image with INVALID_INPUT, and the next good job still succeeds', async () => {
    const bad = await client.submit(
      { fileName: 'fake.png', bytes: Buffer.from('definitely not a PNG, just some text') },
      {
        contentType: 'image/png',
      },
    );
    const failed = await client.waitForJob(bad.jobId, { timeoutMs: 30_000 });
    expect(failed.status).toBe('FAILED');
    expect(failed.error?.code).toBe('INVALID_INPUT');
    expect(failed.error?.message).toMatch(/declared as image\/png/);
    expect(failed.result).toBeUndefined();

    const sample = listSamples()[1] ?? listSamples()[0]!;
    const good = await client.submit({ fileName: 'next.png', bytes: await readFile(sample.imagePath) });
    const done = await client.waitForJob(good.jobId, { timeoutMs: 90_000 });
    expect(done.status).toBe('SUCCEEDED');
  }, 120_000);

  it('processes a 40-page PDF with two workers, complete and in page order', async () => {
    const pdf = await numberedPdf(40);
    const created = await client.submit({ fileName: 'report.pdf', bytes: pdf });
    const job = await client.waitForJob(created.jobId, { timeoutMs: 240_000, intervalMs: 500 });
    expect(job.status).toBe('SUCCEEDED');
    expect(job.pages).toEqual({ done: 40, total: 40 });
    const result = await client.getResult(job.jobId, 'json');
    expect(result.pages.map((p: { page: number }) => p.page)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    result.pages.forEach((page: { lines: Array<{ text: string }> }, i: number) => {
      expect(page.lines[0]!.text).toBe(`Page ${i + 1} of the report`);
    });
    // Five chunks of eight pages were shared by both workers.
    expect(stack.workers.every((w) => w.processedCount > 0)).toBe(true);
  }, 300_000);

  it('keeps tenants apart and refuses requests without a valid key', async () => {
    const created = await client.createJob({ fileName: 'a.png', contentType: 'image/png', sizeBytes: 10 });
    const other = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-b' });
    await expect(other.getJob(created.jobId)).rejects.toMatchObject({ status: 404, code: 'NOT_FOUND' });
    const anonymous = await fetch(`${stack.apiUrl}/v1/jobs/${created.jobId}`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
  });

  it('answers a malformed body with 400 and a JSON error', async () => {
    const res = await fetch(`${stack.apiUrl}/v1/jobs`, {
      method: 'POST',
      headers: { 'x-api-key': 'key-a', 'content-type': 'application/json' },
      body: '{"fileName": 42',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { code: 'VALIDATION_ERROR', message: expect.any(String) },
    });
  });
});
