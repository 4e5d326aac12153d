import { closeSync, openSync, utimesSync } from 'node:fs';
import { z } from 'zod';
import { loadConfig } from '../../lambdas/shared/config.ts';
import { ConfigError } from '../../lambdas/shared/errors.ts';
import { createRuntime } from '../../lambdas/shared/runtime.ts';
import { OcrEngine, parseProviders } from './ocr/index.ts';
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
  OCRQ_WORKER_VISIBILITY_SECONDS: z.coerce.number().int().min(30).max(43_200).default(120),
  /** TensorRT: where built engines are cached (a mounted volume), and half precision (opt-in). */
  OCRQ_TRT_CACHE_DIR: z.string().optional(),
  OCRQ_TRT_FP16: z.enum(['0', '1', 'true', 'false']).default('0'),
  /** Resolution PDF pages are rendered at. */
  OCRQ_PDF_DPI: z.coerce.number().int().min(50).max(600).default(200),
  /** Touched while the worker loop is alive; the container health check reads its age. */
  OCRQ_HEALTH_FILE: z.string().optional(),
});

function touch(path: string): void {
  const now = new Date();
  try {
    utimesSync(path, now, now);
  } catch {
    closeSync(openSync(path, 'w'));
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const parsed = WorkerEnvSchema.safeParse(process.env);
  if (!parsed.success)
    throw new ConfigError(`invalid worker configuration: ${z.prettifyError(parsed.error)}`);
  const env = parsed.data;
  const runtime = createRuntime(config, { serviceName: 'gpu-worker' });
  const engine = await OcrEngine.create(
    {
      executionProviders: parseProviders(env.OCRQ_EXECUTION_PROVIDERS),
      pdfDpi: env.OCRQ_PDF_DPI,
      maxBatchPages: env.OCRQ_MAX_BATCH_PAGES,
      ...(env.OCRQ_ENGINE_THREADS ? { threads: env.OCRQ_ENGINE_THREADS } : {}),
      ...(env.OCRQ_INTRA_OP_THREADS ? { intraOpNumThreads: env.OCRQ_INTRA_OP_THREADS } : {}),
    },
    {
      tensorRt: {
        fp16: env.OCRQ_TRT_FP16 === '1' || env.OCRQ_TRT_FP16 === 'true',
        ...(env.OCRQ_TRT_CACHE_DIR ? { engineCacheDir: env.OCRQ_TRT_CACHE_DIR } : {}),
      },
    },
  );
  const worker = new Worker(runtime, engine, {
    idleWaitSeconds: env.OCRQ_WORKER_IDLE_WAIT_SECONDS,
    visibilitySeconds: env.OCRQ_WORKER_VISIBILITY_SECONDS,
    concurrency: env.OCRQ_WORKER_CONCURRENCY,
  });
  const shutdown = async (signal: string) => {
    runtime.logger.info('draining before exit', { signal });
    await worker.close();
    await engine.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  const healthFile = env.OCRQ_HEALTH_FILE;
  if (healthFile) {
    const beat = () => {
      if (Date.now() - worker.lastActivityAt < 2 * env.OCRQ_WORKER_VISIBILITY_SECONDS * 1000)
        touch(healthFile);
    };
    beat();
    setInterval(beat, 15_000).unref();
  }
  runtime.logger.info('worker started', { providers: env.OCRQ_EXECUTION_PROVIDERS });
  await worker.run();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `worker failed to start: ${error.message}` : error);
  process.exit(1);
});
