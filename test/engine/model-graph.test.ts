import { readFile } from 'node:fs/promises';
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { optimizeModel } from '../../gpu-worker/src/ocr/model-graph.ts';
import { modelFiles } from '../../gpu-worker/src/ocr/models.ts';
import { constant, ints, node, scalar, values } from '../support/onnx-graphs.ts';

const { onnx } = onnxProto;

/**
 * A PPLCNetV3-shaped block as Paddle2ONNX writes it: 3×3 conv → affine → hard-swish spelled out →
 * affine → 1×1 conv (foldable), and an affine before a padded 3×3 conv (must stay).
 */
function block(opset: number): Uint8Array {
  const clip =
    opset >= 11
      ? node('Clip', ['s', 'zero', 'six'], 'c')
      : node('Clip', ['s'], 'c', [
          { name: 'min', type: onnx.AttributeProto.AttributeType.FLOAT, f: 0 },
          { name: 'max', type: onnx.AttributeProto.AttributeType.FLOAT, f: 6 },
        ]);
  const nodes: OnnxTypes.INodeProto[] = [
    constant('w1', [4, 2, 3, 3], values(72, 1)),
    constant('b1', [4], values(4, 2)),
    constant('w2', [3, 4, 1, 1], values(12, 3)),
    constant('w3', [3, 3, 3, 3], values(81, 4)),
    scalar('a', 1.7),
    scalar('b', 0.4),
    scalar('three', 3),
    ...(opset >= 11 ? [scalar('zero', 0)] : []),
    scalar('six', 6),
    scalar('c1', 0.6),
    scalar('d1', -0.2),
    scalar('c2', 2.5),
    scalar('d2', 0.3),
    node('Conv', ['x', 'w1', 'b1'], 'y1', [ints('pads', [1, 1, 1, 1])]),
    node('Mul', ['a', 'y1'], 'm1'),
    node('Add', ['m1', 'b'], 'x1'),
    node('Add', ['x1', 'three'], 's'),
    clip,
    node('Mul', ['x1', 'c'], 'p'),
    node('Div', ['p', 'six'], 'hs'),
    node('Mul', ['c1', 'hs'], 'm2'),
    node('Add', ['m2', 'd1'], 'a2'),
    node('Conv', ['a2', 'w2'], 'y2'),
    node('Mul', ['y2', 'c2'], 'm3'),
    node('Relu', ['m3'], 'r3'),
    node('Add', ['r3', 'd2'], 'a3'),
    node('Conv', ['a3', 'w3'], 'out', [ints('pads', [1, 1, 1, 1])]),
  ];
  const tensor = (name: string) => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimValue: 1 }, { dimParam: 'c' }, { dimParam: 'h' }, { dimParam: 'w' }] },
      },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'block', node: nodes, input: [tensor('x')], output: [tensor('out')] },
  });
  return onnx.ModelProto.encode(model).finish();
}

async function run(model: Uint8Array, dims: number[], seed = 9): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
  });
  try {
    const input = new ort.Tensor(
      'float32',
      values(
        dims.reduce((a, b) => a * b),
        seed,
      ),
      dims,
    );
    const output = await session.run({ [session.inputNames[0]!]: input });
    return output[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((max, value, i) => Math.max(max, Math.abs(value - b[i]!)), 0);
}

function opTypes(model: Uint8Array): string[] {
  return (onnx.ModelProto.decode(model).graph?.node ?? [])
    .map((n) => n.opType ?? '')
    .filter((op) => op !== 'Constant');
}

describe('graph rewrites', () => {
  it.each([9, 11])('fold affine steps and hard-swish exactly (opset %i)', async (opset) => {
    const original = block(opset);
    const { model, rewrites } = optimizeModel(original);
    expect(rewrites).toEqual({
      affineIntoConv: 2,
      hardSwish: 1,
      affineIntoNextConv: 1,
      affineAsDepthwise: 1,
    });
    // The affine steps after both convs and around the 1×1 conv are folded, hard-swish is two ops;
    // the step before the padded conv (Add after Relu) cannot fold and becomes a 1×1 depthwise conv.
    expect(opTypes(model)).toEqual(['Conv', 'HardSigmoid', 'Mul', 'Conv', 'Relu', 'Conv', 'Conv']);
    const dims = [1, 2, 7, 9];
    expect(maxDifference(await run(model, dims), await run(original, dims))).toBeLessThan(1e-5);
  });

  it('leave the PP-OCRv4 models computing the same function', async () => {
    const files = modelFiles();
    for (const [path, dims] of [
      [files.detection, [1, 3, 96, 128]],
      [files.recognition, [2, 3, 48, 160]],
    ] as const) {
      const original = await readFile(path);
      const { model, rewrites } = optimizeModel(original);
      expect(rewrites.affineIntoConv).toBeGreaterThan(20);
      expect(rewrites.hardSwish).toBeGreaterThan(20);
      expect(opTypes(model)).not.toContain('Clip');
      expect(rewrites.affineAsDepthwise).toBeGreaterThan(10);
      expect(maxDifference(await run(model, [...dims]), await run(original, [...dims]))).toBeLessThan(1e-4);
    }
  });
});
