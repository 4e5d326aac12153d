import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OcrClient } from '../../client/index.ts';
import type { OcrResult } from '../../gpu-worker/src/ocr/index.ts';
import type { DocumentRecognizer } from '../../gpu-worker/src/worker.ts';
import { makeIngestHandler } from '../../lambdas/ingest/ingest.ts';
import { JobListSchema, JobViewSchema } from '../../lambdas/openapi/schemas.ts';
import { PermanentJobError } from '../../lambdas/shared/errors.ts';
import { objectKeys } from '../../lambdas/shared/resources.ts';
import { API_ROUTES } from '../../lambdas/shared/routes.ts';
import { objectCreatedRecord } from '../../local/s3-events.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { numberedPdf } from '../support/documents.ts';
import { pageNumberResult } from '../support/recognizers.ts';

type Behaviour = (pages: { firstPage: number; pageCount: number }, jobInput: Buffer) => Promise<void>;

/**
 * A recognizer whose behaviour each test scripts (delays, corrupt pages, transient failures),
 * so the control plane is tested end to end without spending the OCR's time. Each page reads
 * "page N". The engine itself is tested in test/engine and test/e2e/pipeline.test.ts.
 */
class ScriptedRecognizer implements DocumentRecognizer {
  behaviour: Behaviour = async () => undefined;
  calls = 0;
  inFlight = 0;
  mostInFlight = 0;
  async recognize(input: Buffer, pages = { firstPage: 1, pageCount: 1 }): Promise<OcrResult> {
    this.calls += 1;
    this.inFlight += 1;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    await this.behaviour(pages, input).finally(() => {
      this.inFlight -= 1;
    });
    return pageNumberResult(pages);
  }
}

