/**
 * Pipeline benchmark: jobs through the whole local stack (API, presigned upload, ingest, queue,
 * worker processes running the real engine, results, SUCCEEDED) against the engine alone on the
 * same pages in the same run.
 *
 *   npm run bench:pipeline -- --jobs 200 [--workers N] [--json FILE]
 *   npm run bench:pipeline -- --pages 500 [--workers N] [--json FILE]
 *
 * `--jobs N`: N one-page jobs from the bundled samples (local/samples), submitted through the API
 * at once. `--pages N`: one N-page PDF instead. Workers are real processes, as
 * `npm run worker -- --env-file PATH` runs them (the container's entry, default settings), so the
 * stack's process and theirs share the machine as they would on one host.
 *
 * Order: the engine alone on `--engine-pages` of the same pages (warmed up first, `concurrency`
 * documents in flight as a worker keeps them), then the stack and the workers; `--idle-pickups K`
 * jobs are sent one at a time to idle workers (pickup with no backlog; also warms the workers'
 * models), then the backlog itself; the workers stop and the engine alone runs again. Efficiency
 * is the pipeline's pages/s over the engine's across both of its runs: this machine's speed
 * drifts within minutes (1.26 once against a single run before the pipeline).
 * Pickup is queuedAt → startedAt: under a backlog of N jobs on one worker it is mostly the wait
 * behind the others; the idle pickup is the pipeline's own share. Timings come from the job records (queuedAt, startedAt, finishedAt, written by
 * the handlers and the workers on this machine's clock) and the bench's own clock for creates.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { OcrClient } from '../client/index.ts';
import { OcrEngine } from '../gpu-worker/src/ocr/index.ts';
import type { Job } from '../lambdas/shared/job.ts';
import { listSamples } from '../local/samples/index.ts';
import { formatEnvFile, type LocalStack, startLocalStack } from '../local/stack.ts';
import { numberedPdf } from '../test/support/documents.ts';
import { spawnWorkerProcess, type WorkerProcess } from '../test/support/worker-process.ts';

const program = new Command()
  .name('npm run bench:pipeline --')
  .option('--jobs <n>', 'one-page jobs from the bundled samples, submitted at once', Number, 200)
  .option('--pages <n>', 'instead of --jobs: one PDF of this many pages', Number)
  .option('--workers <n>', 'worker processes', Number, 1)
  .option('--idle-pickups <n>', 'jobs sent one at a time to idle workers before the backlog', Number, 20)
  .option(
    '--engine-pages <n>',
    'pages the engine alone runs before and again after the pipeline (the same pages the jobs have)',
    Number,
    40,
  )
  .option(
    '--worker-env <KEY=VALUE>',
    "a worker setting (gpu-worker/src/main.ts's OCRQ_* variables), repeatable",
    (value: string, all: string[]) => [...all, value],
    [] as string[],
  )
  .option('--json <file>', 'write the figures as JSON too')
  .parse();
const opts = program.opts<{
  jobs: number;
  pages?: number;
  workers: number;
  idlePickups: number;
  enginePages: number;
  workerEnv: string[];
  json?: string;
}>();

const TENANT = 'bench';
const API_KEY = 'bench-key';
/** The worker's own default (OCRQ_WORKER_CONCURRENCY), unless --worker-env sets it. */
const DEFAULT_WORKER_CONCURRENCY = 4;

/** Nearest-rank percentile of `values` (ms), rounded. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
}

const ms = (from?: string, to?: string) => (from && to ? Date.parse(to) - Date.parse(from) : Number.NaN);

function workerSettings(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of opts.workerEnv) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--worker-env ${pair}: expected KEY=VALUE`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

/** A document to submit: its name and bytes, and the engine's share of it (all pages or a chunk). */
interface Document {
  fileName: string;
  bytes: Buffer;
  pages: number;
}

async function documents(): Promise<Document[]> {
  if (opts.pages)
    return [
      { fileName: `report-${opts.pages}.pdf`, bytes: await numberedPdf(opts.pages), pages: opts.pages },
    ];
  const samples = await Promise.all(
    listSamples().map(async (s) => ({ name: s.name, bytes: await readFile(s.imagePath) })),
  );
  if (samples.length === 0) throw new Error('no bundled samples: run npm run samples');
  return Array.from({ length: opts.jobs }, (_, i) => {
    const sample = samples[i % samples.length]!;
    return { fileName: `${sample.name}-${i}.png`, bytes: sample.bytes, pages: 1 };
  });
}

