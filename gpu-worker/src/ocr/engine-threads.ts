import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { modelPrecision } from './calibration.ts';
import type { DetectedBox } from './db-postprocess.ts';
import type { EngineThreadData, ThreadResult } from './engine-thread.ts';
import { errorFromThread } from './errors.ts';
import { type DecodedPage, type PageSelection, resizeForDetection } from './image.ts';
import { type ModelCacheOutcome, ModelFile } from './model-cache.ts';
import { modelFiles } from './models.ts';
import { onceUnlessFailed } from './once.ts';
import { type EngineOptions, type Precision, usesGpu } from './options.ts';
import { shareImage } from './pdf-pages.ts';
import type { RecognitionBatch, RecognizedLine } from './recognizer.ts';
import { loadModelBytes } from './session.ts';
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
 * What every engine thread starts from: the options and the models' bytes, read (and rewritten,
 * through the model cache) once, in SharedArrayBuffers the threads share.
 */
export async function engineThreadData(options: EngineOptions): Promise<{
  data: EngineThreadData;
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
    loadModelBytes(detectionFile, options, det.quantization),
    loadModelBytes(recognitionFile, options, rec.quantization),
    options.useAngleClassifier ? loadModelBytes(files.classifier, options) : undefined,
  ]);
  const data: EngineThreadData = {
    options,
    models: {
      detection: detection.bytes,
      recognition: recognition.bytes,
      ...(classifier ? { classifier: classifier.bytes } : {}),
    },
    dictionary: files.dictionary,
  };
  return {
    data,
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
   * Reads the models once (rewritten, through the model cache), starts the threads on one shared
   * copy of their bytes and starts the sessions in each; a provider that cannot load fails here.
   */
  static async start(options: EngineOptions): Promise<EngineThreads> {
    const { threads, intraOpNumThreads } = threadCounts(options);
    const { data, modelCache, recPrecision, detPrecision, recognitionFile, detectionFile } =
      await engineThreadData({
        ...options,
        threads,
        intraOpNumThreads,
      });
    // Read at the first bilevel page (`bilevelFloat`); a failed read is tried again next time.
    const floatRecognition = onceUnlessFailed(
      async () => (await loadModelBytes(recognitionFile, options)).bytes,
    );
    const floatDetection = onceUnlessFailed(async () => (await loadModelBytes(detectionFile, options)).bytes);
    const pool = new Piscina({
      filename: threadModule().href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: data,
    });
    const loads: ThreadResult<void>[] = await Promise.all(
      Array.from(
        { length: threads },
        () => pool.run(undefined, { name: 'load' }) as Promise<ThreadResult<void>>,
      ),
    ).catch(async (error: unknown) => {
      await pool.destroy();
      throw error;
    });
    const failed = loads.find((l) => !l.ok);
    if (failed && !failed.ok) {
      await pool.destroy();
      throw errorFromThread(failed.error);
    }
    const detections = options.detectionsInFlight ?? threads;
    return new EngineThreads(
      pool,
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
      return await this.pool.run({ images, resized, floatModel }, { name: 'detect' });
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
    return this.pool.run({ batch, floatModel }, { name: 'recognize' });
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