describe('job lifecycle on the local stack', () => {
  let stack: LocalStack;
  let client: OcrClient;
  const recognizer = new ScriptedRecognizer();
  let png: Buffer;

  beforeAll(async () => {
    stack = await startLocalStack({
      port: 0,
      workers: 2,
      apiKeys: { tenantA: 'key-a', tenantB: 'key-b' },
      recognizer,
      limits: { chunkPages: 2 },
      worker: { idleWaitSeconds: 1, backoff: { baseSeconds: 1, maxSeconds: 1 }, concurrency: 2 },
      deadLetterSweepMs: 300,
      logLevel: 'SILENT',
    });
    client = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-a' });
    png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  beforeEach(() => {
    recognizer.behaviour = async () => undefined;
  });

  const succeededEvents = (jobId: string) =>
    stack.emulators.aws.spy
      .getAllMessages()
      .filter(
        (m) =>
          m.service === 'sns' && m.body.includes(`"jobId":"${jobId}"`) && m.body.includes('job.succeeded'),
      );

  it('runs a multi-chunk PDF to SUCCEEDED with pages in order, and shows it in the listing', async () => {
    const created = await client.submit({ fileName: 'ten.pdf', bytes: await numberedPdf(10) });
    const job = await client.waitForJob(created.jobId, { timeoutMs: 30_000 });
    expect(JobViewSchema.parse(job)).toMatchObject({ status: 'SUCCEEDED', pages: { done: 10, total: 10 } });
    const text = await client.getResult(job.jobId, 'text');
    expect(text.split('\n\f\n').map((t) => t.trim())).toEqual(
      Array.from({ length: 10 }, (_, i) => `page ${i + 1}`),
    );
    const list = JobListSchema.parse(
      await (
        await fetch(`${stack.apiUrl}/v1/jobs?status=SUCCEEDED&limit=100`, {
          headers: { 'x-api-key': 'key-a' },
        })
      ).json(),
    );
    expect(list.jobs.map((j) => j.jobId)).toContain(created.jobId);
    // The result route redirects to the presigned text.
    const redirect = await fetch(`${stack.apiUrl}/v1/jobs/${created.jobId}/result?format=text`, {
      headers: { 'x-api-key': 'key-a' },
      redirect: 'manual',
    });
    expect(redirect.status).toBe(302);
    expect(await (await fetch(redirect.headers.get('location')!)).text()).toBe(text);
  });

  it('changes nothing twice for duplicate S3 events and duplicate SQS deliveries', async () => {
    const created = await client.submit({ fileName: 'one.png', bytes: png });
    const done = await client.waitForJob(created.jobId, { timeoutMs: 30_000 });
    expect(done.status).toBe('SUCCEEDED');
    const callsBefore = recognizer.calls;

    const key = objectKeys.input('tenantA', created.jobId);
    const ingest = makeIngestHandler(stack.runtime);
    const again = await ingest({
      Records: [objectCreatedRecord('us-east-1', stack.runtime.config.bucketName, key, png.length)],
    });
    expect(again.outcomes).toEqual(['duplicate']);

    await stack.runtime.queue.send('express', {
      v: 1,
      tenantId: 'tenantA',
      jobId: created.jobId,
      inputKey: key,
      contentType: 'image/png',
      chunk: { index: 0, firstPage: 1, pageCount: 1 },
      enqueuedAt: new Date().toISOString(),
    });
    await waitUntil(
      async () =>
        (await stack.runtime.queue.depth('express')).visible +
          (await stack.runtime.queue.depth('express')).inFlight ===
        0,
    );
    const after = await client.getJob(created.jobId);
    expect(after.updatedAt).toBe(done.updatedAt);
    expect(after.pages).toEqual({ done: 1, total: 1 });
    expect(recognizer.calls).toBe(callsBefore);
    expect(succeededEvents(created.jobId)).toHaveLength(1);
  });

  it('keeps several messages in hand per worker, so the engine gets their pages together', async () => {
    // A second per chunk. CI runs saw at most 2 in flight, at 300 ms and at 1 s: one worker's slots
    // received one after the other, and the second receive parked two chunks its first had given
    // back, hidden from the idle worker (fixed in fair-receiver.ts; fair-receive.test.ts plays that
    // order deterministically).
    recognizer.behaviour = () => sleep(1000);
    recognizer.mostInFlight = 0;
    const created = await client.submit({ fileName: 'eight.pdf', bytes: await numberedPdf(8) });
    const job = await client.waitForJob(created.jobId, { timeoutMs: 30_000 });
    expect(job).toMatchObject({ status: 'SUCCEEDED', pages: { done: 8, total: 8 } });
    // Four chunks, two workers with two messages each: more at once than one per worker.
    expect(recognizer.mostInFlight).toBeGreaterThan(2);
  });

  it('cancels a multi-chunk job in the middle; workers drop the rest', async () => {
    recognizer.behaviour = () => sleep(400);
    const created = await client.submit({ fileName: 'long.pdf', bytes: await numberedPdf(20) });
    await waitUntil(async () => (await client.getJob(created.jobId)).pages.done >= 2);
    const cancel = await fetch(`${stack.apiUrl}/v1/jobs/${created.jobId}`, {
      method: 'DELETE',
      headers: { 'x-api-key': 'key-a' },
    });
    expect(cancel.status).toBe(200);
    await waitUntil(async () => {
      const [express, bulk] = await Promise.all([
        stack.runtime.queue.depth('express'),
        stack.runtime.queue.depth('bulk'),
      ]);
      return express.visible + express.inFlight + bulk.visible + bulk.inFlight === 0;
    }, 30_000);
    const job = await client.getJob(created.jobId);
    expect(job.status).toBe('CANCELLED');
    expect(job.pages.done).toBeLessThan(20);
    expect(job.result).toBeUndefined();
    const again = await fetch(`${stack.apiUrl}/v1/jobs/${created.jobId}`, {
      method: 'DELETE',
      headers: { 'x-api-key': 'key-a' },
    });
    expect(again.status).toBe(200);
  });

  it('fails a job with a poison page at once, with its code, and the worker goes on', async () => {
    recognizer.behaviour = async (pages) => {
      if (pages.firstPage <= 3 && 3 < pages.firstPage + pages.pageCount)
        throw new PermanentJobError('INVALID_INPUT', 'page 3 is corrupt');
    };
    const poisoned = await client.submit({ fileName: 'poison.pdf', bytes: await numberedPdf(4) });
    const failed = await client.waitForJob(poisoned.jobId, { timeoutMs: 30_000 });
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toEqual({ code: 'INVALID_INPUT', message: 'page 3 is corrupt' });
    recognizer.behaviour = async () => undefined;
    const next = await client.waitForJob((await client.submit({ fileName: 'next.png', bytes: png })).jobId, {
      timeoutMs: 30_000,
    });
    expect(next.status).toBe('SUCCEEDED');
  });

  it('fails a job whose chunk fails three times (MAX_ATTEMPTS, counted on the job), and retry brings it back', async () => {
    recognizer.behaviour = async () => {
      throw new Error('the GPU is on fire');
    };
    const created = await client.submit({ fileName: 'flaky.png', bytes: png });
    const failed = await client.waitForJob(created.jobId, { timeoutMs: 60_000, intervalMs: 300 });
    expect(failed.status).toBe('FAILED');
    expect(failed.error?.code).toBe('MAX_ATTEMPTS');
    expect(failed.error?.message).toContain('after 3 attempts');
    expect(failed.error?.message).toContain('the GPU is on fire');

    recognizer.behaviour = async () => undefined;
    const retried = await fetch(`${stack.apiUrl}/v1/jobs/${created.jobId}/retry`, {
      method: 'POST',
      headers: { 'x-api-key': 'key-a' },
    });
    expect(retried.status).toBe(202);
    const back = await client.waitForJob(created.jobId, { timeoutMs: 30_000 });
    expect(back.status).toBe('SUCCEEDED');
    expect(back.error).toBeUndefined();
  }, 90_000);

  it("a tenant's redrive leaves other tenants' dead letters alone", async () => {
    const other = await fetch(`${stack.apiUrl}/v1/queues/redrive`, {
      method: 'POST',
      headers: { 'x-api-key': 'key-b' },
    });
    expect(await other.json()).toMatchObject({ moved: 0, more: false });
  });

  it('retries a failed job through the API', async () => {
    recognizer.behaviour = async () => {
      throw new PermanentJobError('INVALID_INPUT', 'bad page');
    };
    const created = await client.submit({ fileName: 'retry.pdf', bytes: await numberedPdf(3) });
    expect((await client.waitForJob(created.jobId, { timeoutMs: 30_000 })).status).toBe('FAILED');
    recognizer.behaviour = async () => undefined;
    const retried = await fetch(`${stack.apiUrl}/v1/jobs/${created.jobId}/retry`, {
      method: 'POST',
      headers: { 'x-api-key': 'key-a' },
    });
    expect(retried.status).toBe(202);
    const done = await client.waitForJob(created.jobId, { timeoutMs: 30_000 });
    expect(done).toMatchObject({ status: 'SUCCEEDED', pages: { done: 3, total: 3 } });
  });

  it('sends a job to the bulk queue when asked, and answers 404 to another tenant', async () => {
    const created = await client.submit({ fileName: 'bulk.png', bytes: png }, { priority: 'bulk' });
    const job = await client.waitForJob(created.jobId, { timeoutMs: 30_000 });
    expect(job).toMatchObject({ status: 'SUCCEEDED', priority: 'bulk' });
    const other = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-b' });
    await expect(other.getJob(created.jobId)).rejects.toMatchObject({ status: 404 });
    const cancel = await fetch(`${stack.apiUrl}/v1/jobs/${created.jobId}`, {
      method: 'DELETE',
      headers: { 'x-api-key': 'key-b' },
    });
    expect(cancel.status).toBe(404);
  });

  it('creates idempotently with Idempotency-Key', async () => {
    const body = JSON.stringify({ fileName: 'a.png', contentType: 'image/png', sizeBytes: png.length });
    const post = (b: string) =>
      fetch(`${stack.apiUrl}/v1/jobs`, {
        method: 'POST',
        headers: { 'x-api-key': 'key-a', 'content-type': 'application/json', 'idempotency-key': 'order-7' },
        body: b,
      });
    const first = await post(body);
    const second = await post(body);
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    const [a, b] = [(await first.json()) as { jobId: string }, (await second.json()) as { jobId: string }];
    expect(b.jobId).toBe(a.jobId);
    const conflict = await post(
      JSON.stringify({ fileName: 'b.png', contentType: 'image/png', sizeBytes: 5 }),
    );
    expect(conflict.status).toBe(409);
  });

  it('serves the OpenAPI document describing every route it serves', async () => {
    const doc = (await (await fetch(`${stack.apiUrl}/v1/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const route of API_ROUTES) expect(doc.paths[route.path]?.[route.method.toLowerCase()]).toBeDefined();
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(100);
  }
}
