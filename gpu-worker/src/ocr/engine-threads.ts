import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { modelPrecision } from './calibration.ts';
import type { DetectedBox } from './db-postprocess.ts';
import type { EngineThreadData, ThreadModels, ThreadResult } from './engine-thread.ts';
import { errorFromThread } from './errors.ts';
import { type DecodedPage, libvips, type PageSelection, resizeForDetection } from './image.ts';
import { type ModelCacheOutcome, ModelFile } from './model-cache.ts';
import { modelFiles } from './models.ts';
import { onceUnlessFailed } from './once.ts';
import { type EngineOptions, type Precision, usesGpu } from './options.ts';
import { shareImage } from './pdf-pages.ts';
import type { RecognitionBatch, RecognizedLine } from './recognizer.ts';
import { loadModelBytes, type ModelBytes } from './session.ts';
import type { RgbImage } from './types.ts';

/**
 * The thread module: the bundled `engine-thread.mjs` beside the worker image's bundle (see
 * gpu-worker/build.ts); from source (tsx, vitest), a shim that registers tsx in the thread
 * and loads `engine-thread.ts`.
 */
function threadModule(): URL {
  const fromSource = import.meta.url.endsWith('.ts');
  return new URL(fromSource ? './engine-thread-tsx.mjs' : './engine-thread.mjs', import.meta.url);
}

/** Engine threads and intra-op threads per session for these options (see EngineOptions). */
export function threadCounts(options: EngineOptions): { threads: number; intraOpNumThreads: number } {
  const cores = availableParallelism();
  const threads = options.threads ?? (usesGpu(options) ? 2 : cores);
  return {
    threads,
    intraOpNumThreads: options.intraOpNumThreads ?? Math.max(1, Math.floor(cores / threads)),
  };
}

/**
 * What every engine thread starts from: the options (`data`, the threads' `workerData`) and the
 * models' bytes, read (and rewritten, through the model cache) once, in SharedArrayBuffers the
 * threads share. `sessionCache`: on the CPU, bring onnxruntime's optimized models from the cache
 * when it holds them (`ModelBytes.optimized`), and say where to save them when not
 * (`ModelBytes.saveOptimized`).
 */
export async function engineThreadData(
  options: EngineOptions,
  sessionCache = true,
): Promise<{
  data: EngineThreadData;
  models: ThreadModels;
  modelCache: EngineThreads['modelCache'];
  recPrecision: Precision;
  detPrecision: Precision;
  recognitionFile: ModelFile;
  detectionFile: ModelFile;
}> {
  const files = modelFiles(options.modelDir);
  // Read once: the precision's calibration match and the model cache both use their bytes' digest.
  const [recognitionFile, detectionFile] = await Promise.all([
    ModelFile.read(files.recognition),
    ModelFile.read(files.detection),
  ]);
  const [rec, det] = await Promise.all([
    modelPrecision('recognition', recognitionFile, options),
    modelPrecision('detection', detectionFile, options),
  ]);
  const [detection, recognition, classifier] = await Promise.all([
    loadModelBytes(detectionFile, options, det.quantization, sessionCache),
    loadModelBytes(recognitionFile, options, rec.quantization, sessionCache),
    options.useAngleClassifier
      ? loadModelBytes(files.classifier, options, undefined, sessionCache)
      : undefined,
  ]);
  return {
    data: { options, dictionary: files.dictionary },
    models: { detection, recognition, ...(classifier ? { classifier } : {}) },
    modelCache: { detection: detection.cache, recognition: recognition.cache },
    recPrecision: rec.precision,
    detPrecision: det.precision,
    recognitionFile,
    detectionFile,
  };
}

/**
 * The engine's worker threads (Piscina): each holds its own sessions and runs whole stages
 * (prepare → session run → post-process) for whichever batch comes next, so while one thread
 * runs the model the others cut, normalise and decode. Tasks queue in the order they are
 * given; several documents in flight share the threads.
 *
 * @example
 * const threads = await EngineThreads.start(DEFAULT_ENGINE_OPTIONS);
 * const [boxes] = await threads.detect([page]);
 * await threads.close();
 */
