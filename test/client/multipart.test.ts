import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OcrClient } from '../../client/index.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { noisePdf } from '../support/documents.ts';
import { PageRecognizer, runOcrq } from '../support/ocrq.ts';

const MIB = 1024 * 1024;

/** The part PUTs a client sent (part numbers, from the presigned URLs' query). */
function countingFetch(log: number[]): typeof fetch {
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const part = /[?&]partNumber=(\d+)/.exec(url)?.[1];
    if (part && init?.method === 'PUT') log.push(Number(part));
    return fetch(input, init);
  };
}

/** Large documents through the client: presigned parts, streamed from the file, resumable. */
describe('OcrClient multipart uploads on the local stack', () => {
  let stack: LocalStack;
  let dir: string;
  let bigPdf: string;

  beforeAll(async () => {
    stack = await startLocalStack({
      port: 0,
      workers: 1,
      apiKeys: { tenantA: 'key-a' },
      recognizer: new PageRecognizer(),
      // S3's smallest parts keep the document small; 12 MiB is above the local 10 MiB threshold.
      multipart: { partBytes: 5 * MIB },
      logLevel: 'SILENT',
    });
    dir = await mkdtemp(join(tmpdir(), 'ocr-multipart-'));
    bigPdf = join(dir, 'big.pdf');
    await writeFile(bigPdf, await noisePdf(2, 12 * MIB));
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('submits a file above the threshold in parts, reporting bytes, and the job succeeds', async () => {
    const parts: number[] = [];
    const client = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-a', fetch: countingFetch(parts) });
    const progress: number[] = [];
    const created = await client.submit(bigPdf, { onProgress: (bytes) => progress.push(bytes) });
    expect(created.upload).toMatchObject({ method: 'MULTIPART', partCount: 3, partSizeBytes: 5 * MIB });
    expect(parts.sort()).toEqual([1, 2, 3]);
    expect(progress[0]).toBe(0);
    expect(progress.at(-1)).toBeGreaterThan(12 * MIB * 0.9);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const job = await client.waitForJob(created.jobId, { timeoutMs: 60_000 });
    expect(job).toMatchObject({ status: 'SUCCEEDED', pages: { done: 2, total: 2 } });
    expect((await client.getResult(job.jobId, 'json')).pages).toHaveLength(2);
  }, 90_000);

  it('resumes an interrupted upload: a second call sends only the parts not stored', async () => {
    const parts: number[] = [];
    const client = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-a', fetch: countingFetch(parts) });
    const key = 'resume-test';
    const { size } = await stat(bigPdf);
    const created = await client.createJob(
      { fileName: 'big.pdf', contentType: 'application/pdf', sizeBytes: size },
      { idempotencyKey: key },
    );
    // Interrupted once the first part is stored.
    const interrupt = new AbortController();
    const first = client.upload(created, bigPdf, {
      concurrency: 1,
      signal: interrupt.signal,
      onProgress: (bytes) => {
        if (bytes > 0) interrupt.abort(new Error('connection lost'));
      },
    });
    await expect(first).rejects.toThrow('connection lost');
    expect(parts).toEqual([1]);
    expect((await client.getUploadState(created.jobId)).parts.map((p) => p.partNumber)).toEqual([1]);

    // Resumed by job id, and interrupted again once one more part is stored.
    parts.length = 0;
    const again = new AbortController();
    const second = client.upload(created.jobId, bigPdf, {
      concurrency: 1,
      signal: again.signal,
      onProgress: (bytes) => {
        if (bytes > 5 * MIB) again.abort(new Error('connection lost again'));
      },
    });
    await expect(second).rejects.toThrow('connection lost again');
    expect(parts).toEqual([2]);

    // What `ocrq submit` does on a rerun: the same create (a replay), then the rest of the upload.
    parts.length = 0;
    const replayed = await client.submit(bigPdf, { idempotencyKey: key });
    expect(replayed.jobId).toBe(created.jobId);
    expect(parts).toEqual([3]);
    expect((await client.waitForJob(created.jobId, { timeoutMs: 60_000 })).status).toBe('SUCCEEDED');
  }, 90_000);

  it('ocrq submit sends a large file in parts and saves its result', async () => {
    const out = join(dir, 'out');
    const run = await runOcrq([
      'submit',
      bigPdf,
      '--wait',
      '--out',
      out,
      '--endpoint',
      stack.apiUrl,
      '--api-key',
      'key-a',
    ]);
    expect(run.stderr).not.toMatch(/ocrq: /);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^1 files: 1 succeeded, 0 failed, 0 skipped · 2 pages/m);
  }, 90_000);
});
