import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BUNDLED_CALIBRATIONS,
  type CalibrationTable,
  cpuHasVnni,
  findCalibration,
  modelPrecision,
} from '../../gpu-worker/src/ocr/calibration.ts';
import { sha256Hex } from '../../gpu-worker/src/ocr/model-cache.ts';
import { optimizeModel } from '../../gpu-worker/src/ocr/model-graph.ts';
import {
  activationParams,
  calibrationModel,
  type QuantizeSettings,
  quantizationPlan,
  quantizeModel,
  quantizeSettings,
  RangeCollector,
} from '../../gpu-worker/src/ocr/model-quantize.ts';
import { modelFiles } from '../../gpu-worker/src/ocr/models.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../gpu-worker/src/ocr/options.ts';
import { constant, ints, node, values } from '../support/onnx-graphs.ts';

const { onnx } = onnxProto;
const { AttributeType, DataType } = {
  AttributeType: onnx.AttributeProto.AttributeType,
  DataType: onnx.TensorProto.DataType,
};

const float = (name: string, f: number) => ({ name, type: AttributeType.FLOAT, f });
const HARD_SIGMOID = [float('alpha', 1 / 6), float('beta', 0.5)];

/**
 * A PPLCNetV3-shaped recogniser block at opset 9, as the rewrites leave it: a stem convolution on
 * the input, a padded depthwise convolution, hard-swish as `x · HardSigmoid(x)`, a
 * squeeze-and-excitation branch (pool → 1×1 conv → ReLU → 1×1 conv → hard-sigmoid → product), a
 * pointwise convolution and an attribute-style `Slice` (opset 9) on the way out.
 */
function block(dwStride = 1, pwStride = 1): Uint8Array {
  const nodes: OnnxTypes.INodeProto[] = [
    constant('w0', [8, 3, 3, 3], values(216, 1)),
    constant('b0', [8], values(8, 2)),
    constant('w1', [8, 1, 3, 3], values(72, 3)),
    constant('b1', [8], values(8, 4)),
    constant('w2', [2, 8, 1, 1], values(16, 5)),
    constant('b2', [2], values(2, 6)),
    constant('w3', [8, 2, 1, 1], values(16, 7)),
    constant('b3', [8], values(8, 8)),
    constant('w4', [6, 8, 1, 1], values(48, 9)),
    constant('b4', [6], values(6, 10)),
    node('Conv', ['x', 'w0', 'b0'], 'stem', [ints('pads', [1, 1, 1, 1])]),
    node('Conv', ['stem', 'w1', 'b1'], 'dw', [
      ints('pads', [1, 1, 1, 1]),
      { name: 'group', type: AttributeType.INT, i: 8 },
      ...(dwStride > 1 ? [ints('strides', [dwStride, dwStride])] : []),
    ]),
    node('HardSigmoid', ['dw'], 'gate', HARD_SIGMOID),
    node('Mul', ['dw', 'gate'], 'swish'),
    node('GlobalAveragePool', ['swish'], 'pool'),
    node('Conv', ['pool', 'w2', 'b2'], 'se1'),
    node('Relu', ['se1'], 'se1r'),
    node('Conv', ['se1r', 'w3', 'b3'], 'se2'),
    node('HardSigmoid', ['se2'], 'scale', HARD_SIGMOID),
    node('Mul', ['swish', 'scale'], 'excited'),
    node('Conv', ['excited', 'w4', 'b4'], 'pw', pwStride > 1 ? [ints('strides', [pwStride, pwStride])] : []),
    node('Slice', ['pw'], 'out', [ints('axes', [1]), ints('starts', [0]), ints('ends', [4])]),
  ];
  const tensor = (name: string) => ({
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: [{ dimParam: 'n' }, { dimValue: 3 }, { dimParam: 'h' }, { dimParam: 'w' }] },
      },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 9 }],
    graph: {
      name: 'block',
      node: nodes,
      input: [tensor('x')],
      output: [{ name: 'out', type: { tensorType: { elemType: DataType.FLOAT } } }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

async function session(model: Uint8Array, extra: ort.InferenceSession.SessionOptions = {}) {
  return ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
    ...extra,
  });
}

