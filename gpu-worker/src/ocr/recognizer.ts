import ort from 'onnxruntime-node';
import { cropSize, warpQuad } from './crop.ts';
import {
  CTC_OUTPUTS,
  type CtcColumns,
  ctcDecodeColumns,
  ctcGreedyDecode,
  type DecodedChar,
  type DecodedLine,
  decodeLine,
} from './ctc.ts';
import { orderQuad } from './geometry.ts';
import { type EngineOptions, usesGpu } from './options.ts';
import type { Point, Quad, RgbImage, WordResult } from './types.ts';

/** One text line to read: its page image and its box on that page. */
export interface LineCrop {
  image: RgbImage;
  box: Quad;
}

/** A line planned into a recognition batch. */
export interface RecognitionItem extends LineCrop {
  /** The line's position in the list given to {@link planRecognition}. */
  index: number;
  /** Width over height of the upright crop. */
  ratio: number;
  /** Taller than wide: read turned 90° (vertical text). */
  rotate: boolean;
}

/** Lines of similar aspect ratio read in one session run, padded to `width`. */
export interface RecognitionBatch {
  width: number;
  items: RecognitionItem[];
}

export interface RecognizedLine extends DecodedLine {
  wordBoxes: WordResult[];
}

/** Output columns per input pixel of width (PP-OCRv4's recogniser downsamples by 8). */
const COLUMN_PIXELS = 8;

/**
 * Width of a recognition batch: wide enough for its widest crop (at least `minWidth`), rounded
 * up to `bucket` pixels so the GPU providers see few distinct shapes.
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

/** The CPU default of {@link EngineOptions.recBatchPixels} (48 × 1024). */
export const CPU_REC_BATCH_PIXELS = 49_152;

/** The pixel budget of a recognition run: as configured, else by provider (see the option). */
export function recBatchPixels(
  options: Pick<EngineOptions, 'recBatchPixels' | 'executionProviders'>,
): number {
  if (options.recBatchPixels !== undefined) return options.recBatchPixels;
  return usesGpu(options) ? Number.POSITIVE_INFINITY : CPU_REC_BATCH_PIXELS;
}

/** Whether a recognition batch holds lines of one padded width only: as configured, else on for the CPU. */
export function recBatchByWidth(
  options: Pick<EngineOptions, 'recBatchByWidth' | 'executionProviders'>,
): boolean {
  return options.recBatchByWidth ?? !usesGpu(options);
}

/**
 * Plans the recognition of `lines` (from any number of pages): sorted by aspect ratio so that
 * each batch pads little, each batch padded to its widest member and bucketed, at most
 * `recBatchSize` lines and `recBatchPixels` pixels per batch (a line wider than the budget
 * goes alone). With {@link recBatchByWidth} a batch takes only lines of its bucketed width, so
 * no line is padded beyond its own bucket and its reading does not depend on its neighbours.
 * The batches are independent: any engine thread can run any of them.
 */
