/**
 * Static int8 quantisation of a rewritten PP-OCR graph (`model-graph.ts`) for the CPU, in the QDQ
 * form onnxruntime fuses: a tensor to quantise gets `QuantizeLinear → DequantizeLinear` right after
 * it is made, weights are stored as int8 behind a `DequantizeLinear`, and at session start
 * onnxruntime turns `DQ → Conv → Q` into `QLinearConv` and `DQ → Mul/Add → Q` into
 * `QLinearMul`/`QLinearAdd` (uint8 activations, int8 weights: the VNNI/AVX2 integer kernels).
 *
 * - Convolution weights: int8, symmetric, one scale per output channel; biases int32 at the
 *   input scale × the channel's weight scale (what `QLinearConv` adds).
 * - Activations: uint8, one scale and zero point per tensor, from ranges measured on calibration
 *   pages (`calibration.ts`; {@link RangeCollector}).
 * - Hard-sigmoid has no integer kernel; left in float, the DQ/Q and float passes around the
 *   hard-swishes took 37% of a quantised recognition run. It is written as integer ops instead
 *   (whole pages then read 5–8% faster): `clip(αy + β, 0, 1) = α · clip(y + β/α, 0, 1/α)` is
 *   an `Add` of the constant β/α whose output is quantised with scale 1/(255α) and zero point 0
 *   (the uint8 saturation is the clip, exactly), read back with scale 1/255 (the factor α);
 *   `x · hardsigmoid(x)` then becomes a `QLinearMul`. No calibration is needed for it: its range
 *   is [0, 1] by construction.
 * - The classifier head (the CTC head's 120 × 6,625 `MatMul` before its bias and `Softmax`): int8
 *   weights with one scale per class, its input quantised with a measured range, its output left
 *   in float; onnxruntime fuses `DQ → MatMul` into `MatMulIntegerToFloat`. The float head was 13%
 *   of an int8 recognition run; with it, runs of PP-OCRv4's recogniser took 5% less time (one
 *   thread, 136.6 → 129.8 ms for four runs of 48-px lines) at the same word F1 on the odd half.
 * - Left in float: convolutions reading a graph input (the page pixels: three channels, little
 *   work to save) and those of squeeze-and-excitation branches (1×1 pixel after a global pooling:
 *   no work to save), and everything that is not a convolution, a global pooling, a
 *   product/sum of quantised tensors or the classifier head (the SVTR neck's attention and layer
 *   norms, the head's bias and softmax).
 * - {@link QuantizeSettings.floatStrides} keeps a graph's first, high-resolution layers in float,
 *   {@link QuantizeSettings.floatFromStride} its last ones (the recogniser's table: from its 4th
 *   strided convolution on, where int8 lost papers' word F1, docs/architecture.md).
 *   The detector needs the first: quantised whole, 12% of the text pixels of its probability map flipped
 *   against float's on the odd pages of ../shared/eval and it found 2% fewer lines on receipts;
 *   with the convolutions up to the third strided one in float (its table's setting), 2.8%, at the
 *   same session time (docs/architecture.md).
 *
 * Per-channel weight scales need `DequantizeLinear`'s `axis` (opset 13): older graphs are moved
 * to opset 13, rewriting the operators whose signature changed (`Slice` before 10, `Squeeze` and
 * `Unsqueeze` before 13). The other operators of the PP-OCR graphs read the same at 13.
 */
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import { floats } from './model-graph.ts';

const { onnx } = onnxProto;
type NodeProto = OnnxTypes.INodeProto;
type TensorProto = OnnxTypes.ITensorProto;
const DataType = onnx.TensorProto.DataType;
const AttributeType = onnx.AttributeProto.AttributeType;

// The quantiser's version (part of the model cache's key) is kept in model-versions.ts: bump it
// there with any change to the bytes written here.
export { QUANTIZATION_VERSION, quantizeSettings } from './model-versions.ts';

/**
 * Bits of the int8 weights: 8 uses −127…127; 7 uses −63…63, for CPUs without VNNI, whose
 * uint8 × int8 kernels add pairs of products in 16 bits (2 × 255 × 127 overflows; 2 × 255 × 63
 * does not).
 */
export type WeightBits = 7 | 8;

/** Measured range of each tensor to quantise, by tensor name: [low, high]. */
export type ActivationRanges = Record<string, [number, number]>;

