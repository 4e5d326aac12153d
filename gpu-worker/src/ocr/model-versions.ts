import type { QuantizeSettings } from './model-quantize.ts';

/**
 * The versions of the model rewrites, part of the model cache's key (`model-cache.ts`, `session.ts`).
 * They live apart from the rewrites themselves (`model-graph.ts`, `model-quantize.ts`,
 * `ctc-outputs.ts`), so that an engine whose models are in the cache builds its key and checks its
 * calibration without loading the ONNX protobuf library (~80 ms at start).
 */

/**
 * `model-graph.ts`'s rewrites. Bump it with any change there that changes the bytes `optimizeModel`
 * writes, or engines keep loading the old rewrite.
 */
export const GRAPH_REWRITE_VERSION = 1;

/** `model-quantize.ts`'s quantiser. Bump it with any change to the bytes it writes. */
export const QUANTIZATION_VERSION = 2;

/** `ctc-outputs.ts`'s per-column outputs. Bump it with any change to the bytes written there. */
export const CTC_OUTPUTS_VERSION = 2;

/**
 * The quantiser settings a calibration table fixes, only those set: what the quantiser reads
 * (`model-quantize.ts` re-exports it) and what the cache key's calibration digest adds to the
 * ranges (`session.ts`), so a table without them quantises and is keyed as before they existed.
 */
export function quantizeSettings(table: QuantizeSettings): QuantizeSettings {
  const { floatStrides, floatFromStride } = table;
  return { ...(floatStrides ? { floatStrides } : {}), ...(floatFromStride ? { floatFromStride } : {}) };
}