const DIMS = [2, 3, 12, 20];
const input = (seed: number) =>
  new ort.Tensor(
    'float32',
    values(
      DIMS.reduce((a, b) => a * b),
      seed,
    ),
    DIMS,
  );

/** Calibrates the block on a few random inputs, as `npm run calibrate` does on pages. */
async function calibrate(model: Uint8Array): Promise<Record<string, [number, number]>> {
  const measured = calibrationModel(model);
  const s = await session(measured.model);
  const collector = new RangeCollector();
  try {
    for (let seed = 100; seed < 108; seed++) {
      const outputs = await s.run({ x: input(seed) });
      for (const name of measured.tensors) collector.observe(name, outputs[name]!.data as Float32Array);
    }
  } finally {
    await s.release();
  }
  return collector.ranges();
}

describe('int8 quantisation (model-quantize.ts)', () => {
  const model = block();

  it('quantises the convolutions, hard-swish and pooling, and leaves the stem and the squeeze-excitation convolutions in float', () => {
    const plan = quantizationPlan(model);
    const outputs = [...plan.nodes].map((n) => `${n.opType}:${n.output?.[0]}`).sort();
    expect(outputs).toEqual(
      ['Conv:dw', 'HardSigmoid:gate', 'Mul:swish', 'GlobalAveragePool:pool', 'Mul:excited', 'Conv:pw'].sort(),
    );
    // The hard-sigmoid output needs no range (it is [0, 1] by construction); the float SE gate does.
    expect(plan.tensors.sort()).toEqual(['dw', 'excited', 'pool', 'pw', 'scale', 'stem', 'swish'].sort());
  });

  it('keeps the convolutions up to the floatStrides-th strided one in float, and what only they feed', () => {
    const strided = block(2);
    const names = (settings: { floatStrides?: number }) =>
      [...quantizationPlan(strided, settings).nodes].map((n) => `${n.opType}:${n.output?.[0]}`).sort();
    // Without the setting the strided depthwise convolution is quantised like any other.
    expect(names({})).toEqual(names({ floatStrides: 0 }));
    expect(names({})).toContain('Conv:dw');
    // With it, the stem and the first strided convolution stay float, and so do the hard-swish,
    // pooling and products that read only them; the pointwise convolution after them starts int8.
    expect(names({ floatStrides: 1 })).toEqual(['Conv:pw']);
    expect(quantizationPlan(strided, { floatStrides: 1 }).tensors.sort()).toEqual(['excited', 'pw']);
    // The calibration model asks for the same tensors.
    expect(calibrationModel(strided, { floatStrides: 1 }).tensors.sort()).toEqual(['excited', 'pw']);
    // A stride of 1 counts for nothing: the unstrided block keeps its int8 depthwise convolution.
    expect(names({ floatStrides: 1 })).not.toEqual(
      [...quantizationPlan(model, { floatStrides: 1 }).nodes]
        .map((n) => `${n.opType}:${n.output?.[0]}`)
        .sort(),
    );
  });

  it('keeps the convolutions from the floatFromStride-th strided one on in float', () => {
    const twice = block(2, 2);
    const names = (settings: QuantizeSettings) =>
      [...quantizationPlan(twice, settings).nodes].map((n) => `${n.opType}:${n.output?.[0]}`).sort();
    expect(names({})).toContain('Conv:pw');
    // From the 2nd strided convolution (the pointwise one) on: it alone stays float, and its output
    // needs no range; the depthwise convolution before it and what reads it stay int8.
    expect(names({ floatFromStride: 2 })).toEqual(names({}).filter((n) => n !== 'Conv:pw'));
    const all = quantizationPlan(twice).tensors;
    expect(quantizationPlan(twice, { floatFromStride: 2 }).tensors.sort()).toEqual(
      all.filter((t) => t !== 'pw').sort(),
    );
    expect(calibrationModel(twice, { floatFromStride: 2 }).tensors.sort()).toEqual(
      all.filter((t) => t !== 'pw').sort(),
    );
    // From the 1st on: every convolution is float, and so is what only they feed.
    expect(names({ floatFromStride: 1 })).toEqual([]);
    // 0 means none; the table's unset settings are left out, as a table without them reads.
    expect(names({ floatFromStride: 0 })).toEqual(names({}));
    expect(quantizeSettings({ floatStrides: 0, floatFromStride: 4 })).toEqual({ floatFromStride: 4 });
    expect(quantizeSettings({})).toEqual({});
  });

  it('writes a graph onnxruntime fuses into integer kernels, reading within a few quantisation steps of float', async () => {
    const ranges = await calibrate(model);
    // As the engine does: 7-bit weights where the CPU has no VNNI (see WeightBits).
    const weightBits = cpuHasVnni() ? 8 : 7;
    const { model: quantized, quantized: counts } = quantizeModel(model, ranges, { weightBits });
    expect(counts).toEqual({ conv: 2, hardSigmoid: 1, mul: 2, add: 0, globalAveragePool: 1, matMul: 0 });
    const decoded = onnx.ModelProto.decode(quantized);
    expect(Number(decoded.opsetImport?.find((o) => !o.domain)?.version)).toBe(13);
    // What onnxruntime made of it: QLinearConv, QLinearMul and QLinearAdd (the hard-sigmoid) in place of the float ops.
    const dir = await mkdtemp(join(tmpdir(), 'ocrq-quant-'));
    try {
      const optimized = join(dir, 'optimized.onnx');
      const s = await session(quantized, {
        optimizedModelFilePath: optimized,
        graphOptimizationLevel: 'extended',
      });
      await s.release();
      const ops = (onnx.ModelProto.decode(await readFile(optimized)).graph?.node ?? []).map((n) => n.opType);
      expect(ops).toContain('QLinearConv');
      expect(ops).toContain('QLinearMul');
      expect(ops).toContain('QLinearAdd');
      expect(ops).not.toContain('HardSigmoid');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const [f, q] = [await session(model), await session(quantized)];
    try {
      for (const seed of [7, 8]) {
        const a = (await f.run({ x: input(seed) })).out!.data as Float32Array;
        const b = (await q.run({ x: input(seed) }))[q.outputNames[0]!]!.data as Float32Array;
        expect(b.length).toBe(a.length);
        const step = activationParams(ranges.pw!).scale;
        let total = 0;
        for (let i = 0; i < a.length; i++) total += Math.abs(a[i]! - b[i]!);
        const mean = total / a.length;
        expect(mean).toBeGreaterThan(0); // it did quantise
        expect(mean).toBeLessThan(step);
      }
    } finally {
      await f.release();
      await q.release();
    }
  });

  it('quantises a CTC head (MatMul → bias → Softmax) to an integer MatMul with float output, within a few steps of float', async () => {
    // [N, 8, T] features → [N, T, 8] → 8 × 5 classes → bias → softmax, as PP-OCRv4's head at opset 13;
    // a second MatMul by constant weights that no softmax reads stays float.
    const head = onnx.ModelProto.encode(
      onnx.ModelProto.create({
        irVersion: 7,
        opsetImport: [{ domain: '', version: 13 }],
        graph: {
          name: 'head',
          node: [
            constant('w', [8, 5], values(40, 11)),
            constant('b', [5], values(5, 12)),
            constant('w2', [8, 3], values(24, 13)),
            node('Transpose', ['x'], 'features', [ints('perm', [0, 2, 1])]),
            node('MatMul', ['features', 'w'], 'logits'),
            node('Add', ['logits', 'b'], 'biased'),
            node('Softmax', ['biased'], 'probs', [{ name: 'axis', type: AttributeType.INT, i: 2 }]),
            node('MatMul', ['features', 'w2'], 'other'),
          ],
          input: [{ name: 'x', type: { tensorType: { elemType: DataType.FLOAT } } }],
          output: [{ name: 'probs' }, { name: 'other' }],
        },
      }),
    ).finish();
    const plan = quantizationPlan(head);
    expect([...plan.nodes].map((n) => n.output?.[0])).toEqual(['logits']);
    expect(plan.tensors).toEqual(['features']); // its output stays float: no range
    const x = new ort.Tensor(
      'float32',
      values(2 * 8 * 30, 14).map((v) => 3 * v),
      [2, 8, 30],
    );
    const { model: quantized, quantized: counts } = quantizeModel(head, { features: [-3, 3] });
    expect(counts.matMul).toBe(1);
    const dir = await mkdtemp(join(tmpdir(), 'ocrq-quant-'));
    try {
      const optimized = join(dir, 'optimized.onnx');
      await (await session(quantized, { optimizedModelFilePath: optimized })).release();
      const ops = (onnx.ModelProto.decode(await readFile(optimized)).graph?.node ?? []).map((n) => n.opType);
      expect(ops.filter((op) => op === 'MatMulIntegerToFloat')).toHaveLength(1); // the other stays float
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const [f, q] = [await session(head), await session(quantized)];
    try {
      const a = (await f.run({ x }, ['probs'])).probs!.data as Float32Array;
      const b = (await q.run({ x }, ['probs'])).probs!.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      expect(worst).toBeGreaterThan(0); // it did quantise
      expect(worst).toBeLessThan(0.05);
    } finally {
      await f.release();
      await q.release();
    }
  });

  it('keeps 7-bit weights within −63…63 (CPUs without VNNI)', async () => {
    const weights = (bits: 7 | 8) => {
      const quantized = quantizeModel(
        model,
        Object.fromEntries(quantizationPlan(model).tensors.map((t) => [t, [-4, 4]])),
        {
          weightBits: bits,
        },
      ).model;
      const nodes = onnx.ModelProto.decode(quantized).graph?.node ?? [];
      const t = nodes.find((n) => n.output?.[0] === 'pw_weight_q')?.attribute?.[0]?.t;
      return Int8Array.from(t?.rawData ?? []);
    };
    const seven = weights(7);
    const eight = weights(8);
    expect(seven.length).toBe(48);
    expect(Math.max(...seven.map(Math.abs))).toBe(63);
    expect(Math.max(...eight.map(Math.abs))).toBe(127);
  });

  it('refuses ranges that miss a tensor, naming it', () => {
    expect(() => quantizeModel(model, { stem: [-1, 1] })).toThrow(/no range for tensor/);
  });

  it('reduces the runs to the mean of their extremes, and keeps 0 exact in the uint8 range', () => {
    const collector = new RangeCollector();
    collector.observe('t', Float32Array.of(-1, 0.5, 3));
    collector.observe('t', Float32Array.of(-3, 1));
    collector.observe('t', Float32Array.of(Number.NaN));
    expect(collector.runs).toBe(2);
    expect(collector.ranges()).toEqual({ t: [-2, 2] });
    expect(activationParams([0.5, 2])).toEqual({ scale: 2 / 255, zeroPoint: 0 });
    const p = activationParams([-1, 3]);
    expect(p.zeroPoint).toBe(Math.round(1 / p.scale));
  });
});

describe('calibration tables (calibration.ts)', () => {
  const files = modelFiles();
  let recognition: Uint8Array;
  let table: CalibrationTable | undefined;

  beforeAll(async () => {
    recognition = await readFile(files.recognition);
    table = findCalibration(files.recognition, sha256Hex(recognition));
  });

  it('ships a table that fits the bundled recogniser after the current rewrites, with a range for every tensor', () => {
    expect(table, 'measure again with npm run calibrate -- --float-from-stride 4').toBeDefined();
    // Its last two stages stay float (docs/architecture.md).
    expect(quantizeSettings(table!)).toEqual({ floatFromStride: 4 });
    const rewritten = optimizeModel(recognition).model;
    const { tensors } = quantizationPlan(rewritten, quantizeSettings(table!));
    expect(tensors.filter((t) => !table!.ranges[t])).toEqual([]);
    const wholeConvs = [...quantizationPlan(rewritten).nodes].filter((n) => n.opType === 'Conv').length;
    const { quantized } = quantizeModel(rewritten, table!.ranges, quantizeSettings(table!));
    expect(quantized.conv).toBeGreaterThan(15);
    expect(quantized.conv).toBeLessThan(wholeConvs);
    expect(quantized.hardSigmoid).toBeGreaterThan(10);
    expect(quantized.matMul).toBe(1); // the CTC head, not the SVTR neck's linear layers
  });

  it('ships a table for the bundled detector that keeps its stem-resolution layers in float', async () => {
    const detection = await readFile(files.detection);
    const det = findCalibration(files.detection, sha256Hex(detection));
    expect(det, 'measure again with npm run calibrate -- --model detection --float-strides 3').toBeDefined();
    expect(det!.floatStrides).toBe(3);
    const rewritten = optimizeModel(detection).model;
    const { tensors } = quantizationPlan(rewritten, { floatStrides: det!.floatStrides });
    expect(tensors.filter((t) => !det!.ranges[t])).toEqual([]);
    const all = quantizationPlan(rewritten);
    const { quantized } = quantizeModel(rewritten, det!.ranges, { floatStrides: det!.floatStrides });
    expect(quantized.conv).toBeGreaterThan(40);
    expect(quantized.conv).toBeLessThan([...all.nodes].filter((n) => n.opType === 'Conv').length);
    expect(quantized.matMul).toBe(0);
    const cpu = { ...DEFAULT_ENGINE_OPTIONS };
    const precision = async (options: Partial<typeof cpu>) =>
      (await modelPrecision('detection', files.detection, { ...cpu, ...options }, BUNDLED_CALIBRATIONS, true))
        .precision;
    expect(await precision({})).toBe('int8');
    expect(await precision({ detPrecision: 'fp32' })).toBe('fp32');
    // recPrecision does not set the detector's precision.
    expect(await precision({ recPrecision: 'fp32' })).toBe('int8');
    await expect(
      modelPrecision('detection', files.detection, { ...cpu, optimizeGraphs: false, detPrecision: 'int8' }),
    ).rejects.toThrow(/detPrecision int8 needs optimizeGraphs/);
  });

  it('reads VNNI from the CPU flags', () => {
    expect(cpuHasVnni('processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni avx512_bf16\n')).toBe(
      true,
    );
    expect(cpuHasVnni('flags\t\t: fpu sse avx2 avx_vnni\n')).toBe(true);
    expect(cpuHasVnni('flags\t\t: fpu sse avx2 avx512f\nbugs\t\t: avx512_vnni\n')).toBe(false);
  });

  it('chooses int8 on a VNNI CPU by default, float on a GPU or without VNNI, and refuses int8 it cannot build', async () => {
    const cpu = { ...DEFAULT_ENGINE_OPTIONS };
    const bundled = BUNDLED_CALIBRATIONS;
    expect((await modelPrecision('recognition', files.recognition, cpu, bundled, true)).precision).toBe(
      'int8',
    );
    expect(
      (await modelPrecision('recognition', files.recognition, cpu, bundled, true)).quantization?.weightBits,
    ).toBe(8);
    expect((await modelPrecision('recognition', files.recognition, cpu, bundled, false)).precision).toBe(
      'fp32',
    );
    const asked = await modelPrecision(
      'recognition',
      files.recognition,
      { ...cpu, recPrecision: 'int8' },
      bundled,
      false,
    );
    expect(asked.precision).toBe('int8');
    expect(asked.quantization?.weightBits).toBe(7);
    expect(
      (await modelPrecision('recognition', files.recognition, { ...cpu, recPrecision: 'fp32' })).precision,
    ).toBe('fp32');
    expect(
      (
        await modelPrecision('recognition', files.recognition, {
          ...cpu,
          executionProviders: ['cuda', 'cpu'],
        })
      ).precision,
    ).toBe('fp32');
    expect(
      (await modelPrecision('recognition', files.recognition, { ...cpu, optimizeGraphs: false })).precision,
    ).toBe('fp32');
    await expect(
      modelPrecision('recognition', files.recognition, {
        ...cpu,
        optimizeGraphs: false,
        recPrecision: 'int8',
      }),
    ).rejects.toThrow(/needs optimizeGraphs/);
    // Another model file (or a table for other bytes): float by default, a clear refusal when asked for int8.
    const stale = BUNDLED_CALIBRATIONS.map((t) => ({ ...t, sha256: '0'.repeat(64) }));
    expect((await modelPrecision('recognition', files.recognition, cpu, stale, true)).precision).toBe('fp32');
    await expect(
      modelPrecision('recognition', files.recognition, { ...cpu, recPrecision: 'int8' }, stale),
    ).rejects.toThrow(/no int8 calibration fits .*npm run calibrate/);
  });
});