/** What a calibration table fixes beyond its ranges (`CalibrationTable`). */
export interface QuantizeSettings {
  /**
   * Convolutions stay float, in graph order, up to and including the `floatStrides`-th one with a
   * stride above 1 (0: none beyond the graph-input rule). PP-OCR's backbones open with a chain of
   * convolutions, so 2 keeps the stem and the layers at its half resolution in float.
   */
  floatStrides?: number;
  /**
   * Convolutions stay float from the `floatFromStride`-th one with a stride above 1 on, that one
   * included (absent or 0: none): the low-resolution, many-channel end of a backbone and what
   * follows it, where the recogniser's int8 error lies (docs/architecture.md).
   */
  floatFromStride?: number;
}

/** How many nodes of each kind were quantised. */
export interface QuantizedNodes {
  conv: number;
  hardSigmoid: number;
  mul: number;
  add: number;
  globalAveragePool: number;
  matMul: number;
}

const QUANTIZABLE = new Set(['Conv', 'HardSigmoid', 'Mul', 'Add', 'GlobalAveragePool', 'MatMul']);

/**
 * Which nodes are quantised and which tensors need a measured range: the inputs and outputs of
 * those nodes, except hard-sigmoid outputs (fixed range). A node is quantised when its inputs are:
 * a convolution with constant weights and float input (not a graph input, not in a
 * squeeze-and-excitation branch) starts a quantised region; hard-sigmoid and global pooling
 * continue one; a `Mul`/`Add` of two computed tensors continues one when either is quantised. A
 * classifier head (a `MatMul` by constant 2-D weights whose only reader is an `Add` of a constant
 * read by a `Softmax`) is quantised on its own: its input needs a range, its float output none.
 */
export function quantizationPlan(
  model: Uint8Array | OnnxTypes.IModelProto,
  settings: QuantizeSettings = {},
): {
  nodes: Set<NodeProto>;
  tensors: string[];
} {
  const decoded = model instanceof Uint8Array ? onnx.ModelProto.decode(model) : model;
  const graphNodes = decoded.graph?.node ?? [];
  const graphInputs = new Set((decoded.graph?.input ?? []).map((i) => i.name ?? ''));
  // Each constant's rank, by the name it goes by.
  const constants = new Map<string | undefined, number>(
    graphNodes
      .filter((n) => n.opType === 'Constant')
      .map((n) => [n.output?.[0], n.attribute?.find((a) => a.name === 'value')?.t?.dims?.length ?? 0]),
  );
  const producer = new Map<string, NodeProto>();
  for (const n of graphNodes) for (const o of n.output ?? []) producer.set(o, n);
  const readers = new Map<string, NodeProto[]>();
  for (const n of graphNodes) {
    for (const i of n.input ?? []) {
      const list = readers.get(i);
      if (list) list.push(n);
      else readers.set(i, [n]);
    }
  }
  const onlyReader = (tensor: string) => {
    const list = readers.get(tensor) ?? [];
    return list.length === 1 ? list[0] : undefined;
  };
  const classifierHead = (node: NodeProto): boolean => {
    const bias = onlyReader(node.output?.[0] ?? '');
    if (bias?.opType !== 'Add' || !(bias.input ?? []).some((i) => constants.has(i))) return false;
    return onlyReader(bias.output?.[0] ?? '')?.opType === 'Softmax';
  };
  const inSqueezeExcitation = (tensor: string): boolean => {
    for (let node = producer.get(tensor); node; node = producer.get(node.input?.[0] ?? '')) {
      if (node.opType === 'GlobalAveragePool') return true;
      if (!['Conv', 'Relu', 'HardSigmoid'].includes(node.opType ?? '')) return false;
    }
    return false;
  };
  const nodes = new Set<NodeProto>();
  const quantized = new Set<string>();
  const floatFrom = settings.floatFromStride || Number.POSITIVE_INFINITY;
  let strided = 0;
  for (const node of graphNodes) {
    const op = node.opType ?? '';
    if (op === 'Conv') {
      // Strided convolutions before this one (`seen`) and up to it, this one included (`strided`).
      const seen = strided;
      if (node.attribute?.some((a) => a.name === 'strides' && (a.ints ?? []).some((v) => Number(v) > 1)))
        strided += 1;
      if (seen < (settings.floatStrides ?? 0) || strided >= floatFrom) continue;
    }
    if (!QUANTIZABLE.has(op)) continue;
    const inputs = (node.input ?? []).filter(Boolean);
    const first = inputs[0] ?? '';
    let take: boolean;
    if (op === 'Conv') {
      take = constants.has(inputs[1]) && !graphInputs.has(first) && !inSqueezeExcitation(first);
    } else if (op === 'MatMul') {
      take =
        constants.get(inputs[1]) === 2 &&
        !constants.has(first) &&
        !graphInputs.has(first) &&
        classifierHead(node);
      if (take) nodes.add(node); // its output stays float: nothing after it continues a region
      continue;
    } else if (op === 'Mul' || op === 'Add') {
      take =
        inputs.length === 2 && inputs.every((i) => !constants.has(i)) && inputs.some((i) => quantized.has(i));
    } else {
      take = quantized.has(first);
    }
    if (!take) continue;
    nodes.add(node);
    quantized.add(node.output?.[0] ?? '');
  }
  const fixed = new Set([...nodes].filter((n) => n.opType === 'HardSigmoid').map((n) => n.output?.[0]));
  const tensors = new Set<string>();
  for (const node of nodes) {
    const weighted = node.opType === 'Conv' || node.opType === 'MatMul';
    const inputs = weighted ? [node.input?.[0] ?? ''] : (node.input ?? []);
    const outputs = node.opType === 'MatMul' ? [] : [node.output?.[0] ?? ''];
    for (const name of [...inputs, ...outputs]) {
      if (name && !fixed.has(name)) tensors.add(name);
    }
  }
  return { nodes, tensors: [...tensors] };
}