/**
 * The engine alone on the same pages: what a worker hands it (a message's pages, `chunkPages` at
 * a time for a long PDF), `concurrency` at once, so it batches them as it does in a worker.
 */
async function engineAlone(docs: Document[], concurrency: number, chunkPages: number, maxPages: number) {
  const engine = await OcrEngine.create({});
  try {
    await engine.recognize(docs[0]!.bytes, { firstPage: 1, pageCount: 1 });
    const work = docs.flatMap((doc) =>
      Array.from({ length: Math.ceil(doc.pages / chunkPages) }, (_, c) => ({
        bytes: doc.bytes,
        firstPage: c * chunkPages + 1,
        pageCount: Math.min(chunkPages, doc.pages - c * chunkPages),
      })),
    );
    let planned = 0;
    const taken = work.filter((w) => {
      if (planned >= maxPages) return false;
      planned += w.pageCount;
      return true;
    });
    let next = 0;
    let pages = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < taken.length; i = next++) {
          const { bytes, firstPage, pageCount } = taken[i]!;
          const result = await engine.recognize(bytes, { firstPage, pageCount });
          pages += result.pages.length;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { pages, seconds, pagesPerSec: pages / seconds };
  } finally {
    await engine.close();
  }
}

/** The job records once every one has ended; the SNS spy tells when, without loading the store. */
async function waitForJobs(stack: LocalStack, jobIds: string[], timeoutMs: number): Promise<Job[]> {
  const pending = new Set(jobIds);
  const deadline = Date.now() + timeoutMs;
  while (pending.size > 0) {
    for (const message of stack.emulators.aws.spy.getAllMessages()) {
      if (message.service !== 'sns') continue;
      const id = /"jobId":"([^"]+)"/.exec(message.body)?.[1];
      if (id && pending.has(id) && /job\.(succeeded|failed|cancelled)/.test(message.body)) pending.delete(id);
    }
    if (pending.size === 0) break;
    if (Date.now() > deadline) throw new Error(`${pending.size} jobs did not end in ${timeoutMs} ms`);
    await sleep(50);
  }
  const jobs = await Promise.all(jobIds.map((id) => stack.runtime.jobs.get(TENANT, id)));
  return jobs.map((job, i) => {
    if (!job) throw new Error(`job ${jobIds[i]} is gone`);
    return job;
  });
}

