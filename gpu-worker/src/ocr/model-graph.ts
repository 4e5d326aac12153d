/**
 * Exact rewrites of the PP-OCR graphs before onnxruntime loads them.
 *
 * Paddle2ONNX exports PP-OCRv4's PPLCNetV3 blocks as a convolution followed by a chain of
 * elementwise operators: a learnable affine step (`Mul` by a scalar, `Add` a scalar), hard-swish
 * spelled out as `Add 3 → Clip 0..6 → Mul x → Div 6`, and another affine step. onnxruntime's own
 * optimisations fold none of it, so on the CPU a third of a recognition run went to those passes
 * over memory (profiled: Add 14%, Mul 14%, Clip 6%, Div 4%). The rewrites here are algebra, not
 * approximations (outputs agree to ~1e-6):
 *
 * 1. scalar `Mul`/`Add` right after a `Conv` → folded into its weights and bias;
 * 2. `x · clip(x + 3, 0, 6) / 6` → `x · HardSigmoid(x; α = 1/6, β = 1/2)` (the same function;
 *    onnxruntime fuses that pair);
 * 3. scalar `Mul`/`Add` whose result only feeds 1×1, unpadded, ungrouped `Conv`s → folded into
 *    those convolutions (with padding the border pixels would differ);
 * 4. the scalar `Mul`/`Add` chains left (before padded depthwise convolutions) → one 1×1
 *    depthwise `Conv` each: a single pass, in the blocked layout onnxruntime's CPU convolutions
 *    use, where elementwise ops with a scalar made it convert the tensor out and back.
 *
 * Constants are looked for as `Constant` nodes, which is how Paddle2ONNX writes them; a graph
 * that keeps them as initializers is left as it is (nothing matches).
 *
 * Measured on one CPU thread (1×3×48×640 recognition input): 53–67 ms → 42–49 ms after 1–3,
 * and 6–13% less again after 4; convolutions went from half of the run time to 89%.
 */
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';

// A CommonJS package: its namespace comes through the default export.
const { onnx } = onnxProto;
type NodeProto = OnnxTypes.INodeProto;
type TensorProto = OnnxTypes.ITensorProto;

// The rewrites' version (part of the model cache's key) is kept in model-versions.ts: bump it there
// with any change here that changes the bytes `optimizeModel` writes.
export { GRAPH_REWRITE_VERSION } from './model-versions.ts';