/** The model with every tensor of its quantisation plan added as an output, for calibration runs. */
export function calibrationModel(
  model: Uint8Array,
  settings: QuantizeSettings = {},
): { model: Uint8Array; tensors: string[] } {
  const decoded = onnx.ModelProto.decode(model);
  const graph = decoded.graph;
  if (!graph) throw new Error('the ONNX model has no graph');
  const { tensors } = quantizationPlan(decoded, settings);
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  for (const name of tensors) {
    if (outputs.has(name)) continue;
    graph.output = [
      ...(graph.output ?? []),
      onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: DataType.FLOAT } } }),
    ];
  }
  return { model: onnx.ModelProto.encode(decoded).finish(), tensors };
}

/**
 * Activation ranges from calibration runs: each tensor's range is the mean, over the runs, of
 * each run's lowest and highest value. The extremes over all runs (min/max) let a rare outlier
 * stretch a tensor's scale and cost every other value precision: on receipts and papers
 * (bench/README.md, issue 14) the mean of the extremes read best of min/max, percentiles of the
 * values and percentiles of the run extremes.
 */
export class RangeCollector {
  private readonly sums = new Map<string, { low: number; high: number; runs: number }>();

  /** Adds one run's values of one tensor. */
  observe(tensor: string, values: Float32Array): void {
    let low = Number.POSITIVE_INFINITY;
    let high = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v < low) low = v;
      if (v > high) high = v;
    }
    if (!Number.isFinite(low) || !Number.isFinite(high)) return;
    const sum = this.sums.get(tensor) ?? { low: 0, high: 0, runs: 0 };
    sum.low += low;
    sum.high += high;
    sum.runs += 1;
    this.sums.set(tensor, sum);
  }

  /** Runs observed for the tensor seen most. */
  get runs(): number {
    return Math.max(0, ...[...this.sums.values()].map((s) => s.runs));
  }

  ranges(): ActivationRanges {
    const out: ActivationRanges = {};
    for (const [tensor, s] of [...this.sums].sort(([a], [b]) => a.localeCompare(b)))
      out[tensor] = [s.low / s.runs, s.high / s.runs];
    return out;
  }
}

/** uint8 quantisation of a range: it always holds 0 (padding and ReLU's zero stay exact). */
export function activationParams(range: [number, number]): { scale: number; zeroPoint: number } {
  const low = Math.min(0, range[0]);
  const high = Math.max(0, range[1]);
  const scale = Math.max(high - low, 1e-6) / 255;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-low / scale))) };
}

const rawBytes = (view: ArrayBufferView) => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

