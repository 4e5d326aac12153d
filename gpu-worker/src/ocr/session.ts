import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { threadId } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { CalibrationTable, Quantization } from './calibration.ts';
import { cpuInfo } from './cpuinfo.ts';
import { ProviderUnavailableError } from './errors.ts';
import {
  cachedRewrite,
  defaultModelCacheDir,
  type ModelCacheOutcome,
  type ModelFile,
  modelCacheEntry,
  modelFile,
  readCacheEntry,
  storeCacheEntry,
} from './model-cache.ts';
import {
  CTC_OUTPUTS_VERSION,
  GRAPH_REWRITE_VERSION,
  QUANTIZATION_VERSION,
  quantizeSettings,
} from './model-versions.ts';
import { type EngineOptions, type ExecutionProvider, usesGpu } from './options.ts';

/**
 * TensorRT settings. onnxruntime-node's binding passes only `deviceId` to the GPU providers,
 * so these travel as the environment variables the TensorRT provider reads at session start.
 */
export interface TensorRtSettings {
  /** Half precision: fine for the mobile PP-OCR models, wrecks the server ones (FACTS.md). */
  fp16: boolean;
  /** Where built engines are kept (builds take minutes); a mounted volume in the container. */
  engineCacheDir?: string;
}

/** Sets the TensorRT provider's environment (read when a session starts, in any thread). */
export function applyTensorRtSettings(settings: TensorRtSettings): void {
  process.env.ORT_TENSORRT_FP16_ENABLE = settings.fp16 ? '1' : '0';
  if (settings.engineCacheDir) {
    process.env.ORT_TENSORRT_ENGINE_CACHE_ENABLE = '1';
    process.env.ORT_TENSORRT_CACHE_PATH = settings.engineCacheDir;
  }
}

/** A model as the engine threads load it: its bytes, and what the model cache did for them. */
export interface ModelBytes {
  /** In a SharedArrayBuffer: one copy for every engine thread. */
  bytes: Uint8Array;
  /** Absent when the graphs are not rewritten or the cache is off. */
  cache?: ModelCacheOutcome;
  /**
   * The session cache's entry `bytes` came from: onnxruntime's own optimized model (see
   * {@link optimizedModelEntry}), its graph optimizations applied already, so a session starts with
   * them off.
   */
  optimized?: string;
  /**
   * The session cache's entry for this model, absent yet: a session built on `bytes` can save
   * its optimized model there for the next start.
   */
  saveOptimized?: string;
}

/** The onnxruntime build and CPU an optimized model was made for (see {@link optimizedModelEntry}). */
let environment: string | undefined;

/**
 * What onnxruntime's CPU graph optimizations depend on beyond the model: its version, the
 * platform, and the CPU's model and instruction sets (from /proc/cpuinfo where there is one), as a
 * short digest. The layout rewrite (NCHWc) picks its block size by the CPU's vector width, and
 * onnxruntime marks a model saved after it as fit only for the machine it was made on.
 */
export function sessionEnvironment(cpuinfo?: string): string {
  if (cpuinfo === undefined && environment) return environment;
  const text = cpuinfo ?? cpuInfo();
  const cpu = /^(?:model name|flags|Features|CPU implementer|CPU part)\s*:.*$/gm;
  const firstCore = text.split(/\n\s*\n/)[0] ?? '';
  const identity = [
    ort.env.versions.node,
    process.platform,
    process.arch,
    cpus()[0]?.model ?? '',
    ...(firstCore.match(cpu) ?? []),
  ].join('\n');
  const digest = createHash('sha256').update(identity).digest('hex').slice(0, 12);
  if (cpuinfo === undefined) environment = digest;
  return digest;
}

/**
 * The session cache's entry beside a rewritten model's entry: onnxruntime's optimized model
 * (`optimizedModelFilePath`, all graph optimizations) for this onnxruntime version and CPU. Starting
 * a session from it with optimizations off saved ~65 ms for the int8 detector and ~110 ms for the
 * int8 recogniser per engine thread (2026-12-02).
 */
