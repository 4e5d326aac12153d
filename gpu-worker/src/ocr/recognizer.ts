import ort from 'onnxruntime-node';
import { cropSize, warpQuad } from './crop.ts';
import { ctcGreedyDecode, type DecodedLine, decodeLine } from './ctc.ts';
import { orderQuad } from './geometry.ts';
import type { EngineOptions } from './options.ts';
import type { Point, Quad, RgbImage, WordResult } from './types.ts';

/** One text line to read: its page image and its box on that page. */
export interface LineCrop {
  image: RgbImage;
  box: Quad;
}

export interface RecognizedLine extends DecodedLine {
  wordBoxes: WordResult[];
}

/** Output columns per input pixel of width (PP-OCRv4's recogniser downsamples by 8). */
const COLUMN_PIXELS = 8;

/**
 * Width of a recognition batch: wide enough for its widest crop (at least the model's
 * nominal width), rounded up to `bucket` pixels so the GPU providers see few distinct shapes.
 */
export function batchWidth(
  ratios: readonly number[],
  height: number,
  minWidth: number,
  bucket: number,
): number {
  const widest = Math.max(minWidth / height, ...ratios);
  return Math.ceil(Math.ceil(height * widest) / bucket) * bucket;
}

/** Fills batch item `index` of a [N,3,H,W] tensor with a crop, normalised to [-1,1], BGR. */
function normalizeInto(
  tensor: Float32Array,
  index: number,
  crop: RgbImage,
  height: number,
  width: number,
): void {
  const plane = height * width;
  const base = index * 3 * plane;
  for (let y = 0; y < crop.height; y++) {
    for (let x = 0; x < crop.width; x++) {
      const p = (y * crop.width + x) * 3;
      for (let c = 0; c < 3; c++)
        tensor[base + c * plane + y * width + x] = (crop.data[p + 2 - c]! / 255 - 0.5) / 0.5;
    }
  }
}

/** The corners of the source quad that map to the crop's top-left, top-right, bottom-right, bottom-left. */
function cropCorners(box: Quad, rotate: boolean, flipped: boolean): Quad {
  const [tl, tr, br, bl] = box;
  let corners: Quad = rotate ? [tr, br, bl, tl] : [tl, tr, br, bl];
  if (flipped) corners = [corners[2], corners[3], corners[0], corners[1]];
  return corners;
}

const lerp = (a: Point, b: Point, t: number): Point => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];

/**
 * Text recognition: crops sorted by aspect ratio, read in batches padded to the widest
 * member, CTC-decoded with the model's dictionary; words and their boxes recovered from the
 * columns each character came from.
 */
export class TextRecognizer {
  constructor(
    private readonly session: ort.InferenceSession,
    private readonly dictionary: readonly string[],
    private readonly options: EngineOptions,
    private readonly classifier?: ort.InferenceSession,
  ) {}

  async recognize(lines: readonly LineCrop[]): Promise<RecognizedLine[]> {
    const items = lines.map((line, index) => {
      const size = cropSize(line.box);
      return { line, index, ...size, ratio: size.width / Math.max(1, size.height), flipped: false };
    });
    if (this.classifier && this.options.useAngleClassifier) await this.classify(items);
    const order = [...items].sort((a, b) => a.ratio - b.ratio);
    const batches: (typeof order)[] = [];
    for (let start = 0; start < order.length; start += this.options.recBatchSize) {
      batches.push(order.slice(start, start + this.options.recBatchSize));
    }
    const results: RecognizedLine[] = new Array(lines.length);
    // Pipelined: the next batch's crops are cut and normalised while the model runs this one
    // (onnxruntime runs off the JavaScript thread).
    let next = batches[0] ? this.prepare(batches[0]) : undefined;
    for (let b = 0; b < batches.length; b++) {
      const prepared = next!;
      const running = this.session.run({
        [this.session.inputNames[0]!]: new ort.Tensor('float32', prepared.tensor, [
          prepared.batch.length,
          3,
          this.options.recImageHeight,
          prepared.width,
        ]),
      });
      next = batches[b + 1] ? this.prepare(batches[b + 1]!) : undefined;
      const output = await running;
      this.decode(prepared, output[this.session.outputNames[0]!]!, results);
    }
    return results;
  }

