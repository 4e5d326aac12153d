import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompletedUploadSchema,
  CreatedJobSchema,
  ErrorResponseSchema,
  JobViewSchema,
  UploadPartsSchema,
  UploadStateSchema,
} from '../../lambdas/openapi/schemas.ts';
import { UploadNotFoundError } from '../../lambdas/shared/adapters/blob-store.ts';
import { objectKeys } from '../../lambdas/shared/resources.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { garbage, noisePdf } from '../support/documents.ts';
import { PageRecognizer } from '../support/recognizers.ts';

const MIB = 1024 * 1024;
const PART = 5 * MIB;

describe('presigned multipart uploads on the local stack', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({
      port: 0,
      workers: 1,
      apiKeys: { tenantA: 'key-a', tenantB: 'key-b' },
      recognizer: new PageRecognizer(),
      // 5 MiB parts (S3's smallest) keep the generated documents small; the threshold stays the
      // local stack's 10 MiB and the maximum is lowered to test the 413 cheaply.
      multipart: { partBytes: PART, maxUploadBytes: 64 * MIB },
      logLevel: 'SILENT',
    });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const call = (
    path: string,
    init: { method?: string; body?: unknown; key?: string; headers?: Record<string, string> } = {},
  ) =>
    fetch(`${stack.apiUrl}${path}`, {
      method: init.method ?? 'GET',
      headers: { 'x-api-key': init.key ?? 'key-a', 'content-type': 'application/json', ...init.headers },
      body:
        init.body === undefined
          ? undefined
          : typeof init.body === 'string'
            ? init.body
            : JSON.stringify(init.body),
    });

  const errorCode = async (response: Response) => ErrorResponseSchema.parse(await response.json()).error;

  async function create(body: Record<string, unknown>, headers: Record<string, string> = {}) {
    const response = await call('/v1/jobs', { method: 'POST', body, headers });
    expect([200, 201]).toContain(response.status);
    return CreatedJobSchema.parse(await response.json());
  }

  async function createMultipart(sizeBytes: number, extra: Record<string, unknown> = {}) {
    const created = await create({
      fileName: 'big.pdf',
      contentType: 'application/pdf',
      sizeBytes,
      ...extra,
    });
    if (created.upload?.method !== 'MULTIPART') throw new Error('expected a multipart upload');
    return { ...created, upload: created.upload };
  }

  async function partUrls(jobId: string, partNumbers: number[]) {
    const response = await call(`/v1/jobs/${jobId}/upload/parts`, { method: 'POST', body: { partNumbers } });
    expect(response.status).toBe(200);
    return UploadPartsSchema.parse(await response.json()).parts;
  }

  /** PUTs parts of `bytes` as a client does: each part's slice to its URL; returns the ETags. */
  async function uploadParts(jobId: string, bytes: Uint8Array, partSize: number, partNumbers: number[]) {
    const etags = new Map<number, string>();
    for (const part of await partUrls(jobId, partNumbers)) {
      const slice = bytes.subarray((part.partNumber - 1) * partSize, part.partNumber * partSize);
      expect(part.headers['content-length']).toBe(String(slice.byteLength));
      const put = await fetch(part.url, { method: part.method, headers: part.headers, body: slice });
      expect(put.status).toBe(200);
      etags.set(part.partNumber, put.headers.get('etag')!);
    }
    return etags;
  }

  async function waitForJob(jobId: string, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = JobViewSchema.parse(await (await call(`/v1/jobs/${jobId}`)).json());
      if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(job.status) || Date.now() > deadline) return job;
      await sleep(100);
    }
  }

  it('an 18 MB eight-page PDF uploads in parts and its job SUCCEEDS with eight pages', async () => {
    const pdf = await noisePdf(8, 18_000_000);
    expect(pdf.byteLength).toBeGreaterThan(11 * MIB); // beyond what fauxqs takes in one PUT
    // Above the threshold without asking: the answer is multipart.
    const created = await createMultipart(pdf.byteLength);
    expect(created.upload).toMatchObject({
      partSizeBytes: PART,
      partCount: Math.ceil(pdf.byteLength / PART),
    });
    expect(created.links.completeUpload).toBe(`${stack.apiUrl}/v1/jobs/${created.jobId}/upload/complete`);
    const all = Array.from({ length: created.upload.partCount }, (_, i) => i + 1);
    await uploadParts(created.jobId, pdf, PART, all);
    const completed = await call(`/v1/jobs/${created.jobId}/upload/complete`, { method: 'POST' });
    expect(completed.status).toBe(202);
    expect(CompletedUploadSchema.parse(await completed.json()).jobId).toBe(created.jobId);
    const job = await waitForJob(created.jobId);
    expect(job.error).toBeUndefined();
    expect(job).toMatchObject({
      status: 'SUCCEEDED',
      pages: { done: 8, total: 8 },
      sizeBytes: pdf.byteLength,
    });
    const text = await (await fetch((job.result as { text: string }).text)).text();
    expect(text).toContain('page 8');
  }, 60_000);

  it('resumes: the parts uploaded before a crash are listed, the rest follow, and complete joins them', async () => {
    const bytes = garbage(2 * PART + 1234, 3);
    const created = await createMultipart(bytes.byteLength, { multipart: true });
    expect(created.upload.partCount).toBe(3);
    const before = await uploadParts(created.jobId, bytes, PART, [1, 3]);
    // The client "crashed": all it has is the job id. The upload's state says what is missing.
    const state = UploadStateSchema.parse(await (await call(`/v1/jobs/${created.jobId}/upload`)).json());
    expect(state).toMatchObject({
      uploadId: created.upload.uploadId,
      partCount: 3,
      sizeBytes: bytes.byteLength,
    });
    expect(state.parts).toEqual([
      { partNumber: 1, sizeBytes: PART, etag: before.get(1) },
      { partNumber: 3, sizeBytes: 1234, etag: before.get(3) },
    ]);
    const done = new Set(state.parts.map((p) => p.partNumber));
    const missing = [1, 2, 3].filter((n) => !done.has(n));
    expect(missing).toEqual([2]);
    const after = await uploadParts(created.jobId, bytes, PART, missing);
    const parts = [...before, ...after].map(([partNumber, etag]) => ({ partNumber, etag }));
    const completed = await call(`/v1/jobs/${created.jobId}/upload/complete`, {
      method: 'POST',
      body: { parts },
    });
    expect(completed.status).toBe(202);
    const key = objectKeys.input('tenantA', created.jobId);
    expect(await stack.runtime.blobs.head(key)).toMatchObject({ sizeBytes: bytes.byteLength });
    expect(Buffer.compare(await stack.runtime.blobs.get(key), Buffer.from(bytes))).toBe(0);
    // Garbage is not a PDF: ingest refuses it like any upload, which shows the event reached it.
    expect(await waitForJob(created.jobId)).toMatchObject({
      status: 'FAILED',
      error: { code: 'INVALID_INPUT' },
    });
    // Completing again is harmless: it answers the job's status.
    const again = await call(`/v1/jobs/${created.jobId}/upload/complete`, { method: 'POST' });
    expect(again.status).toBe(202);
    expect(await again.json()).toEqual({ jobId: created.jobId, status: 'FAILED' });
    // The upload is over: no more parts, no state.
    const state2 = await call(`/v1/jobs/${created.jobId}/upload`);
    expect(state2.status).toBe(409);
    expect((await errorCode(state2)).code).toBe('UPLOAD_COMPLETED');
  }, 30_000);

  it('refuses to complete while a part is missing, of the wrong size, or named with a stale ETag', async () => {
    const bytes = garbage(2 * PART + 10, 4);
    const created = await createMultipart(bytes.byteLength, { multipart: true });
    const etags = await uploadParts(created.jobId, bytes, PART, [1]);
    const incomplete = await call(`/v1/jobs/${created.jobId}/upload/complete`, { method: 'POST' });
    expect(incomplete.status).toBe(400);
    const error = await errorCode(incomplete);
    expect(error.code).toBe('UPLOAD_INCOMPLETE');
    expect(error.message).toContain('parts 2-3 of 3 not uploaded');

    // A part cut at the wrong place (the emulator does not enforce the signed length; S3 does).
    const [part2] = await partUrls(created.jobId, [2]);
    await fetch(part2!.url, { method: 'PUT', body: bytes.subarray(PART, PART + 100) });
    const [part3] = await partUrls(created.jobId, [3]);
    await fetch(part3!.url, { method: 'PUT', headers: part3!.headers, body: bytes.subarray(2 * PART) });
    const wrongSize = await errorCode(
      await call(`/v1/jobs/${created.jobId}/upload/complete`, { method: 'POST' }),
    );
    expect(wrongSize).toMatchObject({ code: 'UPLOAD_INCOMPLETE' });
    expect(wrongSize.message).toContain(`part 2 has 100 bytes, not ${PART}`);

    const fixed = await uploadParts(created.jobId, bytes, PART, [2]);
    const stale = await call(`/v1/jobs/${created.jobId}/upload/complete`, {
      method: 'POST',
      body: {
        parts: [
          { partNumber: 1, etag: etags.get(1)! },
          { partNumber: 2, etag: '"0123456789abcdef0123456789abcdef"' },
        ],
      },
    });
    expect(stale.status).toBe(400);
    const staleError = await errorCode(stale);
    expect(staleError.message).toContain('does not name part 3');
    expect(staleError.message).toContain('ETags of parts 2');
    expect(fixed.get(2)).toBeDefined();
    const ok = await call(`/v1/jobs/${created.jobId}/upload/complete`, { method: 'POST', body: {} });
    expect(ok.status).toBe(202);
    expect(await stack.runtime.blobs.head(objectKeys.input('tenantA', created.jobId))).toMatchObject({
      sizeBytes: bytes.byteLength,
    });
  }, 30_000);

  it('validates the part numbers asked for', async () => {
    const created = await createMultipart(3 * PART, { multipart: true });
    const ask = (body: unknown) => call(`/v1/jobs/${created.jobId}/upload/parts`, { method: 'POST', body });
    for (const body of [
      { partNumbers: [] },
      { partNumbers: [0] },
      { partNumbers: [1.5] },
      { partNumbers: [1, 1] },
      { partNumbers: [4] },
      { partNumbers: Array.from({ length: 101 }, (_, i) => i + 1) },
      {},
      'not json',
    ]) {
      const response = await ask(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect((await errorCode(response)).code).toBe('VALIDATION_ERROR');
    }
    const outside = await errorCode(await ask({ partNumbers: [2, 4, 9] }));
    expect(outside.message).toBe('part numbers 4, 9 are outside 1..3, the parts of this upload');
    const parts = await partUrls(created.jobId, [3, 1]);
    expect(parts.map((p) => [p.partNumber, p.headers['content-length']])).toEqual([
      [3, String(PART)],
      [1, String(PART)],
    ]);
    expect(Date.parse(parts[0]!.expiresAt) - Date.now()).toBeGreaterThan(14 * 60_000);
  });

  it('keeps single PUTs for small files, and answers 404 and 409 where no multipart upload is to be had', async () => {
    const small = await create({ fileName: 'a.pdf', contentType: 'application/pdf', sizeBytes: 1000 });
    expect(small.upload).toMatchObject({ method: 'PUT', headers: { 'Content-Length': '1000' } });
    expect(small.links).toEqual({ self: `${stack.apiUrl}/v1/jobs/${small.jobId}` });
    const notMultipart = await call(`/v1/jobs/${small.jobId}/upload`);
    expect(notMultipart.status).toBe(409);
    expect((await errorCode(notMultipart)).code).toBe('UPLOAD_NOT_MULTIPART');
    const big = await createMultipart(11 * MIB);
    for (const [path, method] of [
      [`/v1/jobs/${big.jobId}/upload`, 'GET'],
      [`/v1/jobs/${big.jobId}/upload/complete`, 'POST'],
      ['/v1/jobs/nope/upload', 'GET'],
    ] as const) {
      const response = await call(path, { method, key: path.includes('nope') ? 'key-a' : 'key-b' });
      expect(response.status, path).toBe(404);
    }
    const tooLarge = await call('/v1/jobs', {
      method: 'POST',
      body: { fileName: 'huge.pdf', contentType: 'application/pdf', sizeBytes: 64 * MIB + 1 },
    });
    expect(tooLarge.status).toBe(413);
    expect((await errorCode(tooLarge)).message).toContain(
      `maximum multipart upload size of ${64 * MIB} bytes`,
    );
  });

  it('a replayed create gives back the same upload; cancelling the job aborts it', async () => {
    const body = { fileName: 'big.pdf', contentType: 'application/pdf', sizeBytes: 12 * MIB };
    const headers = { 'idempotency-key': `multipart-${Date.now()}` };
    const first = await create(body, headers);
    const replay = await call('/v1/jobs', { method: 'POST', body, headers });
    expect(replay.status).toBe(200);
    const again = CreatedJobSchema.parse(await replay.json());
    expect(again.jobId).toBe(first.jobId);
    expect(again.upload).toEqual(first.upload);
    const uploadId = (first.upload as { uploadId: string }).uploadId;
    await uploadParts(first.jobId, garbage(PART, 5), PART, [1]);
    const key = objectKeys.input('tenantA', first.jobId);
    expect(await stack.runtime.blobs.listParts(key, uploadId)).toHaveLength(1);

    const cancelled = await call(`/v1/jobs/${first.jobId}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    await expect(stack.runtime.blobs.listParts(key, uploadId)).rejects.toBeInstanceOf(UploadNotFoundError);
    const parts = await call(`/v1/jobs/${first.jobId}/upload/parts`, {
      method: 'POST',
      body: { partNumbers: [2] },
    });
    expect(parts.status).toBe(409);
    expect((await errorCode(parts)).code).toBe('UPLOAD_COMPLETED');
    const complete = await call(`/v1/jobs/${first.jobId}/upload/complete`, { method: 'POST' });
    expect(await complete.json()).toEqual({ jobId: first.jobId, status: 'CANCELLED' });
  });

  it('lists every part of an upload through ListParts pages (more than 1,000 parts)', async () => {
    const { blobs } = stack.runtime;
    const key = objectKeys.input('tenantA', `paging-${Date.now()}`);
    const uploadId = await blobs.createMultipart(key, 'application/pdf');
    const numbers = Array.from({ length: 1003 }, (_, i) => i + 1);
    for (let i = 0; i < numbers.length; i += 50) {
      await Promise.all(
        numbers.slice(i, i + 50).map(async (n) => {
          const part = await blobs.presignUploadPart(key, uploadId, n, 1, 60);
          const put = await fetch(part.url, {
            method: 'PUT',
            headers: part.headers,
            body: new Uint8Array([n & 0xff]),
          });
          expect(put.status).toBe(200);
        }),
      );
    }
    const listed = await blobs.listParts(key, uploadId);
    expect(listed.map((p) => p.partNumber)).toEqual(numbers);
    expect(listed.every((p) => p.sizeBytes === 1 && p.etag.length > 0)).toBe(true);
    await blobs.abortMultipart(key, uploadId);
    await blobs.abortMultipart(key, uploadId); // gone already: not an error
  }, 60_000);
});