export class EngineThreads {
  private readonly detections: Slots;

  private constructor(
    private readonly pool: Piscina,
    /** The models every task brings (a thread starts its sessions from its first task). */
    private readonly models: ThreadModels,
    detectionsInFlight: number,
    /** What the model cache did for each model (absent: not rewritten, or the cache is off). */
    readonly modelCache: { detection?: ModelCacheOutcome; recognition?: ModelCacheOutcome },
    /** The recognition model's precision (see `EngineOptions.recPrecision`). */
    readonly recPrecision: Precision,
    /** The detection model's precision (see `EngineOptions.detPrecision`). */
    readonly detPrecision: Precision,
    /** The threads' `detLimitSideLen`: pages are resized to it here, before a thread detects. */
    private readonly detLimitSideLen: number,
    /** The float recognition model's bytes, read when first asked for (int8 engines only). */
    private readonly floatRecognition: () => Promise<Uint8Array>,
    /** The float detection model's bytes, read when first asked for (int8 engines only). */
    private readonly floatDetection: () => Promise<Uint8Array>,
  ) {
    this.detections = new Slots(detectionsInFlight);
  }

  /**
   * Starts the threads, and meanwhile reads the models once (rewritten, through the model cache;
   * on the CPU, onnxruntime's optimized models from the session cache) into one shared copy of
   * their bytes; then starts the sessions in each thread. A provider that cannot load fails here.
   * Optimized models that fail to load are dropped from the cache and the start is made again from
   * the rewritten ones: the session cache never costs the start.
   */
  static async start(options: EngineOptions): Promise<EngineThreads> {
    try {
      return await EngineThreads.startWith(options, true);
    } catch (error) {
      if (!(error instanceof OptimizedModelsFailed)) throw error;
      await Promise.all(error.entries.map((entry) => rm(entry, { force: true })));
      return EngineThreads.startWith(options, false);
    }
  }

  private static async startWith(options: EngineOptions, sessionCache: boolean): Promise<EngineThreads> {
    const { threads, intraOpNumThreads } = threadCounts(options);
    const settings = { ...options, threads, intraOpNumThreads };
    const files = modelFiles(options.modelDir);
    // The threads start (Node, then their modules: ~0.1–0.3 s) while this thread reads the models.
    const pool = new Piscina({
      filename: threadModule().href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: { options: settings, dictionary: files.dictionary } satisfies EngineThreadData,
    });
    let prepared: Awaited<ReturnType<typeof engineThreadData>>;
    try {
      prepared = await engineThreadData(settings, sessionCache);
    } catch (error) {
      await pool.destroy();
      throw error;
    }
    const { models, modelCache, recPrecision, detPrecision, recognitionFile, detectionFile } = prepared;
    // Only the first thread's sessions save optimized models the cache lacks; every other task
    // brings the models without that.
    const shared = withoutSaving(models);
    const loading = Promise.all(
      Array.from(
        { length: threads },
        (_, i) =>
          pool.run({ models: i === 0 ? models : shared }, { name: 'load' }) as Promise<ThreadResult<void>>,
      ),
    );
    // The pages' decoder loads here, while the threads build their sessions; one that cannot load
    // fails the start, as a provider does.
    const [loads] = await Promise.all([loading, libvips()]).catch(async (error: unknown) => {
      await pool.destroy();
      throw error;
    });
    const failed = loads.find((l) => !l.ok);
    if (failed && !failed.ok) {
      await pool.destroy();
      const optimized = Object.values(models).flatMap((m: ModelBytes) => (m.optimized ? [m.optimized] : []));
      if (optimized.length > 0) throw new OptimizedModelsFailed(optimized);
      throw errorFromThread(failed.error);
    }
    // Read at the first bilevel page (`bilevelFloat`); a failed read is tried again next time.
    const floatRecognition = onceUnlessFailed(
      async () => (await loadModelBytes(recognitionFile, options)).bytes,
    );
    const floatDetection = onceUnlessFailed(async () => (await loadModelBytes(detectionFile, options)).bytes);
    const detections = options.detectionsInFlight ?? threads;
    return new EngineThreads(
      pool,
      shared,
      detections,
      modelCache,
      recPrecision,
      detPrecision,
      options.detLimitSideLen,
      floatRecognition,
      floatDetection,
    );
  }

