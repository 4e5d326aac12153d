import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OcrClient } from '../../client/index.ts';
import type { OcrResult } from '../../gpu-worker/src/ocr/index.ts';
import type { DocumentRecognizer } from '../../gpu-worker/src/worker.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { numberedPdf } from '../support/documents.ts';

/** Engine time in proportion to the pages, as the real engine's; each page reads "page N". */
class PagedRecognizer implements DocumentRecognizer {
  constructor(private readonly msPerPage: number) {}
  async recognize(_input: Buffer, pages = { firstPage: 1, pageCount: 1 }): Promise<OcrResult> {
    await sleep(this.msPerPage * pages.pageCount);
    return {
      pages: Array.from({ length: pages.pageCount }, (_, i) => ({
        page: pages.firstPage + i,
        width: 100,
        height: 100,
        lines: [],
      })),
    };
  }
}

/**
 * One tenant's backlog must not starve another's small job. fauxqs ignores message groups, so
 * this is the worker's own receive policy at work (gpu-worker/src/fair-receiver.ts). Measured on
 * this test: without look-ahead (batchSize 1) B finished after all 30 of A's jobs, with it after 2.
 */
describe('fairness between tenants on the local stack', () => {
  let stack: LocalStack;
  const a = () => new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-a' });
  const b = () => new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-b' });

  beforeAll(async () => {
    stack = await startLocalStack({
      port: 0,
      workers: 1,
      apiKeys: { tenantA: 'key-a', tenantB: 'key-b' },
      recognizer: new PagedRecognizer(100),
      worker: { concurrency: 2, idleWaitSeconds: 1 },
      logLevel: 'SILENT',
    });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  /** The tenant's SUCCEEDED jobs, from the listing route. */
  const succeeded = async (apiKey: string) => {
    const res = await fetch(`${stack.apiUrl}/v1/jobs?status=SUCCEEDED&limit=100`, {
      headers: { 'x-api-key': apiKey },
    });
    return ((await res.json()) as { jobs: unknown[] }).jobs.length;
  };

  it("finishes B's one-page job before half of A's backlog of thirty 8-page documents", async () => {
    const eightPages = await numberedPdf(8);
    const clientA = a();
    const backlog = await Promise.all(
      Array.from({ length: 30 }, (_, i) => clientA.submit({ fileName: `a-${i}.pdf`, bytes: eightPages })),
    );
    // A's messages are all queued before B's arrives behind them.
    const queued = async () => {
      const depth = await stack.runtime.queue.depth('express');
      return depth.visible + depth.inFlight;
    };
    const deadline = Date.now() + 20_000;
    while ((await queued()) < 20 && Date.now() < deadline) await sleep(50);
    const doneBefore = await succeeded('key-a');
    expect(doneBefore).toBeLessThan(10);

    const small = await b().submit({ fileName: 'b.pdf', bytes: await numberedPdf(1) });
    const job = await b().waitForJob(small.jobId, { timeoutMs: 30_000, intervalMs: 50 });
    expect(job.status).toBe('SUCCEEDED');
    const aDoneWhenBDone = await succeeded('key-a');
    expect(aDoneWhenBDone).toBeLessThan(15);

    // Setting messages aside lost nothing: the whole backlog finishes.
    for (const created of backlog) {
      const done = await clientA.waitForJob(created.jobId, { timeoutMs: 30_000, intervalMs: 200 });
      expect(done.status).toBe('SUCCEEDED');
    }
  }, 60_000);
});
