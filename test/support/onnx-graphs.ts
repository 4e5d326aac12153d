import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';

/** Helpers for writing small ONNX graphs in tests (onnx-proto), as Paddle2ONNX writes them. */
const { onnx } = onnxProto;

/** Deterministic pseudo-random values in [-1, 1). */
export function values(count: number, seed: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length: count }, () => {
    state = (state * 16807) % 2147483647;
    return (state / 2147483647) * 2 - 1;
  });
}

/** A `Constant` node holding a float tensor. */
export function constant(name: string, dims: number[], data: Float32Array): OnnxTypes.INodeProto {
  const t = onnx.TensorProto.create({
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    floatData: [...data],
  });
  return {
    opType: 'Constant',
    output: [name],
    attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t }],
  };
}

export const scalar = (name: string, value: number) => constant(name, [1], Float32Array.of(value));

export const ints = (name: string, list: number[]) => ({
  name,
  type: onnx.AttributeProto.AttributeType.INTS,
  ints: list,
});

export const node = (
  opType: string,
  input: string[],
  output: string,
  attribute: OnnxTypes.IAttributeProto[] = [],
) => ({
  opType,
  input,
  output: [output],
  attribute,
});
