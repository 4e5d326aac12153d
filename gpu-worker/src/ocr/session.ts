import { readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';
import { ProviderUnavailableError } from './errors.ts';
import { optimizeModel } from './model-graph.ts';
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

/**
 * Loads one model with the configured providers, in order, after the exact graph rewrites of
 * `model-graph.ts` unless `optimizeGraphs` is off. onnxruntime-node throws (rather
 * than falling back) when a GPU provider's libraries are missing: that becomes an error that
 * names the provider, so a misconfigured worker stops at start instead of running slowly.
 */
export async function createSession(
  modelPath: string,
  options: Pick<EngineOptions, 'executionProviders' | 'intraOpNumThreads' | 'optimizeGraphs'>,
): Promise<ort.InferenceSession> {
  const providers: ExecutionProvider[] =
    options.executionProviders.length > 0 ? options.executionProviders : ['cpu'];
  const bytes = await readFile(modelPath);
  const model = options.optimizeGraphs ? optimizeModel(bytes).model : bytes;
  try {
    return await ort.InferenceSession.create(model, {
      executionProviders: providers,
      graphOptimizationLevel: 'all',
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
