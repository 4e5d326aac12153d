import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OcrClient } from '../../client/index.ts';
import { numberedPdf } from '../support/documents.ts';
import {
  type StackProcess,
  smallPagesPdf,
  spawnWorkerProcess,
  startStackProcess,
  startWorkerFleet,
  submitAll,
  succeededCount,
  TEST_WORKER_ENV,
  type WorkerFleet,
  type WorkerProcess,
  waitUntil,
} from '../support/worker-process.ts';

/**
 * The first of the fault suite: real worker processes (the container's entry, the real engine on
 * one thread) against the local stack started as `npm start -- --workers 0` starts it, killed in
 * the middle of their work.
 */
describe('worker processes under faults', () => {
  let fleet: WorkerFleet | undefined;

  afterEach(async () => {
    await fleet?.stop();
    fleet = undefined;
  });

  const succeededEvents = (f: WorkerFleet, jobId: string) =>
    f.stack.emulators.aws.spy
      .getAllMessages()
      .filter(
        (m) =>
          m.service === 'sns' && m.body.includes(`"jobId":"${jobId}"`) && m.body.includes('job.succeeded'),
      );

  it('npm start -- --workers 0 prints its contract lines and a worker env file that npm run worker runs against', async () => {
    let stack: StackProcess | undefined;
    let worker: WorkerProcess | undefined;
    try {
      stack = await startStackProcess(['--workers', '0', '--port', '0', '--no-samples']);
      expect(stack.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(await readFile(stack.envFile, 'utf8')).toMatch(/^OCRQ_EXPRESS_QUEUE_URL=http/m);
      worker = spawnWorkerProcess(stack.envFile, { ...TEST_WORKER_ENV, OCRQ_PDF_DPI: '100' });
      const client = new OcrClient({ endpoint: stack.apiUrl, apiKey: stack.apiKey });
      const [created] = await Promise.all([
        client.submit({ fileName: 'one.pdf', bytes: await smallPagesPdf(2) }),
        worker.ready(),
      ]);
      const job = await client.waitForJob(created.jobId, { timeoutMs: 30_000, intervalMs: 200 });
      expect(job).toMatchObject({ status: 'SUCCEEDED', pages: { done: 2, total: 2 } });
      // The worker process pushed its figures to the stack, which serves them.
      await waitUntil(
        async () =>
          /ocrpipeline_pages_processed_total\{service="gpu-worker"\} 2\n/.test(
            await (await fetch(`${stack!.apiUrl}/metrics`)).text(),
          ),
        10_000,
        'the pages in GET /metrics',
      );
      worker.kill('SIGTERM');
      expect(await worker.exited).toMatchObject({ code: 0 });
      stack.child.kill('SIGTERM');
      expect(await stack.exited).toMatchObject({ code: 0 });
    } finally {
      worker?.kill('SIGKILL');
      stack?.child.kill('SIGKILL');
    }
  }, 90_000);

  it('SIGKILL in the middle of 50 jobs, another worker takes over: all SUCCEEDED once, no page missing', async () => {
    fleet = await startWorkerFleet({
      apiKeys: { tenantA: 'key-a' },
      limits: { chunkPages: 1 },
      // A worker killed between a job's SUCCEEDED write and its event leaves the event to the
      // reconciler: announce within 10 s here rather than after the default minute.
      reconcileMs: 1000,
      reconcile: { unannouncedAfterSeconds: 10 },
    });
    const f = fleet;
    // Small pages at 100 DPI: ~130 ms of engine time each on one thread (measured), 100 chunks.
    const env = { OCRQ_PDF_DPI: '100', OCRQ_WORKER_CONCURRENCY: '4' };
    const first = f.spawnWorker(env);
    const pdf = await smallPagesPdf(2);
    const client = new OcrClient({ endpoint: f.stack.apiUrl, apiKey: 'key-a' });
    const [jobs] = await Promise.all([submitAll(client, 50, (i) => [`doc-${i}.pdf`, pdf]), first.ready()]);
    // One indexed query per look (50 reads every 100 ms would load the emulator under test).
    const done = () => succeededCount(f.stack.apiUrl, 'key-a');
    await waitUntil(async () => (await done()) >= 5, 30_000, 'the first worker to finish some jobs');
    first.kill('SIGKILL');
    expect(await first.exited).toMatchObject({ signal: 'SIGKILL' });
    const killedAfter = await done();
    expect(killedAfter).toBeLessThan(50);

    const second = f.spawnWorker(env);
    await second.ready();
    // ~15 s on a quiet machine; the suite runs other process-heavy files beside it on 2 cores.
    await waitUntil(async () => (await done()) === 50, 100_000, 'every job to succeed').catch(
      async (error: Error) => {
        // A timeout here once hid what was stuck: name the jobs not done and the worker's last words.
        const open: string[] = [];
        for (const created of jobs) {
          const job = await client.getJob(created.jobId);
          if (job.status !== 'SUCCEEDED')
            open.push(
              `${job.jobId} ${job.status} ${JSON.stringify(job.pages)} ${JSON.stringify(job.error ?? null)}`,
            );
        }
        throw new Error(
          `${error.message}; ${open.length} jobs not SUCCEEDED:\n${open.join('\n')}\n` +
            `--- the second worker's last output:\n${second.output().slice(-6000)}`,
        );
      },
    );

    for (const created of jobs) {
      const job = await client.getJob(created.jobId);
      expect(job).toMatchObject({ status: 'SUCCEEDED', pages: { done: 2, total: 2 } });
      // The event follows the SUCCEEDED write (for a job whose worker was killed between the two,
      // from the reconciler): wait for it rather than race it.
      await vi.waitFor(() => expect(succeededEvents(f, created.jobId)).toHaveLength(1), {
        timeout: 40_000,
        interval: 100,
      });
      const result = (await client.getResult(job.jobId, 'json')) as {
        pages: Array<{ page: number; lines: Array<{ text: string }> }>;
      };
      expect(result.pages.map((p) => p.page)).toEqual([1, 2]);
      result.pages.forEach((page) => {
        expect(page.lines.map((l) => l.text).join(' ')).toContain(String(page.page));
      });
    }
    // The second worker did the rest, including what the first held when it died.
    expect(second.logs('job succeeded').length).toBeGreaterThanOrEqual(50 - killedAfter);
  }, 180_000);

  it('SIGTERM during a batch: exits 0 within the grace period, gives the rest back, burns no attempt', async () => {
    fleet = await startWorkerFleet({ apiKeys: { tenantA: 'key-a' }, limits: { chunkPages: 16 } });
    const f = fleet;
    // One second to finish, three to stop the engine's running task: exit within four. A message
    // of 16 A4 pages takes the engine several seconds even on a quiet machine (3 pages took 1.5 s
    // here), so whatever the machine's speed some work is given back.
    const graceSeconds = 4;
    const first = f.spawnWorker({
      OCRQ_WORKER_DRAIN_SECONDS: String(graceSeconds),
      OCRQ_WORKER_STOP_RESERVE_SECONDS: '3',
    });
    const client = new OcrClient({ endpoint: f.stack.apiUrl, apiKey: 'key-a' });
    const pdf = await numberedPdf(16);
    const [jobs] = await Promise.all([
      Promise.all(
        Array.from({ length: 3 }, (_, i) => client.submit({ fileName: `report-${i}.pdf`, bytes: pdf })),
      ),
      first.ready(),
    ]);
    await waitUntil(
      async () =>
        (await Promise.all(jobs.map((j) => f.stack.runtime.jobs.get('tenantA', j.jobId)))).some(
          (j) => j?.status === 'PROCESSING',
        ),
      30_000,
      'the worker to start on a job',
    );
    const signalledAt = Date.now();
    first.kill('SIGTERM');
    const exit = await first.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - signalledAt).toBeLessThan(graceSeconds * 1000 + 500);
    const [drained] = first.logs('drained');
    expect(drained).toMatchObject({ returned: expect.any(Number), engineStopped: true });
    expect(drained?.returned).toBeGreaterThanOrEqual(1);

    const second = f.spawnWorker();
    for (const created of jobs) {
      const job = await client.waitForJob(created.jobId, { timeoutMs: 90_000, intervalMs: 250 });
      expect(job).toMatchObject({ status: 'SUCCEEDED', pages: { done: 16, total: 16 } });
      const stored = await f.stack.runtime.jobs.get('tenantA', created.jobId);
      // No failed attempt was recorded for the messages given back.
      expect(stored?.chunkFailures ?? {}).toEqual({});
      expect(stored?.lastError).toBeUndefined();
    }
    expect(second.logs('job succeeded').length).toBeGreaterThanOrEqual(1);
  }, 150_000);
});
