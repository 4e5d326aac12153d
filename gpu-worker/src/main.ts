import { closeSync, openSync, utimesSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { z } from 'zod';
import { loadConfig } from '../../lambdas/shared/config.ts';
import { ConfigError } from '../../lambdas/shared/errors.ts';
import { METRIC, WORKER_SERVICE } from '../../lambdas/shared/metric-names.ts';
import { EmfMetrics, type MetricsSink, PushedMetrics, teeMetrics } from '../../lambdas/shared/metrics.ts';
import { createRuntime } from '../../lambdas/shared/runtime.ts';
import { onShutdownSignals } from './drain.ts';
import { OcrEngine, PRECISIONS, parseProviders } from './ocr/index.ts';
import { TaskProtection } from './task-protection.ts';
import { Worker } from './worker.ts';

/** Worker settings on top of the shared configuration, validated at start like it. */
const WorkerEnvSchema = z.object({
  OCRQ_EXECUTION_PROVIDERS: z.string().default('cpu'),
  OCRQ_INTRA_OP_THREADS: z.coerce.number().int().positive().optional(),
  /** Engine threads (each with its own sessions); default one per core on CPU, two on a GPU. */
  OCRQ_ENGINE_THREADS: z.coerce.number().int().positive().max(64).optional(),
  /** Pages per engine batch, across the messages in hand. */
  OCRQ_MAX_BATCH_PAGES: z.coerce.number().int().positive().max(1024).default(32),
  /** Messages in hand at once (their pages are batched together). */
  OCRQ_WORKER_CONCURRENCY: z.coerce.number().int().positive().max(32).default(4),
  OCRQ_WORKER_IDLE_WAIT_SECONDS: z.coerce.number().int().min(0).max(20).default(10),
  /** Visibility a message is held for, renewed at a third of it while it is worked on. */
  OCRQ_WORKER_VISIBILITY_SECONDS: z.coerce.number().int().min(5).max(43_200).default(120),
  /** TensorRT: where built engines are cached (a mounted volume), and half precision (opt-in). */
  OCRQ_TRT_CACHE_DIR: z.string().optional(),
  OCRQ_TRT_FP16: z.enum(['0', '1', 'true', 'false']).default('0'),
  /** Resolution PDF pages are rendered at. */
  OCRQ_PDF_DPI: z.coerce.number().int().min(50).max(600).default(200),
  /** The recognition model's precision; unset: int8 on the CPU provider of a CPU with VNNI, else fp32. */
  OCRQ_REC_PRECISION: z.enum(PRECISIONS).optional(),
  /** The detection model's precision; unset: as OCRQ_REC_PRECISION's default. */
  OCRQ_DET_PRECISION: z.enum(PRECISIONS).optional(),
  /** With int8: detect and read bilevel pages (faxes, 1-bit scans) with the float models (on: int8 drops letters there). */
  OCRQ_BILEVEL_FP32: z.enum(['0', '1', 'true', 'false']).default('1'),
  /**
   * Touched every 15 s while the worker loop is alive and no message in hand is past its
   * deadline; the container health check reads its age (unhealthy past 90 s).
   */
  OCRQ_HEALTH_FILE: z.string().optional(),
  /**
   * How long starting (models, TensorRT engine builds) may keep the health file fresh: a first
   * TensorRT build takes minutes, more than the container's start period.
   */
  OCRQ_WORKER_START_TIMEOUT_SECONDS: z.coerce.number().int().min(30).max(7200).default(1800),
  /**
   * On SIGTERM: how long the messages in hand may take to finish before the rest go back to the
   * queue. Below the ECS task's stopTimeout (120 s), after which ECS sends SIGKILL.
   */
  OCRQ_WORKER_DRAIN_SECONDS: z.coerce.number().min(0).max(3600).default(110),
  /**
   * The end of the drain kept for stopping the engine: its running task must end before the
   * process exits (exiting while onnxruntime runs on a thread aborts it). At most half the drain.
   */
  OCRQ_WORKER_STOP_RESERVE_SECONDS: z.coerce.number().min(0).max(600).default(10),
  /** A message's deadline: this much, plus OCRQ_WORKER_PAGE_TIMEOUT_SECONDS per page. */
  OCRQ_WORKER_MESSAGE_TIMEOUT_SECONDS: z.coerce.number().positive().max(43_200).default(300),
  OCRQ_WORKER_PAGE_TIMEOUT_SECONDS: z.coerce.number().min(0).max(3600).default(30),
  /** The local stack's metrics registry (`npm start -- --workers 0` writes it in the env file). */
  OCRQ_LOCAL_METRICS_URL: z.string().url().optional(),
});

const HEALTH_INTERVAL_MS = 15_000;

function touch(path: string): void {
  const now = new Date();
  try {
    utimesSync(path, now, now);
  } catch {
    closeSync(openSync(path, 'w'));
  }
}

/** `npm run worker -- --env-file PATH`: the environment of a local stack's workers, from a file. */
function readArguments(): void {
  const program = new Command()
    .name('npm run worker --')
    .description("Runs one OCR worker (the container's entry) on the queues the environment names.")
    .option('--env-file <path>', 'read environment variables from this file (KEY=VALUE lines) first')
    .parse();
  const { envFile } = program.opts<{ envFile?: string }>();
  // Variables already set win over the file's, as with `node --env-file`.
  if (envFile) process.loadEnvFile(envFile);
}

async function main(): Promise<void> {
  readArguments();
  const config = loadConfig();
  const parsed = WorkerEnvSchema.safeParse(process.env);
  if (!parsed.success)
    throw new ConfigError(`invalid worker configuration: ${z.prettifyError(parsed.error)}`);
  const env = parsed.data;
  const emf = new EmfMetrics({ serviceName: WORKER_SERVICE }).start();
  const sinks: MetricsSink[] = [emf];
  const pushed = env.OCRQ_LOCAL_METRICS_URL
    ? new PushedMetrics(env.OCRQ_LOCAL_METRICS_URL, console).start()
    : undefined;
  if (pushed) sinks.push(pushed);
  const metrics = teeMetrics(...sinks);
  const runtime = createRuntime(config, { serviceName: WORKER_SERVICE, metrics });
  // Loading the models, and on a first start building the TensorRT engines (minutes), is progress:
  // the health file is kept fresh meanwhile, up to a bound past which a start counts as hung.
  const healthFile = env.OCRQ_HEALTH_FILE;
  const startedAt = Date.now();
  const startBeat = healthFile
    ? setInterval(() => {
        if (Date.now() - startedAt < env.OCRQ_WORKER_START_TIMEOUT_SECONDS * 1000) touch(healthFile);
      }, HEALTH_INTERVAL_MS).unref()
    : undefined;
  if (healthFile) touch(healthFile);
  const engine = await OcrEngine.create(
    {
      executionProviders: parseProviders(env.OCRQ_EXECUTION_PROVIDERS),
      pdfDpi: env.OCRQ_PDF_DPI,
      ...(env.OCRQ_REC_PRECISION ? { recPrecision: env.OCRQ_REC_PRECISION } : {}),
      ...(env.OCRQ_DET_PRECISION ? { detPrecision: env.OCRQ_DET_PRECISION } : {}),
      bilevelFloat: env.OCRQ_BILEVEL_FP32 === '1' || env.OCRQ_BILEVEL_FP32 === 'true',
      maxBatchPages: env.OCRQ_MAX_BATCH_PAGES,
      ...(env.OCRQ_ENGINE_THREADS ? { threads: env.OCRQ_ENGINE_THREADS } : {}),
      ...(env.OCRQ_INTRA_OP_THREADS ? { intraOpNumThreads: env.OCRQ_INTRA_OP_THREADS } : {}),
    },
    {
      onBatch: (pages) => metrics.record(METRIC.batchPages, pages),
      tensorRt: {
        fp16: env.OCRQ_TRT_FP16 === '1' || env.OCRQ_TRT_FP16 === 'true',
        ...(env.OCRQ_TRT_CACHE_DIR ? { engineCacheDir: env.OCRQ_TRT_CACHE_DIR } : {}),
      },
    },
  );
  const protection = TaskProtection.fromEnv(process.env, runtime.logger);
  const worker = new Worker(
    runtime,
    engine,
    {
      idleWaitSeconds: env.OCRQ_WORKER_IDLE_WAIT_SECONDS,
      visibilitySeconds: env.OCRQ_WORKER_VISIBILITY_SECONDS,
      concurrency: env.OCRQ_WORKER_CONCURRENCY,
      deadline: {
        baseSeconds: env.OCRQ_WORKER_MESSAGE_TIMEOUT_SECONDS,
        perPageSeconds: env.OCRQ_WORKER_PAGE_TIMEOUT_SECONDS,
      },
    },
    { metrics, onBusyChange: (busy) => protection.set(busy) },
  );
  onShutdownSignals(
    async () => {
      const drainMs = env.OCRQ_WORKER_DRAIN_SECONDS * 1000;
      const end = Date.now() + drainMs;
      const reserveMs = Math.min(env.OCRQ_WORKER_STOP_RESERVE_SECONDS * 1000, drainMs / 2);
      const { returned } = await worker.close({ graceMs: drainMs - reserveMs });
      emf.stop();
      await pushed?.stop();
      await protection.close();
      // Abandoned work fails when its queued engine tasks do (the worker records no attempt for
      // messages it gave back); the running tasks end first, since exiting while onnxruntime runs
      // on a thread aborts the process. The drain's end is kept all the same.
      const stopped = await Promise.race([
        engine.close({ force: returned > 0 }).then(() => true),
        sleep(Math.max(0, end - Date.now()), false, { ref: false }),
      ]);
      if (!stopped) runtime.logger.warn('the engine did not stop within the drain period; exiting anyway');
      runtime.logger.info('drained', { returned, engineStopped: stopped });
      return 0;
    },
    { logger: runtime.logger },
  );
  clearInterval(startBeat);
  const running = worker.run();
  if (healthFile) {
    const beat = () => {
      if (worker.isHealthy()) touch(healthFile);
    };
    beat();
    setInterval(beat, HEALTH_INTERVAL_MS).unref();
  }
  runtime.logger.info('worker started', {
    providers: env.OCRQ_EXECUTION_PROVIDERS,
    recPrecision: engine.recPrecision,
    detPrecision: engine.detPrecision,
    workerId: worker.id,
    taskProtection: protection.enabled,
  });
  await running;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `worker failed to start: ${error.message}` : error);
  process.exit(1);
});