async function main(): Promise<void> {
  // The SDK warns once per client that Node 20 support ends; the stack and workers make many.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const settings = workerSettings();
  const concurrency = Number(settings.OCRQ_WORKER_CONCURRENCY ?? DEFAULT_WORKER_CONCURRENCY);
  const chunkPages = 8;
  const docs = await documents();
  const totalPages = docs.reduce((n, d) => n + d.pages, 0);
  console.log(
    `${docs.length} job(s), ${totalPages} page(s), ${opts.workers} worker process(es) on ${availableParallelism()} cores`,
  );

  const runEngine = async (when: string) => {
    const run = await engineAlone(docs, concurrency, chunkPages, opts.enginePages);
    console.log(
      `engine alone ${when}: ${run.pages} pages in ${run.seconds.toFixed(1)} s, ${run.pagesPerSec.toFixed(3)} pages/s`,
    );
    return run;
  };
  // Before and after: this machine's speed drifts over minutes, so the pipeline is compared with
  // the engine over both runs around it.
  const engineBefore = await runEngine('before');

  const stack = await startLocalStack({
    port: 0,
    workers: 0,
    logLevel: 'ERROR',
    apiKeys: { [TENANT]: API_KEY },
    limits: { chunkPages, tenantMaxActiveJobs: Math.max(1000, docs.length + opts.idlePickups) },
  });
  const dir = await mkdtemp(join(tmpdir(), 'ocrq-bench-'));
  const workers: WorkerProcess[] = [];
  try {
    const envFile = join(dir, 'worker.env');
    await writeFile(envFile, formatEnvFile(stack.workerEnv), { mode: 0o600 });
    for (let i = 0; i < opts.workers; i++)
      workers.push(spawnWorkerProcess(envFile, { POWERTOOLS_LOG_LEVEL: 'INFO', ...settings }));
    await Promise.all(workers.map((w) => w.ready(120_000)));
    const client = new OcrClient({ endpoint: stack.apiUrl, apiKey: API_KEY });

    // Pickup with nothing queued: one job at a time, each after the previous ended.
    const idlePickups: number[] = [];
    const idlePage = await readFile(listSamples()[0]!.imagePath);
    for (let i = 0; i < opts.idlePickups; i++) {
      const one = await client.submit({ fileName: `idle-${i}.png`, bytes: idlePage });
      const [job] = await waitForJobs(stack, [one.jobId], 120_000);
      idlePickups.push(ms(job!.queuedAt, job!.startedAt));
    }

    const createMs: number[] = [];
    const submittedAt: number[] = [];
    const started = Date.now();
    const created = await Promise.all(
      docs.map(async (doc, i) => {
        const t = performance.now();
        submittedAt[i] = Date.now();
        const job = await client.createJob({
          fileName: doc.fileName,
          contentType: doc.fileName.endsWith('.pdf') ? 'application/pdf' : 'image/png',
          sizeBytes: doc.bytes.length,
        });
        createMs[i] = performance.now() - t;
        await client.upload(job, doc.bytes);
        return job;
      }),
    );
    const jobs = await waitForJobs(
      stack,
      created.map((j) => j.jobId),
      Math.max(600_000, (totalPages / engineBefore.pagesPerSec) * 5000),
    );
    const failed = jobs.filter((j) => j.status !== 'SUCCEEDED');
    if (failed.length > 0)
      throw new Error(`${failed.length} jobs did not succeed: ${JSON.stringify(failed[0]?.error)}`);
    const finished = Math.max(...jobs.map((j) => Date.parse(j.finishedAt!)));
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    const engineAfter = await runEngine('after');
    const engine = {
      pages: engineBefore.pages + engineAfter.pages,
      seconds: engineBefore.seconds + engineAfter.seconds,
      pagesPerSec: (engineBefore.pages + engineAfter.pages) / (engineBefore.seconds + engineAfter.seconds),
    };
    const seconds = (finished - started) / 1000;
    const pickups = jobs.map((j) => ms(j.queuedAt, j.startedAt));
    const e2e = jobs.map((j, i) => Date.parse(j.finishedAt!) - submittedAt[i]!);
    const pipelinePagesPerSec = totalPages / seconds;
    const round = (v: number, digits = 3) => Math.round(v * 10 ** digits) / 10 ** digits;
    const figures = {
      jobs: jobs.length,
      pages: totalPages,
      workers: opts.workers,
      seconds: round(seconds, 2),
      jobsPerSec: round(jobs.length / seconds),
      pagesPerSec: round(pipelinePagesPerSec),
      pickupP50Ms: percentile(pickups, 50),
      pickupP99Ms: percentile(pickups, 99),
      e2eP50Ms: percentile(e2e, 50),
      e2eP99Ms: percentile(e2e, 99),
      createP50Ms: percentile(createMs, 50),
      createP99Ms: percentile(createMs, 99),
      idlePickups: idlePickups.length,
      idlePickupP50Ms: percentile(idlePickups, 50),
      idlePickupP99Ms: percentile(idlePickups, 99),
      enginePages: engine.pages,
      engineSeconds: round(engine.seconds, 2),
      enginePagesPerSec: round(engine.pagesPerSec),
      enginePagesPerSecBefore: round(engineBefore.pagesPerSec),
      enginePagesPerSecAfter: round(engineAfter.pagesPerSec),
      efficiency: round(pipelinePagesPerSec / engine.pagesPerSec),
      cores: availableParallelism(),
      workerEnv: settings,
      date: new Date().toISOString(),
    };
    console.table({
      pipeline: {
        'jobs/s': figures.jobsPerSec,
        'pages/s': figures.pagesPerSec,
        s: figures.seconds,
        'pickup p50/p99 ms': `${figures.pickupP50Ms} / ${figures.pickupP99Ms}`,
        'e2e p50/p99 ms': `${figures.e2eP50Ms} / ${figures.e2eP99Ms}`,
        'create p50/p99 ms': `${figures.createP50Ms} / ${figures.createP99Ms}`,
      },
    });
    console.log(
      `idle pickup p50/p99: ${figures.idlePickupP50Ms} / ${figures.idlePickupP99Ms} ms over ${figures.idlePickups} jobs`,
    );
    console.log(
      `efficiency: ${figures.efficiency} (pipeline ${figures.pagesPerSec} pages/s ÷ engine ${figures.enginePagesPerSec} pages/s)`,
    );
    if (opts.json) {
      await mkdir(dirname(opts.json), { recursive: true });
      await writeFile(opts.json, `${JSON.stringify(figures, null, 2)}\n`);
    }
  } finally {
    for (const w of workers)
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
