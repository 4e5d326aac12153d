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