/** Rewrites the model as described above with `ranges` (one per tensor of its plan). */
export function quantizeModel(
  model: Uint8Array,
  ranges: ActivationRanges,
  options: { weightBits?: WeightBits } & QuantizeSettings = {},
): { model: Uint8Array; quantized: QuantizedNodes } {
  const decoded = onnx.ModelProto.decode(model);
  if (!decoded.graph) throw new Error('the ONNX model has no graph');
  const writer = new QdqWriter(decoded.graph, ranges, options.weightBits ?? 8);
  upgradeToOpset13(decoded, writer);
  const quantized = writer.quantize(quantizationPlan(decoded, options).nodes);
  writer.commit();
  return { model: onnx.ModelProto.encode(decoded).finish(), quantized };
}

/** Moves the default domain to opset 13 (see the module's comment); no change at 13 or later. */
function upgradeToOpset13(model: OnnxTypes.IModelProto, writer: QdqWriter): void {
  const opset = model.opsetImport?.find((o) => !o.domain);
  if (!opset) throw new Error('the ONNX model imports no default-domain opset');
  const version = Number(opset.version);
  if (version >= 13) return;
  for (const node of model.graph?.node ?? []) {
    const list = (name: string) => node.attribute?.find((a) => a.name === name)?.ints?.map(Number);
    const toInput = (names: string[]) => {
      const inputs = [node.input?.[0] ?? ''];
      for (const name of names) {
        const values = list(name);
        if (!values) break;
        inputs.push(writer.int64s(`${node.output?.[0]}_${name}`, values));
      }
      node.input = inputs;
      node.attribute = (node.attribute ?? []).filter((a) => !names.includes(a.name ?? ''));
    };
    if (node.opType === 'Slice' && version < 10) toInput(['starts', 'ends', 'axes']);
    if (node.opType === 'Squeeze' || node.opType === 'Unsqueeze') toInput(['axes']);
  }
  opset.version = 13;
}

/** Writes the QDQ graph: new constants and nodes, kept in a topological order. */
class QdqWriter {
  private readonly added: NodeProto[] = [];
  private readonly constants = new Map<string, TensorProto>();
  /** Float tensor → the name its dequantised copy goes by. */
  private readonly dequantized = new Map<string, string>();
  /** Output of a quantised node → what its float readers read instead. */
  private readonly renamed = new Map<string, string>();
  /** Dequantised copy → its scale (a convolution's bias is quantised at its input's scale). */
  private readonly scales = new Map<string, number>();

  constructor(
    private readonly graph: OnnxTypes.IGraphProto,
    private readonly ranges: ActivationRanges,
    private readonly weightBits: WeightBits,
  ) {
    for (const node of graph.node ?? []) {
      const t = node.opType === 'Constant' ? node.attribute?.find((a) => a.name === 'value')?.t : undefined;
      if (t && node.output?.[0]) this.constants.set(node.output[0], t);
    }
  }

  private constant(name: string, dataType: number, dims: number[], data: Uint8Array): string {
    const t = onnx.TensorProto.create({ name, dims, dataType, rawData: data });
    this.added.push(
      onnx.NodeProto.create({
        opType: 'Constant',
        name,
        output: [name],
        attribute: [onnx.AttributeProto.create({ name: 'value', type: AttributeType.TENSOR, t })],
      }),
    );
    return name;
  }

  int64s(name: string, values: number[]): string {
    return this.constant(
      name,
      DataType.INT64,
      [values.length],
      rawBytes(BigInt64Array.from(values.map(BigInt))),
    );
  }

  private params(tag: string, scale: number, zeroPoint: number): [string, string] {
    return [
      this.constant(`${tag}_scale`, DataType.FLOAT, [], rawBytes(Float32Array.of(scale))),
      this.constant(`${tag}_zero`, DataType.UINT8, [], Uint8Array.of(zeroPoint)),
    ];
  }

  private node(opType: string, input: string[], output: string, axis?: number): void {
    this.added.push(
      onnx.NodeProto.create({
        opType,
        name: output,
        input,
        output: [output],
        attribute:
          axis === undefined
            ? []
            : [onnx.AttributeProto.create({ name: 'axis', type: AttributeType.INT, i: axis })],
      }),
    );
  }