  /**
   * Detects text on pages of one detection input size (one session run), at the engine's
   * precision or, asked for `fp32` by an int8 engine, with the float model (as `recognize` does).
   * The pages are resized here, on the calling thread, so that no engine thread runs libvips (see
   * `withLibvips`).
   */
  async detect(images: RgbImage[], precision: Precision = this.detPrecision): Promise<DetectedBox[][]> {
    const floatModel = await floatModelFor(precision, this.detPrecision, this.floatDetection, 'detect');
    await this.detections.acquire();
    try {
      const resized = await Promise.all(
        images.map(async (image) => shareImage(await resizeForDetection(image, this.detLimitSideLen))),
      );
      return await this.pool.run({ models: this.models, images, resized, floatModel }, { name: 'detect' });
    } finally {
      this.detections.release();
    }
  }

  /**
   * Reads one planned recognition batch, at the engine's precision or, asked for `fp32` by an int8
   * engine, with the float model (its bytes read once, through the model cache, and shared).
   */
  async recognize(
    batch: RecognitionBatch,
    precision: Precision = this.recPrecision,
  ): Promise<RecognizedLine[]> {
    const floatModel = await floatModelFor(precision, this.recPrecision, this.floatRecognition, 'read');
    return this.pool.run({ models: this.models, batch, floatModel }, { name: 'recognize' });
  }

  /** Renders the selected pages of a PDF at `dpi` into shared pages (see engine-thread.ts `render`). */
  async render(
    input: Uint8Array,
    maxPixels: number,
    dpi: number,
    selection?: PageSelection,
  ): Promise<DecodedPage[]> {
    const result: ThreadResult<DecodedPage[]> = await this.pool.run(
      { input, maxPixels, dpi, selection },
      { name: 'render' },
    );
    if (!result.ok) throw errorFromThread(result.error);
    return result.value;
  }

  /** Waits for the running tasks, and for the queued ones too unless `force` fails them. */
  async close(options: { force?: boolean } = {}): Promise<void> {
    await this.pool.close({ force: options.force === true });
    await this.pool.destroy();
  }
}

/**
 * The float model's bytes for a task asked at `precision` of an engine whose model runs at `own`:
 * none when they are the same, the float model's (read once by `float`) when an int8 engine is
 * asked for `fp32`; any other precision it cannot run.
 */
async function floatModelFor(
  precision: Precision,
  own: Precision,
  float: () => Promise<Uint8Array>,
  task: 'detect' | 'read',
): Promise<Uint8Array | undefined> {
  if (precision === own) return undefined;
  if (precision !== 'fp32') throw new RangeError(`an ${own} engine cannot ${task} at ${precision}`);
  return float();
}

/** The models without `saveOptimized`: for every task but the first thread's load. */
function withoutSaving(models: ThreadModels): ThreadModels {
  const strip = ({ saveOptimized: _, ...model }: ModelBytes): ModelBytes => model;
  return {
    detection: strip(models.detection),
    recognition: strip(models.recognition),
    ...(models.classifier ? { classifier: strip(models.classifier) } : {}),
  };
}

/** A start whose optimized models (these session cache entries) a thread could not load. */
class OptimizedModelsFailed extends Error {
  constructor(readonly entries: string[]) {
    super(`onnxruntime's optimized models did not load: ${entries.join(', ')}`);
  }
}

/** At most `size` holders at once; the others wait in order. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }
}