/** How many of each rewrite a model received. */
export interface GraphRewrites {
  affineIntoConv: number;
  hardSwish: number;
  affineIntoNextConv: number;
  affineAsDepthwise: number;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** Rewrites an ONNX model (its bytes) as described above; returns the new bytes and what was done. */
export function optimizeModel(bytes: Uint8Array): { model: Uint8Array; rewrites: GraphRewrites } {
  const model = onnx.ModelProto.decode(bytes);
  if (!model.graph) throw new Error('the ONNX model has no graph');
  const graph = new Graph(model.graph);
  const rewrites: GraphRewrites = {
    affineIntoConv: graph.foldAffineIntoConv(),
    hardSwish: graph.hardSwishToHardSigmoid(),
    affineIntoNextConv: graph.foldAffineIntoNextConv(),
    affineAsDepthwise: graph.affineAsDepthwiseConv(),
  };
  graph.commit();
  return { model: onnx.ModelProto.encode(model).finish(), rewrites };
}

/** A float tensor's values, whether stored as `floatData` or `rawData` (also read by model-quantize.ts). */
export function floats(tensor: TensorProto): Float32Array {
  if (tensor.floatData && tensor.floatData.length > 0) return Float32Array.from(tensor.floatData);
  const raw = tensor.rawData ?? new Uint8Array();
  return new Float32Array(Uint8Array.from(raw).buffer);
}

function setFloats(tensor: TensorProto, values: Float32Array): void {
  tensor.floatData = [];
  tensor.rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

function attribute(node: NodeProto, name: string): OnnxTypes.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

/** A graph's nodes with who produces and who consumes each tensor; passes mark nodes removed. */
class Graph {
  private nodes: NodeProto[];
  private readonly producer = new Map<string, NodeProto>();
  private readonly consumers = new Map<string, Array<NodeProto | 'graph-output'>>();
  private readonly removed = new Set<NodeProto>();
  private readonly added: NodeProto[] = [];

  constructor(private readonly graph: OnnxTypes.IGraphProto) {
    this.nodes = graph.node ?? [];
    this.index();
  }

  /** Drops removed nodes, adds new constants first, and rebuilds the maps. */
  private index(): void {
    this.nodes = [...this.added, ...this.nodes.filter((n) => !this.removed.has(n))];
    this.added.length = 0;
    this.removed.clear();
    this.producer.clear();
    this.consumers.clear();
    for (const node of this.nodes) {
      for (const output of node.output ?? []) this.producer.set(output, node);
      for (const input of node.input ?? []) {
        if (input) this.consumers.set(input, [...(this.consumers.get(input) ?? []), node]);
      }
    }
    for (const output of this.graph.output ?? []) {
      const name = output.name ?? '';
      this.consumers.set(name, [...(this.consumers.get(name) ?? []), 'graph-output']);
    }
  }

  /** Writes the nodes back, without constants nothing reads any more. */
  commit(): void {
    this.index();
    const read = new Set(this.nodes.flatMap((n) => n.input ?? []));
    for (const output of this.graph.output ?? []) read.add(output.name ?? '');
    this.graph.node = this.nodes.filter((n) => n.opType !== 'Constant' || read.has(n.output?.[0] ?? ''));
  }

  private constant(name: string | undefined): TensorProto | undefined {
    const node = name ? this.producer.get(name) : undefined;
    if (node?.opType !== 'Constant') return undefined;
    return attribute(node, 'value')?.t ?? undefined;
  }

  /** A constant that only this one node reads, so it can be changed in place. */
  private ownConstant(name: string | undefined): TensorProto | undefined {
    const tensor = this.constant(name);
    return tensor && name && this.consumers.get(name)?.length === 1 ? tensor : undefined;
  }

  private scalar(name: string | undefined): number | undefined {
    const tensor = this.constant(name);
    if (!tensor || tensor.dataType !== FLOAT) return undefined;
    const values = floats(tensor);
    return values.length === 1 ? values[0] : undefined;
  }

  /** The only node reading `name`, if exactly one node (and not the graph's output) does. */
  private soleConsumer(name: string): NodeProto | undefined {
    const readers = this.consumers.get(name) ?? [];
    return readers.length === 1 && readers[0] !== 'graph-output' ? readers[0] : undefined;
  }

  /** For a `Mul`/`Add` by a scalar constant: the other input and the scalar. */
  private scalarStep(node: NodeProto): { input: string; value: number } | undefined {
    if (node.opType !== 'Mul' && node.opType !== 'Add') return undefined;
    const [a, b] = node.input ?? [];
    const va = this.scalar(a);
    const vb = this.scalar(b);
    if (vb !== undefined && va === undefined && a) return { input: a, value: vb };
    if (va !== undefined && vb === undefined && b) return { input: b, value: va };
    return undefined;
  }

  /** The chain of scalar Mul/Add steps from `tensor` on, each the sole reader of the last, as y = scale·x + shift. */
  private affineChain(tensor: string): { steps: NodeProto[]; scale: number; shift: number; output: string } {
    const steps: NodeProto[] = [];
    let scale = 1;
    let shift = 0;
    let output = tensor;
    for (let next = this.soleConsumer(output); next; next = this.soleConsumer(output)) {
      const step = this.scalarStep(next);
      if (!step || step.input !== output) break;
      if (next.opType === 'Mul') {
        scale *= step.value;
        shift *= step.value;
      } else {
        shift += step.value;
      }
      steps.push(next);
      output = next.output?.[0] ?? '';
    }
    return { steps, scale, shift, output };
  }

  private biasOf(conv: NodeProto, channels: number): Float32Array | undefined {
    const name = conv.input?.[2];
    if (!name) return new Float32Array(channels);
    const tensor = this.ownConstant(name);
    return tensor ? floats(tensor) : undefined;
  }

  private setBias(conv: NodeProto, values: Float32Array): void {
    const existing = this.constant(conv.input?.[2]);
    if (existing) {
      setFloats(existing, values);
      return;
    }
    const name = this.addConstant(`${conv.output?.[0]}_folded_bias`, [values.length], values);
    conv.input = [conv.input?.[0] ?? '', conv.input?.[1] ?? '', name];
  }

  /** A new `Constant` node holding `values` (placed first in the graph); returns its name. */
  private addConstant(name: string, dims: number[], values: Float32Array): string {
    const tensor = onnx.TensorProto.create({ name, dims, dataType: FLOAT });
    setFloats(tensor, values);
    this.added.push(
      onnx.NodeProto.create({
        opType: 'Constant',
        name,
        output: [name],
        attribute: [
          onnx.AttributeProto.create({
            name: 'value',
            type: onnx.AttributeProto.AttributeType.TENSOR,
            t: tensor,
          }),
        ],
      }),
    );
    return name;
  }

  /**
   * The scalar Mul/Add chain that begins at `first` (not when `first` continues a chain begun
   * before it), as y = scale·input + shift.
   */
  private chainStartingAt(
    first: NodeProto,
  ): { input: string; steps: NodeProto[]; scale: number; shift: number; output: string } | undefined {
    const step = this.scalarStep(first);
    if (!step) return undefined;
    const before = this.producer.get(step.input);
    if (before && this.scalarStep(before) && this.soleConsumer(step.input) === first) return undefined;
    const rest = this.affineChain(first.output?.[0] ?? '');
    return {
      input: step.input,
      steps: [first, ...rest.steps],
      scale: first.opType === 'Mul' ? step.value * rest.scale : rest.scale,
      shift: first.opType === 'Mul' ? rest.shift : step.value * rest.scale + rest.shift,
      output: rest.output,
    };
  }

  /** Rewrite 1: `Conv → ·a → +b` becomes one `Conv` with weights a·W and bias a·B + b. */
  foldAffineIntoConv(): number {
    let count = 0;
    for (const conv of this.nodes) {
      if (conv.opType !== 'Conv' || this.removed.has(conv)) continue;
      const weights = this.ownConstant(conv.input?.[1]);
      const output = conv.output?.[0];
      if (!weights || !output) continue;
      const chain = this.affineChain(output);
      const channels = Number(weights.dims?.[0]);
      const bias = this.biasOf(conv, channels);
      if (chain.steps.length === 0 || !bias) continue;
      const w = floats(weights);
      for (let i = 0; i < w.length; i++) w[i]! *= chain.scale;
      setFloats(weights, w);
      for (let o = 0; o < channels; o++) bias[o] = bias[o]! * chain.scale + chain.shift;
      this.setBias(conv, bias);
      conv.output = [chain.output];
      for (const step of chain.steps) this.removed.add(step);
      count += 1;
    }
    this.index();
    return count;
  }

  /** Rewrite 2: `Add 3 → Clip 0..6 → Mul x → Div 6` becomes `HardSigmoid(1/6, 1/2) → Mul x`. */
  hardSwishToHardSigmoid(): number {
    let count = 0;
    for (const add of this.nodes) {
      if (this.removed.has(add)) continue;
      const step = this.scalarStep(add);
      if (add.opType !== 'Add' || step?.value !== 3) continue;
      const x = step.input;
      const shifted = add.output?.[0] ?? '';
      const clip = this.soleConsumer(shifted);
      if (clip?.opType !== 'Clip' || !this.clipsTo(clip, 0, 6)) continue;
      const gate = clip.output?.[0] ?? '';
      const mul = this.soleConsumer(gate);
      const product = mul?.output?.[0] ?? '';
      if (mul?.opType !== 'Mul' || !mul.input?.includes(x) || !mul.input.includes(gate)) continue;
      const div = this.soleConsumer(product);
      if (div?.opType !== 'Div' || div.input?.[0] !== product || this.scalar(div.input[1]) !== 6) continue;
      // In place, so the order stays topological: the Add's slot computes the gate, the Div's the product.
      add.opType = 'HardSigmoid';
      add.input = [x];
      add.attribute = [
        onnx.AttributeProto.create({
          name: 'alpha',
          type: onnx.AttributeProto.AttributeType.FLOAT,
          f: 1 / 6,
        }),
        onnx.AttributeProto.create({ name: 'beta', type: onnx.AttributeProto.AttributeType.FLOAT, f: 0.5 }),
      ];
      div.opType = 'Mul';
      div.input = [x, shifted];
      this.removed.add(clip);
      this.removed.add(mul);
      count += 1;
    }
    this.index();
    return count;
  }

  private clipsTo(clip: NodeProto, min: number, max: number): boolean {
    const inputs = clip.input ?? [];
    // Opset 11 and later: bounds are inputs; before: attributes.
    const lo = inputs.length > 1 ? this.scalar(inputs[1]) : attribute(clip, 'min')?.f;
    const hi = inputs.length > 2 ? this.scalar(inputs[2]) : attribute(clip, 'max')?.f;
    return lo === min && hi === max;
  }

  /** A `Conv` whose every output pixel reads one input pixel: 1×1 kernel, no padding, one group. */
  private isPointwise(conv: NodeProto | 'graph-output'): conv is NodeProto {
    if (conv === 'graph-output' || conv.opType !== 'Conv') return false;
    const dims = this.ownConstant(conv.input?.[1])?.dims?.map(Number);
    if (dims?.[2] !== 1 || dims[3] !== 1) return false;
    if (Number(attribute(conv, 'group')?.i ?? 1) !== 1) return false;
    if ((attribute(conv, 'pads')?.ints ?? []).some((p) => Number(p) !== 0)) return false;
    const autoPad = attribute(conv, 'auto_pad')?.s;
    const padMode = autoPad && autoPad.length > 0 ? Buffer.from(autoPad).toString() : 'NOTSET';
    if (padMode !== 'NOTSET' && padMode !== 'VALID') return false;
    return !conv.input?.[2] || this.ownConstant(conv.input[2]) !== undefined;
  }

  /** Rewrite 3: `u → ·c → +d` read only by pointwise convs: W' = c·W, B' = B + d·ΣW, reading u. */
  foldAffineIntoNextConv(): number {
    let count = 0;
    for (const first of this.nodes) {
      if (this.removed.has(first)) continue;
      const chain = this.chainStartingAt(first);
      if (!chain) continue;
      const { input, scale, shift, output } = chain;
      const readers = this.consumers.get(output) ?? [];
      if (readers.length === 0 || !readers.every((r) => this.isPointwise(r) && r.input?.[0] === output))
        continue;
      for (const conv of readers as NodeProto[]) {
        const weights = this.ownConstant(conv.input?.[1])!;
        const [outputs = 0, inputs = 0] = weights.dims?.map(Number) ?? [];
        const w = floats(weights);
        const bias = this.biasOf(conv, outputs)!;
        for (let o = 0; o < outputs; o++) {
          let sum = 0;
          for (let i = 0; i < inputs; i++) {
            sum += w[o * inputs + i]!;
            w[o * inputs + i]! *= scale;
          }
          bias[o]! += shift * sum;
        }
        setFloats(weights, w);
        this.setBias(conv, bias);
        conv.input = [input, ...(conv.input?.slice(1) ?? [])];
      }
      for (const node of chain.steps) this.removed.add(node);
      count += 1;
    }
    this.index();
    return count;
  }

  /**
   * Channels of a 4-D tensor computed by 2-D convolutions through elementwise steps, when that
   * can be told for sure: both operands of a `Mul`/`Add` must agree (a broadcast operand with
   * one channel would not), a scalar constant operand is skipped.
   */
  private channels(tensor: string, depth = 0): number | undefined {
    const node = this.producer.get(tensor);
    if (!node || depth > 6) return undefined;
    if (node.opType === 'Conv') {
      const dims = this.constant(node.input?.[1])?.dims?.map(Number);
      return dims?.length === 4 ? dims[0] : undefined;
    }
    if (node.opType === 'HardSigmoid' || node.opType === 'Relu')
      return this.channels(node.input?.[0] ?? '', depth + 1);
    if (node.opType !== 'Mul' && node.opType !== 'Add') return undefined;
    const step = this.scalarStep(node);
    if (step) return this.channels(step.input, depth + 1);
    const [a, b] = (node.input ?? []).map((input) => this.channels(input, depth + 1));
    return a !== undefined && a === b ? a : undefined;
  }

  /** Rewrite 4: a remaining scalar affine chain on a conv's channels → one 1×1 depthwise Conv. */
  affineAsDepthwiseConv(): number {
    let count = 0;
    for (const first of this.nodes) {
      if (this.removed.has(first)) continue;
      const chain = this.chainStartingAt(first);
      const channels = chain && this.channels(chain.input);
      if (!chain || !channels) continue;
      const last = chain.steps.at(-1)!;
      const weights = this.addConstant(
        `${chain.output}_dw_w`,
        [channels, 1, 1, 1],
        new Float32Array(channels).fill(chain.scale),
      );
      const bias = this.addConstant(
        `${chain.output}_dw_b`,
        [channels],
        new Float32Array(channels).fill(chain.shift),
      );
      last.opType = 'Conv';
      last.input = [chain.input, weights, bias];
      last.attribute = [
        onnx.AttributeProto.create({
          name: 'group',
          type: onnx.AttributeProto.AttributeType.INT,
          i: channels,
        }),
      ];
      for (const node of chain.steps) if (node !== last) this.removed.add(node);
      count += 1;
    }
    this.index();
    return count;
  }
}
