import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Job,
  type JobSummary,
  OcrApiError,
  OcrClient,
  OcrNetworkError,
  OcrTimeoutError,
} from '../../client/index.ts';
import { JobListSchema, JobViewSchema, QueueStatsSchema } from '../../lambdas/openapi/schemas.ts';
import { PermanentJobError } from '../../lambdas/shared/errors.ts';
import type { LocalStack } from '../../local/stack.ts';
import { PageRecognizer, pagePng, startClientStack } from '../support/ocrq.ts';

/** Every method of the client against the local stack (API, emulated S3, ingest, workers). */
describe('OcrClient on the local stack', () => {
  const recognizer = new PageRecognizer();
  let stack: LocalStack;
  let client: OcrClient;
  let dir: string;

  beforeAll(async () => {
    stack = await startClientStack(recognizer);
    client = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-a' });
    dir = await mkdtemp(join(tmpdir(), 'ocr-client-'));
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('submits a file by path, waits with progress, and reads both results', async () => {
    const path = join(dir, 'scan.png');
    await writeFile(path, await pagePng(1));
    const created = await client.submit(path);
    expect(created.status).toBe('AWAITING_UPLOAD');
    const seen: Job[] = [];
    const job = await client.waitForJob(created.jobId, {
      timeoutMs: 30_000,
      onProgress: (j) => seen.push(j),
    });
    expect(job).toMatchObject({ status: 'SUCCEEDED', fileName: 'scan.png', contentType: 'image/png' });
    expect(JobViewSchema.parse(job)).toBeTruthy();
    expect(seen.at(-1)).toEqual(job);
    const result = await client.getResult(job.jobId, 'json');
    expect(result.pages[0]!.lines[0]!.text).toBe('page 1');
    expect(await client.getResult(job.jobId, 'text')).toContain('page 1');
    expect(await client.getJob(job.jobId)).toMatchObject({ jobId: job.jobId, status: 'SUCCEEDED' });
  });

  it('creates and uploads in two steps; a replayed create with the Idempotency-Key is the same job', async () => {
    const bytes = await pagePng(2);
    const request = { fileName: 'two.png', contentType: 'image/png', sizeBytes: bytes.length };
    const created = await client.createJob(request, { idempotencyKey: 'client-test-two' });
    await client.upload(created, bytes);
    await client.waitForJob(created.jobId, { timeoutMs: 30_000 });
    const again = await client.submit({ fileName: 'two.png', bytes }, { idempotencyKey: 'client-test-two' });
    expect(again.jobId).toBe(created.jobId);
    expect(again.upload).toBeUndefined();
  });

  it('waitForJob rejects after timeoutMs, and on abort with the signal’s reason', async () => {
    const waiting = await client.createJob({
      fileName: 'never.png',
      contentType: 'image/png',
      sizeBytes: 100,
    });
    const started = Date.now();
    const timedOut = client.waitForJob(waiting.jobId, { timeoutMs: 400, intervalMs: 50 });
    await expect(timedOut).rejects.toBeInstanceOf(OcrTimeoutError);
    await expect(timedOut).rejects.toMatchObject({ code: 'TIMEOUT', lastStatus: 'AWAITING_UPLOAD' });
    expect(Date.now() - started).toBeLessThan(2000);

    const controller = new AbortController();
    const polls: string[] = [];
    const aborted = client.waitForJob(waiting.jobId, {
      signal: controller.signal,
      intervalMs: 50,
      onProgress: (j) => polls.push(j.status),
    });
    setTimeout(() => controller.abort(new Error('user gave up')), 300);
    await expect(aborted).rejects.toThrow('user gave up');
    expect(polls.length).toBeGreaterThan(0);
    await client.cancel(waiting.jobId);
  });

  it('listJobs iterates every page of the listing, with a status filter', async () => {
    const tenant = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-c' });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push(
        (await tenant.createJob({ fileName: `${i}.png`, contentType: 'image/png', sizeBytes: 10 })).jobId,
      );
    }
    await tenant.cancel(ids[0]!);
    const listed: JobSummary[] = [];
    for await (const job of tenant.listJobs({ pageSize: 3 })) listed.push(job);
    expect(listed.map((j) => j.jobId).sort()).toEqual([...ids].sort());
    const page = await tenant.listJobsPage({ pageSize: 3 });
    expect(JobListSchema.parse(page).nextCursor).toBeTruthy();
    const cancelled: string[] = [];
    for await (const job of tenant.listJobs({ status: 'CANCELLED', pageSize: 2 })) cancelled.push(job.jobId);
    expect(cancelled).toEqual([ids[0]]);
  });

  it('cancels (twice alike), retries a failed job, and reads the queue figures', async () => {
    const created = await client.createJob({ fileName: 'c.png', contentType: 'image/png', sizeBytes: 10 });
    expect((await client.cancel(created.jobId)).status).toBe('CANCELLED');
    expect((await client.cancel(created.jobId)).status).toBe('CANCELLED');
    await expect(client.retry(created.jobId)).rejects.toMatchObject({ status: 409, code: 'NOT_RETRYABLE' });

    const broken = { fail: true };
    const recognize = recognizer.recognize.bind(recognizer);
    recognizer.recognize = async (input, pages) => {
      if (broken.fail) throw new PermanentJobError('INVALID_INPUT', 'this page is unreadable today');
      return recognize(input, pages);
    };
    try {
      const job = await client.submit({ fileName: 'flaky.png', bytes: await pagePng(3) });
      const failed = await client.waitForJob(job.jobId, { timeoutMs: 30_000 });
      expect(failed.error).toEqual({ code: 'INVALID_INPUT', message: 'this page is unreadable today' });
      broken.fail = false;
      expect(['QUEUED', 'PROCESSING', 'SUCCEEDED']).toContain((await client.retry(job.jobId)).status);
      expect((await client.waitForJob(job.jobId, { timeoutMs: 30_000 })).status).toBe('SUCCEEDED');
    } finally {
      recognizer.recognize = recognize;
    }

    const stats = await client.queueStats();
    expect(QueueStatsSchema.parse(stats).workers).toBeGreaterThanOrEqual(0);
  });

  it("throws the API's errors with status and code, and a clear error when nothing answers", async () => {
    await expect(client.getJob('no-such-job')).rejects.toMatchObject({ status: 404, code: 'NOT_FOUND' });
    const stranger = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'wrong' });
    const refused = await stranger.queueStats().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OcrApiError);
    expect(refused).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    await expect(client.getResult('no-such-job', 'text')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(client.submit({ fileName: 'notes.docx', bytes: new Uint8Array(4) })).rejects.toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });

    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const { port } = closed.address() as AddressInfo;
    await new Promise((done) => closed.close(done));
    const nobody = new OcrClient({ endpoint: `http://127.0.0.1:${port}`, apiKey: 'k' });
    const error = await nobody.getJob('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OcrNetworkError);
    expect((error as Error).message).toMatch(
      new RegExp(`could not reach http://127.0.0.1:${port}/v1/jobs/x: .*ECONNREFUSED`),
    );
  });
});

