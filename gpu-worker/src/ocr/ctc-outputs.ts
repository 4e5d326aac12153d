/**
 * Greedy CTC decoding reads, per output column, only the winning class, its probability and the
 * space class's probability; the recogniser's own output is every class's probability, [N, T, C]
 * floats with C = 6,625 for PP-OCRv4: up to 20 MB copied out of onnxruntime per recognition run,
 * then scanned column by column in JavaScript. {@link addCtcOutputs} adds three outputs that
 * onnxruntime computes from the softmax in place, the winner and its probability from one `TopK`
 * (k = 1; [N, T, 1]: one pass over the classes where `ArgMax` and `ReduceMax` took two) and the
 * space probability from a `Gather` ([N, T]): the engine fetches those and leaves the full output
 * in the session (it stays an output, for models whose space is not the last class).
 */
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import { CTC_OUTPUTS } from './ctc.ts';

export { CTC_OUTPUTS };

const { onnx } = onnxProto;
type NodeProto = OnnxTypes.INodeProto;
const DataType = onnx.TensorProto.DataType;
const AttributeType = onnx.AttributeProto.AttributeType;

// Part of the model cache's key, kept in model-versions.ts: bump it there with any change to the
// bytes written here.
export { CTC_OUTPUTS_VERSION } from './model-versions.ts';

const intAttr = (name: string, i: number) => ({ name, type: AttributeType.INT, i });

/**
 * The model with the three {@link CTC_OUTPUTS} added after its output of class probabilities: a
 * graph output made by a `Softmax` over the last axis of a rank-3 tensor whose class count is
 * fixed. Any other model (detection, the angle classifier, one already done) comes back unchanged.
 */
export function addCtcOutputs(bytes: Uint8Array): { model: Uint8Array; added: boolean } {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph) throw new Error('the ONNX model has no graph');
  const outputs = graph.output ?? [];
  if (outputs.some((o) => o.name === CTC_OUTPUTS.best)) return { model: bytes, added: false };
  const producer = new Map<string, NodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  const probs = outputs.find((o) => {
    const dims = o.type?.tensorType?.shape?.dim ?? [];
    const softmax = producer.get(o.name ?? '');
    if (softmax?.opType !== 'Softmax' || dims.length !== 3 || !Number(dims[2]?.dimValue)) return false;
    const axis = Number(softmax.attribute?.find((a) => a.name === 'axis')?.i ?? -1);
    return axis === 2 || axis === -1;
  });
  if (!probs?.name) return { model: bytes, added: false };
  const classes = Number(probs.type?.tensorType?.shape?.dim?.[2]?.dimValue);
  const [batch, steps] = probs.type?.tensorType?.shape?.dim ?? [];
  const constant = (t: OnnxTypes.ITensorProto): NodeProto => ({
    opType: 'Constant',
    output: [t.name ?? ''],
    attribute: [{ name: 'value', type: AttributeType.TENSOR, t }],
  });
  const winner = [CTC_OUTPUTS.bestProb, `${CTC_OUTPUTS.best}_int64`];
  // TopK takes k as an attribute before opset 10 (PP-OCRv4's graph is at 9), as an input since.
  const opset = Number(model.opsetImport?.find((o) => !o.domain)?.version ?? 1);
  const k = `${CTC_OUTPUTS.best}_k`;
  const topK: NodeProto[] =
    opset < 10
      ? [
          {
            opType: 'TopK',
            input: [probs.name],
            output: winner,
            attribute: [intAttr('axis', 2), intAttr('k', 1)],
          },
        ]
      : [
          constant(onnx.TensorProto.create({ name: k, dims: [1], dataType: DataType.INT64, int64Data: [1] })),
          { opType: 'TopK', input: [probs.name, k], output: winner, attribute: [intAttr('axis', 2)] },
        ];
  const last = onnx.TensorProto.create({
    name: `${CTC_OUTPUTS.lastProb}_index`,
    dims: [],
    dataType: DataType.INT64,
    int64Data: [classes - 1],
  });
  graph.node = [
    ...(graph.node ?? []),
    ...topK,
    {
      opType: 'Cast',
      input: [`${CTC_OUTPUTS.best}_int64`],
      output: [CTC_OUTPUTS.best],
      attribute: [intAttr('to', DataType.INT32)],
    },
    constant(last),
    {
      opType: 'Gather',
      input: [probs.name, last.name ?? ''],
      output: [CTC_OUTPUTS.lastProb],
      attribute: [intAttr('axis', 2)],
    },
  ];
  const shape = { dim: [batch ?? {}, steps ?? {}] };
  const top = { dim: [batch ?? {}, steps ?? {}, { dimValue: 1 }] };
  graph.output = [
    ...outputs,
    { name: CTC_OUTPUTS.best, type: { tensorType: { elemType: DataType.INT32, shape: top } } },
    { name: CTC_OUTPUTS.bestProb, type: { tensorType: { elemType: DataType.FLOAT, shape: top } } },
    { name: CTC_OUTPUTS.lastProb, type: { tensorType: { elemType: DataType.FLOAT, shape } } },
  ];
  return { model: onnx.ModelProto.encode(model).finish(), added: true };
}