export function optimizedModelEntry(rewrittenEntry: string, env: string = sessionEnvironment()): string {
  return rewrittenEntry.replace(/\.onnx$/i, '') + `.ort-${ort.env.versions.node}-${env}.onnx`;
}

/**
 * Reads one model (a path, or a file already read) for the engine's threads, once per engine: after the exact graph rewrites of
 * `model-graph.ts` unless `optimizeGraphs` is off, then quantised to int8 when `quantization` is
 * given (`model-quantize.ts`; see `modelPrecision`), then with the recogniser's per-column
 * outputs (`ctc-outputs.ts`; other models pass unchanged), taken from the model cache when it holds
 * the result (`model-cache.ts`; the rewrites cost ~0.6 s of CPU for the two PP-OCR models). The
 * cache key names the rewrite and CTC output versions, and for int8 the quantiser's version, the
 * weight bits and the calibration's digest (its ranges and settings). With `sessionCache`, on
 * the CPU: onnxruntime's optimized model from the cache when it holds one for this model, version
 * and CPU (`optimized`), else the rewritten model and where to save the optimized one
 * (`saveOptimized`, see {@link createSession}).
 */
export async function loadModelBytes(
  model: string | ModelFile,
  options: Pick<EngineOptions, 'optimizeGraphs' | 'modelCache' | 'modelCacheDir' | 'executionProviders'>,
  quantization?: Quantization,
  sessionCache = false,
): Promise<ModelBytes> {
  const rewrite = async (source: Uint8Array) => {
    // The rewrite modules (and their protobuf library, ~80 ms to load) only when a model is
    // rewritten: an engine whose models are in the cache, and every engine thread, start without them.
    const [{ optimizeModel }, { quantizeModel }, { addCtcOutputs }] = await Promise.all([
      import('./model-graph.ts'),
      import('./model-quantize.ts'),
      import('./ctc-outputs.ts'),
    ]);
    let model = optimizeModel(source).model;
    if (quantization) {
      const { calibration, weightBits } = quantization;
      model = quantizeModel(model, calibration.ranges, {
        weightBits,
        ...quantizeSettings(calibration),
      }).model;
    }
    return addCtcOutputs(model).model;
  };
  if (!options.optimizeGraphs) {
    if (quantization) throw new RangeError('int8 quantisation needs the graph rewrites (optimizeGraphs)');
    return { bytes: shared(await fileBytes(model)) };
  }
  if (!options.modelCache) return { bytes: shared(await rewrite(await fileBytes(model))) };
  const dir = options.modelCacheDir ?? defaultModelCacheDir();
  const rewrites = `${GRAPH_REWRITE_VERSION}.ctc-${CTC_OUTPUTS_VERSION}`;
  const version = quantization
    ? `${rewrites}.int8-${QUANTIZATION_VERSION}-w${quantization.weightBits}-${calibrationDigest(quantization.calibration)}`
    : rewrites;
  if (!sessionCache || usesGpu(options)) {
    const { bytes, outcome } = await cachedRewrite(model, { dir, version, rewrite });
    return { bytes: shared(bytes), cache: outcome };
  }
  const source = await modelFile(model);
  const entry = optimizedModelEntry(modelCacheEntry(dir, source, version));
  const optimized = await readCacheEntry(entry);
  if (optimized) return { bytes: shared(optimized), cache: 'hit', optimized: entry };
  const { bytes, outcome } = await cachedRewrite(source, { dir, version, rewrite });
  return {
    bytes: shared(bytes),
    cache: outcome,
    ...(outcome === 'unwritable' ? {} : { saveOptimized: entry }),
  };
}

/**
 * A short digest of what a calibration changes in the model (its ranges, and its settings,
 * `floatStrides` and `floatFromStride`, when set; a table without them keeps the digest it had
 * before the fields existed): a new table gets a new cache entry.
 */