  /** `tensor` quantised with its measured range and read back: the name of the float copy. */
  private dequantize(tensor: string): string {
    const known = this.renamed.get(tensor) ?? this.dequantized.get(tensor);
    if (known) return known;
    const range = this.ranges[tensor];
    if (!range) throw new Error(`the calibration has no range for tensor ${tensor}`);
    const { scale, zeroPoint } = activationParams(range);
    const params = this.params(tensor, scale, zeroPoint);
    this.node('QuantizeLinear', [tensor, ...params], `${tensor}_quantized`);
    this.node('DequantizeLinear', [`${tensor}_quantized`, ...params], `${tensor}_dequantized`);
    this.dequantized.set(tensor, `${tensor}_dequantized`);
    this.scales.set(`${tensor}_dequantized`, scale);
    return `${tensor}_dequantized`;
  }

  quantize(nodes: Set<NodeProto>): QuantizedNodes {
    const counts: QuantizedNodes = {
      conv: 0,
      hardSigmoid: 0,
      mul: 0,
      add: 0,
      globalAveragePool: 0,
      matMul: 0,
    };
    const kept: NodeProto[] = [];
    for (const node of this.graph.node ?? []) {
      if (!nodes.has(node)) {
        kept.push(node);
        continue;
      }
      const output = node.output?.[0] ?? '';
      switch (node.opType) {
        case 'HardSigmoid':
          this.hardSigmoid(node);
          counts.hardSigmoid += 1;
          continue; // replaced by integer ops
        case 'MatMul':
          this.matMul(node);
          counts.matMul += 1;
          kept.push(node);
          continue; // its output stays float
        case 'Conv':
          this.conv(node);
          counts.conv += 1;
          break;
        default:
          node.input = (node.input ?? []).map((name) => (name ? this.dequantize(name) : name));
          if (node.opType === 'Mul') counts.mul += 1;
          else if (node.opType === 'Add') counts.add += 1;
          else counts.globalAveragePool += 1;
      }
      kept.push(node);
      this.renamed.set(output, this.dequantize(output));
    }
    // Float readers of a quantised node's output read its dequantised copy (the Q node reads the original).
    for (const node of kept) {
      if (nodes.has(node)) continue;
      node.input = (node.input ?? []).map((name) => this.renamed.get(name) ?? name);
    }
    for (const output of this.graph.output ?? []) {
      const renamed = this.renamed.get(output.name ?? '');
      if (!renamed) continue;
      kept.push(
        onnx.NodeProto.create({ opType: 'Identity', input: [renamed], output: [`${output.name}_float`] }),
      );
      output.name = `${output.name}_float`;
    }
    this.graph.node = kept;
    return counts;
  }

  /** hardsigmoid(y) = α·clip(y + β/α, 0, 1/α): an Add, a saturating Q and a DQ with scale 1/255. */
  private hardSigmoid(node: NodeProto): void {
    const attr = (name: string, fallback: number) =>
      node.attribute?.find((a) => a.name === name)?.f ?? fallback;
    const alpha = attr('alpha', 0.2);
    const beta = attr('beta', 0.5);
    const out = node.output?.[0] ?? '';
    const shift = this.constant(`${out}_shift_q`, DataType.UINT8, [], Uint8Array.of(1));
    this.node('DequantizeLinear', [shift, ...this.params(`${out}_shift`, beta / alpha, 0)], `${out}_shift`);
    this.added.push(
      onnx.NodeProto.create({
        opType: 'Add',
        name: `${out}_sum`,
        input: [this.dequantize(node.input?.[0] ?? ''), `${out}_shift`],
        output: [`${out}_sum`],
      }),
    );
    this.node(
      'QuantizeLinear',
      [`${out}_sum`, ...this.params(`${out}_sum`, 1 / (255 * alpha), 0)],
      `${out}_clipped`,
    );
    this.node(
      'DequantizeLinear',
      [`${out}_clipped`, ...this.params(`${out}_unit`, 1 / 255, 0)],
      `${out}_dequantized`,
    );
    this.renamed.set(out, `${out}_dequantized`);
    this.scales.set(`${out}_dequantized`, 1 / 255);
  }