export function planRecognition(
  lines: readonly LineCrop[],
  options: Pick<
    EngineOptions,
    | 'recImageHeight'
    | 'recMinWidth'
    | 'recBatchSize'
    | 'recWidthBucket'
    | 'recBatchPixels'
    | 'recBatchByWidth'
    | 'executionProviders'
  >,
): RecognitionBatch[] {
  const items = lines.map((line, index): RecognitionItem => {
    const size = cropSize(line.box);
    return { ...line, index, ratio: size.width / Math.max(1, size.height), rotate: size.rotate };
  });
  items.sort((a, b) => a.ratio - b.ratio);
  const budget = recBatchPixels(options);
  const byWidth = recBatchByWidth(options);
  const widthOf = (ratio: number) =>
    batchWidth([ratio], options.recImageHeight, options.recMinWidth, options.recWidthBucket);
  const batches: RecognitionBatch[] = [];
  let current: RecognitionBatch | undefined;
  for (const item of items) {
    // Sorted by ratio: the newcomer is the batch's widest member.
    const width = widthOf(item.ratio);
    if (
      current &&
      (!byWidth || current.width === width) &&
      current.items.length < options.recBatchSize &&
      (current.items.length + 1) * width * options.recImageHeight <= budget
    ) {
      current.items.push(item);
      current.width = width;
    } else {
      current = { width, items: [item] };
      batches.push(current);
    }
  }
  return batches;
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
  const { data } = crop;
  for (let y = 0; y < crop.height; y++) {
    const row = base + y * width;
    for (let x = 0, p = y * crop.width * 3; x < crop.width; x++, p += 3) {
      tensor[row + x] = data[p + 2]! / 127.5 - 1;
      tensor[row + plane + x] = data[p + 1]! / 127.5 - 1;
      tensor[row + 2 * plane + x] = data[p]! / 127.5 - 1;
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
 * Text recognition on PP-OCRv4's recogniser: one planned batch at a time, its crops cut and
 * normalised into a tensor padded to the batch width, CTC-decoded with the model's dictionary;
 * words and their boxes recovered from the columns each character came from.
 */
export class TextRecognizer {
  constructor(
    private readonly session: ort.InferenceSession,
    private readonly dictionary: readonly string[],
    private readonly options: EngineOptions,
    private readonly classifier?: ort.InferenceSession,
  ) {
    this.columnOutputs =
      Object.values(CTC_OUTPUTS).every((name) => session.outputNames.includes(name)) &&
      dictionary.lastIndexOf(' ') === dictionary.length - 1;
  }

  /** The same recogniser (dictionary, options, classifier) on another session of the model. */
  withSession(session: ort.InferenceSession): TextRecognizer {
    return new TextRecognizer(session, this.dictionary, this.options, this.classifier);
  }

  /**
   * Whether the session returns each column's winner ({@link CTC_OUTPUTS}, added with the graph
   * rewrites) and the dictionary's space is the last class, as those outputs assume.
   */
  private readonly columnOutputs: boolean;

  /** Runs the recogniser on a batch tensor; returns the decoder of row i's characters. */
  private async run(input: ort.Tensor): Promise<(row: number) => DecodedChar[]> {
    const feeds = { [this.session.inputNames[0]!]: input };
    if (this.columnOutputs) {
      const output = await this.session.run(feeds, Object.values(CTC_OUTPUTS));
      const best = output[CTC_OUTPUTS.best]!;
      const steps = best.dims[1]!;
      const columns: CtcColumns = {
        best: best.data as Int32Array,
        bestProb: output[CTC_OUTPUTS.bestProb]!.data as Float32Array,
        spaceProb: output[CTC_OUTPUTS.lastProb]!.data as Float32Array,
      };
      return (row) => ctcDecodeColumns(columns, row * steps, steps, this.dictionary);
    }
    const name = this.session.outputNames[0]!;
    const probs = (await this.session.run(feeds, [name]))[name]!;
    const [, steps, classes] = probs.dims as [number, number, number];
    const data = probs.data as Float32Array;
    return (row) => ctcGreedyDecode(data, row * steps * classes, steps, classes, this.dictionary);
  }

  async recognizeBatch(batch: RecognitionBatch): Promise<RecognizedLine[]> {
    const flipped =
      this.classifier && this.options.useAngleClassifier
        ? await this.classify(batch.items)
        : batch.items.map(() => false);
    const height = this.options.recImageHeight;
    const padRows = this.options.recPadBatch ?? usesGpu(this.options);
    const rows = padRows ? Math.max(this.options.recBatchSize, batch.items.length) : batch.items.length;
    const tensor = new Float32Array(rows * 3 * height * batch.width);
    const contentWidths = batch.items.map((item, i) => {
      const w = Math.max(1, Math.min(batch.width, Math.ceil(height * item.ratio)));
      normalizeInto(
        tensor,
        i,
        warpQuad(item.image, cropCorners(item.box, item.rotate, flipped[i]!), w, height),
        height,
        batch.width,
      );
      return w;
    });
    const decode = await this.run(new ort.Tensor('float32', tensor, [rows, 3, height, batch.width]));
    return batch.items.map((item, i) => {
      const chars = decode(i);
      const decoded = decodeLine(chars, {
        spaceProb: this.options.wordSpaceProb,
        gapRatio: this.options.wordGapRatio,
        gapSpaceProb: this.options.wordGapSpaceProb,
        closingGapRatio: this.options.wordClosingGapRatio,
      });
      const corners = cropCorners(item.box, item.rotate, flipped[i]!);
      const at = (column: number) => Math.min(1, Math.max(0, (column * COLUMN_PIXELS) / contentWidths[i]!));
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
      return { ...decoded, wordBoxes };
    });
  }

  /** The 0°/180° classifier: which crops it is sure are upside down (read turned around). */
  private async classify(items: readonly RecognitionItem[]): Promise<boolean[]> {
    const session = this.classifier!;
    const height = 48;
    const width = 192;
    const tensor = new Float32Array(items.length * 3 * height * width);
    items.forEach((item, i) => {
      const w = Math.max(1, Math.min(width, Math.ceil(height * item.ratio)));
      normalizeInto(
        tensor,
        i,
        warpQuad(item.image, cropCorners(item.box, item.rotate, false), w, height),
        height,
        width,
      );
    });
    const output = await session.run({
      [session.inputNames[0]!]: new ort.Tensor('float32', tensor, [items.length, 3, height, width]),
    });
    const probs = output[session.outputNames[0]!]!.data as Float32Array;
    return items.map(
      (_, i) => probs[i * 2 + 1]! > probs[i * 2]! && probs[i * 2 + 1]! > this.options.clsThresh,
    );
  }
}