/** Retries against a server that answers "not now" first: what is safe is sent again, after Retry-After. */
describe('OcrClient retries', () => {
  let server: Server;
  let endpoint: string;
  const requests: string[] = [];
  let busyAnswers = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url} ${req.headers['idempotency-key'] ?? ''}`.trim());
      if (busyAnswers > 0) {
        busyAnswers -= 1;
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(JSON.stringify({ error: { code: 'QUEUE_FULL', message: 'try again shortly' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jobId: 'j1', status: 'QUEUED', pages: { done: 0, total: 1 } }));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((done) => server.close(done));
  });

  it('retries a GET after the Retry-After it was given', async () => {
    requests.length = 0;
    busyAnswers = 1;
    const started = Date.now();
    const job = await new OcrClient({ endpoint, apiKey: 'k' }).getJob('j1');
    expect(job.jobId).toBe('j1');
    expect(requests).toEqual(['GET /v1/jobs/j1', 'GET /v1/jobs/j1']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('retries a create only with an Idempotency-Key, and gives up with retryAfter when told to wait too long', async () => {
    const client = new OcrClient({ endpoint, apiKey: 'k', retry: { retries: 2 } });
    const request = { fileName: 'a.png', contentType: 'image/png', sizeBytes: 1 };
    requests.length = 0;
    busyAnswers = 1;
    const plain = await client.createJob(request).catch((e: unknown) => e);
    expect(plain).toMatchObject({ status: 503, code: 'QUEUE_FULL', retryAfter: 1 });
    expect(requests).toEqual(['POST /v1/jobs']);

    requests.length = 0;
    busyAnswers = 1;
    await client.createJob(request, { idempotencyKey: 'key-1' });
    expect(requests).toEqual(['POST /v1/jobs key-1', 'POST /v1/jobs key-1']);

    requests.length = 0;
    busyAnswers = 5;
    const impatient = new OcrClient({ endpoint, apiKey: 'k', retry: { maxDelayMs: 500 } });
    await expect(impatient.getJob('j1')).rejects.toMatchObject({ status: 503, retryAfter: 1 });
    expect(requests).toHaveLength(1);
    busyAnswers = 0;
  });
});
