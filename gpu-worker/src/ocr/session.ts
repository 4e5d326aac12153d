import { createHash } from 'node:crypto';
import ort from 'onnxruntime-node';
import type { CalibrationTable, Quantization } from './calibration.ts';
import { ProviderUnavailableError } from './errors.ts';
import {
  cachedRewrite,
  defaultModelCacheDir,
  type ModelCacheOutcome,
  type ModelFile,
  modelFile,
} from './model-cache.ts';
import { CTC_OUTPUTS_VERSION, GRAPH_REWRITE_VERSION, QUANTIZATION_VERSION } from './model-versions.ts';
import type { EngineOptions, ExecutionProvider } from './options.ts';

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
}

/**
 * Reads one model (a path, or a file already read) for the engine's threads, once per engine: after the exact graph rewrites of
 * `model-graph.ts` unless `optimizeGraphs` is off, then quantised to int8 when `quantization` is
 * given (`model-quantize.ts`; see `modelPrecision`), then with the recogniser's per-column
 * outputs (`ctc-outputs.ts`; other models pass unchanged), taken from the model cache when it holds
 * the result (`model-cache.ts`; the rewrites cost ~0.6 s of CPU for the two PP-OCR models). The
 * cache key names the rewrite and CTC output versions, and for int8 the quantiser's version, the
 * weight bits and the calibration's digest (its ranges and `floatStrides`).
 */
export async function loadModelBytes(
  model: string | ModelFile,
  options: Pick<EngineOptions, 'optimizeGraphs' | 'modelCache' | 'modelCacheDir'>,
  quantization?: Quantization,
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
      const { floatStrides } = calibration;
      model = quantizeModel(model, calibration.ranges, {
        weightBits,
        ...(floatStrides ? { floatStrides } : {}),
      }).model;
    }
    return addCtcOutputs(model).model;
  };
  if (!options.optimizeGraphs) {
    if (quantization) throw new RangeError('int8 quantisation needs the graph rewrites (optimizeGraphs)');
    return { bytes: shared((await modelFile(model)).bytes) };
  }
  if (!options.modelCache) return { bytes: shared(await rewrite((await modelFile(model)).bytes)) };
  const dir = options.modelCacheDir ?? defaultModelCacheDir();
  const rewrites = `${GRAPH_REWRITE_VERSION}.ctc-${CTC_OUTPUTS_VERSION}`;
  const version = quantization
    ? `${rewrites}.int8-${QUANTIZATION_VERSION}-w${quantization.weightBits}-${calibrationDigest(quantization.calibration)}`
    : rewrites;
  const { bytes, outcome } = await cachedRewrite(model, { dir, version, rewrite });
  return { bytes: shared(bytes), cache: outcome };
}

/**
 * A short digest of what a calibration changes in the model (its ranges, and `floatStrides` when
 * set; a table without it keeps the digest it had before the field existed): a new table gets a
 * new cache entry.
 */
function calibrationDigest(calibration: CalibrationTable): string {
  const { ranges, floatStrides } = calibration;
  const what = floatStrides ? { ranges, floatStrides } : ranges;
  return createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 12);
}

function shared(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(new SharedArrayBuffer(bytes.length));
  copy.set(bytes);
  return copy;
}

/**
 * Starts a session on one model's bytes (from {@link loadModelBytes}) with the configured
 * providers, in order; `memoryArena` off turns off onnxruntime's CPU arena and memory pattern
 * (a run's memory goes back when it ends instead of staying with the session). onnxruntime-node throws (rather
 * than falling back) when a GPU provider's libraries are missing: that becomes an error that
 * names the provider, so a misconfigured worker stops at start instead of running slowly.
 */
export async function createSession(
  model: Uint8Array,
  options: Pick<EngineOptions, 'executionProviders' | 'intraOpNumThreads'>,
  memoryArena = true,
): Promise<ort.InferenceSession> {
  const providers: ExecutionProvider[] =
    options.executionProviders.length > 0 ? options.executionProviders : ['cpu'];
  try {
    // onnxruntime-node's binding takes no SharedArrayBuffer: a private copy, dropped once loaded.
    return await ort.InferenceSession.create(model.slice(), {
      executionProviders: providers,
      graphOptimizationLevel: 'all',
      ...(memoryArena ? {} : { enableCpuMemArena: false, enableMemPattern: false }),
      ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
    });
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