  /** Per-channel int8 weights and int32 bias behind DQ nodes; the input read through its DQ. */
  private conv(node: NodeProto): void {
    const [x = '', w = '', b] = node.input ?? [];
    const out = node.output?.[0] ?? '';
    const inputs = [this.dequantize(x)];
    const { scales, channels } = this.int8Weights(out, w, 0);
    inputs.push(`${out}_weight`);
    if (b) {
      const bias = this.constants.get(b);
      if (!bias) throw new Error(`convolution ${out} has no constant bias`);
      const inputScale = this.scales.get(inputs[0]!)!;
      const bv = floats(bias);
      const bs = Float32Array.from(scales, (s) => s * inputScale);
      const bq = Int32Array.from(bv, (v, c) => Math.round(v / bs[c]!));
      const names = [
        this.constant(`${out}_bias_q`, DataType.INT32, [channels], rawBytes(bq)),
        this.constant(`${out}_bias_scale`, DataType.FLOAT, [channels], rawBytes(bs)),
        this.constant(`${out}_bias_zero`, DataType.INT32, [channels], new Uint8Array(4 * channels)),
      ];
      this.node('DequantizeLinear', names, `${out}_bias`, 0);
      inputs.push(`${out}_bias`);
    }
    node.input = inputs;
  }

  /**
   * A classifier head's `MatMul` by [K, C] weights: int8 weights with one scale per column (class)
   * behind a DQ on axis 1, its input read through its DQ; no bias here (the `Add` after it stays).
   */
  private matMul(node: NodeProto): void {
    const [x = '', w = ''] = node.input ?? [];
    const out = node.output?.[0] ?? '';
    this.int8Weights(out, w, 1);
    node.input = [this.dequantize(x), `${out}_weight`];
  }

  /**
   * Node `out`'s constant weights `w` as symmetric int8 with one scale per index of `axis` (a
   * convolution's output channels: 0; a `MatMul`'s columns: 1), read back through a DQ node named
   * `${out}_weight`.
   */
  private int8Weights(out: string, w: string, axis: number): { scales: Float32Array; channels: number } {
    const weights = this.constants.get(w);
    if (!weights) throw new Error(`${out} has no constant weights`);
    const values = floats(weights);
    const dims = (weights.dims ?? []).map(Number);
    const channels = dims[axis] ?? 0;
    const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    const outer = values.length / (channels * inner);
    const at = (o: number, c: number, i: number) => (o * channels + c) * inner + i;
    const top = 2 ** (this.weightBits - 1) - 1;
    const scales = new Float32Array(channels);
    const q = new Int8Array(values.length);
    for (let c = 0; c < channels; c++) {
      let max = 0;
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < inner; i++) max = Math.max(max, Math.abs(values[at(o, c, i)]!));
      scales[c] = max > 0 ? max / top : 1;
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < inner; i++) q[at(o, c, i)] = Math.round(values[at(o, c, i)]! / scales[c]!);
    }
    const wq = this.constant(`${out}_weight_q`, DataType.INT8, dims, rawBytes(q));
    const ws = this.constant(`${out}_weight_scale`, DataType.FLOAT, [channels], rawBytes(scales));
    const wz = this.constant(`${out}_weight_zero`, DataType.INT8, [channels], new Uint8Array(channels));
    this.node('DequantizeLinear', [wq, ws, wz], `${out}_weight`, axis);
    return { scales, channels };
  }

  /** Adds the new nodes, drops constants nothing reads, and orders the graph topologically. */
  commit(): void {
    const all = [...this.added, ...(this.graph.node ?? [])];
    const read = new Set(all.flatMap((n) => n.input ?? []));
    for (const output of this.graph.output ?? []) read.add(output.name ?? '');
    const live = all.filter((n) => n.opType !== 'Constant' || read.has(n.output?.[0] ?? ''));
    const ready = new Set((this.graph.input ?? []).map((i) => i.name ?? ''));
    for (const init of this.graph.initializer ?? []) ready.add(init.name ?? '');
    const ordered: NodeProto[] = [];
    let pending = live;
    while (pending.length > 0) {
      const waiting: NodeProto[] = [];
      for (const node of pending) {
        if ((node.input ?? []).every((i) => !i || ready.has(i))) {
          ordered.push(node);
          for (const o of node.output ?? []) ready.add(o);
        } else waiting.push(node);
      }
      if (waiting.length === pending.length)
        throw new Error(`the quantised graph has a cycle or a missing input at ${waiting[0]?.opType}`);
      pending = waiting;
    }
    this.graph.node = ordered;
  }
}