  /** Cuts, scales and normalises a batch's crops into one tensor padded to the batch width. */
  private prepare(
    batch: ReadonlyArray<{ line: LineCrop; index: number; rotate: boolean; ratio: number; flipped: boolean }>,
  ) {
    const height = this.options.recImageHeight;
    const width = batchWidth(
      batch.map((b) => b.ratio),
      height,
      this.options.recImageWidth,
      this.options.recWidthBucket,
    );
    const tensor = new Float32Array(batch.length * 3 * height * width);
    const contentWidths = batch.map((item, i) => {
      const w = Math.max(1, Math.min(width, Math.ceil(height * item.ratio)));
      const crop = warpQuad(
        item.line.image,
        cropCorners(item.line.box, item.rotate, item.flipped),
        w,
        height,
      );
      normalizeInto(tensor, i, crop, height, width);
      return w;
    });
    return { batch, width, tensor, contentWidths };
  }

  /** CTC-decodes a batch's output into lines with words and word boxes. */
  private decode(
    prepared: ReturnType<TextRecognizer['prepare']>,
    probs: ort.Tensor,
    results: RecognizedLine[],
  ): void {
    const [, steps, classes] = probs.dims as [number, number, number];
    const data = probs.data as Float32Array;
    prepared.batch.forEach((item, i) => {
      const chars = ctcGreedyDecode(data, i * steps * classes, steps, classes, this.dictionary);
      const decoded = decodeLine(chars, this.options.wordGapRatio);
      const corners = cropCorners(item.line.box, item.rotate, item.flipped);
      const at = (column: number) =>
        Math.min(1, Math.max(0, (column * COLUMN_PIXELS) / prepared.contentWidths[i]!));
      const wordBoxes = decoded.words.map((word) => {
        const f0 = at(word.start);
        const f1 = at(word.end + 1);
        const box = orderQuad([
          lerp(corners[0], corners[1], f0),
          lerp(corners[0], corners[1], f1),
          lerp(corners[3], corners[2], f1),
          lerp(corners[3], corners[2], f0),
        ]).map(([x, y]) => [Math.round(x), Math.round(y)]) as Quad;
        return { text: word.text, confidence: word.confidence, box };
      });
      results[item.index] = { ...decoded, wordBoxes };
    });
  }

  /** The 0°/180° classifier: crops it is sure are upside down are read turned around. */
  private async classify(
    items: Array<{ line: LineCrop; rotate: boolean; ratio: number; flipped: boolean }>,
  ): Promise<void> {
    const session = this.classifier!;
    const height = 48;
    const width = 192;
    for (let start = 0; start < items.length; start += this.options.recBatchSize) {
      const batch = items.slice(start, start + this.options.recBatchSize);
      const tensor = new Float32Array(batch.length * 3 * height * width);
      batch.forEach((item, i) => {
        const w = Math.max(1, Math.min(width, Math.ceil(height * item.ratio)));
        normalizeInto(
          tensor,
          i,
          warpQuad(item.line.image, cropCorners(item.line.box, item.rotate, false), w, height),
          height,
          width,
        );
      });
      const output = await session.run({
        [session.inputNames[0]!]: new ort.Tensor('float32', tensor, [batch.length, 3, height, width]),
      });
      const probs = output[session.outputNames[0]!]!.data as Float32Array;
      batch.forEach((item, i) => {
        item.flipped = probs[i * 2 + 1]! > probs[i * 2]! && probs[i * 2 + 1]! > this.options.clsThresh;
      });
    }
  }
}