function calibrationDigest(calibration: CalibrationTable): string {
  const { ranges } = calibration;
  const settings = quantizeSettings(calibration);
  const what = Object.keys(settings).length > 0 ? { ranges, ...settings } : ranges;
  return createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 12);
}

/**
 * A session that also writes its optimized model to a temporary file, then stored as the session
 * cache's `entry` (checksummed and renamed into place, as model-cache.ts stores entries). Undefined
 * when that fails (a full disk, a folder gone): the caller starts the session without saving; the
 * cache never costs the start.
 */
async function createAndSave(
  bytes: Uint8Array,
  settings: ort.InferenceSession.SessionOptions,
  entry: string,
): Promise<ort.InferenceSession | undefined> {
  // onnxruntime writes the ONNX format for any name but `.ort`.
  const tmp = `${entry}.${process.pid}-${threadId}-${randomBytes(4).toString('hex')}.tmp.onnx`;
  try {
    // Errors only: onnxruntime warns, when it saves, that the model fits this machine alone (the
    // entry's name says which machine).
    const session = await ort.InferenceSession.create(bytes.slice(), {
      ...settings,
      optimizedModelFilePath: tmp,
      logSeverityLevel: 3,
    });
    try {
      await storeCacheEntry(entry, await readFile(tmp));
    } catch {
      // The next start saves it again.
    }
    return session;
  } catch {
    return undefined;
  } finally {
    // Nothing to remove when the folder was not there to write in (ENOENT, ENOTDIR).
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}

/** A model's bytes, from its path or a file already hashed. */
function fileBytes(model: string | ModelFile): Promise<Uint8Array> {
  return typeof model === 'string' ? readFile(model) : model.bytes();
}

function shared(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(new SharedArrayBuffer(bytes.length));
  copy.set(bytes);
  return copy;
}

/**
 * Starts a session on one model's bytes (from {@link loadModelBytes}) with the configured
 * providers, in order: with graph optimizations off for an optimized model, and saving the
 * optimized model where `saveOptimized` says; `memoryArena` off turns off onnxruntime's CPU arena and memory pattern
 * (a run's memory goes back when it ends instead of staying with the session). onnxruntime-node throws (rather
 * than falling back) when a GPU provider's libraries are missing: that becomes an error that
 * names the provider, so a misconfigured worker stops at start instead of running slowly.
 */
export async function createSession(
  model: Uint8Array | ModelBytes,
  options: Pick<EngineOptions, 'executionProviders' | 'intraOpNumThreads'>,
  memoryArena = true,
): Promise<ort.InferenceSession> {
  const { bytes, optimized, saveOptimized } = model instanceof Uint8Array ? { bytes: model } : model;
  const providers: ExecutionProvider[] =
    options.executionProviders.length > 0 ? options.executionProviders : ['cpu'];
  const settings: ort.InferenceSession.SessionOptions = {
    executionProviders: providers,
    graphOptimizationLevel: optimized ? 'disabled' : 'all',
    ...(memoryArena ? {} : { enableCpuMemArena: false, enableMemPattern: false }),
    ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
  };
  try {
    if (saveOptimized) {
      const saved = await createAndSave(bytes, settings, saveOptimized);
      if (saved) return saved;
    }
    // onnxruntime-node's binding takes no SharedArrayBuffer: a private copy, dropped once loaded.
    return await ort.InferenceSession.create(bytes.slice(), settings);
  } catch (error) {
    const gpu = providers.filter((p) => p !== 'cpu');
    const detail = error instanceof Error ? error.message : String(error);
    if (gpu.length > 0) {
      throw new ProviderUnavailableError(
        `cannot start the ${gpu.join('/')} execution provider (asked for ${providers.join(',')}): ${detail}. ` +
          'The GPU providers need an NVIDIA GPU, CUDA 12 with cuDNN 9 (TensorRT 10 for tensorrt) and ' +
          "onnxruntime-node's CUDA binaries (ONNXRUNTIME_NODE_INSTALL=cuda12); use --providers cpu elsewhere.",
      );
    }
    throw error;
  }
}
