import type { DetectedBox } from './db-postprocess.ts';
import { planDetection } from './detector.ts';
import { EngineThreads } from './engine-threads.ts';
import { type DecodedPage, decodeImagePages, isBilevel, type PageSelection } from './image.ts';
import { checkEngineOptions, DEFAULT_ENGINE_OPTIONS, type EngineOptions } from './options.ts';
import { PageBatcher } from './page-batcher.ts';
import { shareImage } from './pdf-pages.ts';
import { readingOrder } from './reading-order.ts';
import { type LineCrop, planRecognition, type RecognizedLine } from './recognizer.ts';
import { applyTensorRtSettings, type TensorRtSettings } from './session.ts';
import type { LineResult, OcrResult, PageResult, RgbImage } from './types.ts';

const PDF_MAGIC = Buffer.from('%PDF-');

/**
 * The OCR engine: decode → detect → crop → recognise → reading order, with PP-OCRv4's models
 * loaded once per engine thread and kept warm. The pages of one call are detected in groups of
 * the same input size and their lines recognised together, sorted by aspect ratio; the groups
 * and batches run on the engine threads (see {@link EngineThreads}).
 *
 * @example
 * const engine = await OcrEngine.create({ executionProviders: ['cpu'] });
 * const { pages } = await engine.recognize(await readFile('scan.png'));
 * console.log(pages[0].lines.map((l) => l.text).join('\n'));
 * await engine.close();
 */
export class OcrEngine {
  private readonly batcher: PageBatcher;

  private constructor(
    readonly options: EngineOptions,
    private readonly threads: EngineThreads,
    onBatch?: (pages: number) => void,
  ) {
    this.batcher = new PageBatcher((pages) => {
      onBatch?.(pages.length);
      return this.recognizePages(pages);
    }, options);
  }

  /** `onBatch` hears the size of each batch the engine runs (the worker's BatchPages metric). */
  static async create(
    options: Partial<EngineOptions> = {},
    extras: { tensorRt?: TensorRtSettings; onBatch?: (pages: number) => void } = {},
  ): Promise<OcrEngine> {
    const merged: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, ...options };
    checkEngineOptions(merged);
    // The TensorRT provider reads its settings from the process environment: set before threads start.
    if (merged.executionProviders.includes('tensorrt'))
      applyTensorRtSettings(extras.tensorRt ?? { fp16: false });
    return new OcrEngine(merged, await EngineThreads.start(merged), extras.onBatch);
  }

  /** The recognition model's precision: `recPrecision` as set or as chosen by default. */
  get recPrecision(): EngineThreads['recPrecision'] {
    return this.threads.recPrecision;
  }

  /** The detection model's precision: `detPrecision` as set or as chosen by default. */
  get detPrecision(): EngineThreads['detPrecision'] {
    return this.threads.detPrecision;
  }

  /** What the model cache did at start, per model (see `model-cache.ts`): for logs and benchmarks. */
  get modelCache(): EngineThreads['modelCache'] {
    return this.threads.modelCache;
  }

  /** Decodes a document file (image or PDF): all its pages or the selected ones. */
  async decode(input: Buffer, selection?: PageSelection): Promise<DecodedPage[]> {
    const isPdf = input.subarray(0, PDF_MAGIC.length).equals(PDF_MAGIC);
    if (!isPdf) {
      // Shared at once: the decoder's buffer is dropped here rather than held beside its shared
      // copy until the batch ends (two copies of every page in flight, ~11 MB each for a paper).
      const pages = await decodeImagePages(input, this.options.maxPagePixels, selection);
      return pages.map(({ page, image }) => ({ page, image: shareImage(image) }));
    }
    // PDFium is WebAssembly: rendering on an engine thread keeps the event loop free.
    return this.threads.render(input, this.options.maxPagePixels, this.options.pdfDpi, selection);
  }

  /**
   * OCRs a document file (image or PDF), all its pages or the selected ones. Documents given
   * while the engine is busy are batched together (see {@link PageBatcher}).
   */
  async recognize(input: Buffer, selection?: PageSelection): Promise<OcrResult> {
    return { pages: await this.batcher.submit(await this.decode(input, selection)) };
  }

  /**
   * OCRs pages already decoded, batched like {@link recognize}: for callers that need the pixels
   * too (the `auto` engine measures ink and sends hard pages on to Textract).
   */
  recognizeDecoded(pages: DecodedPage[]): Promise<PageResult[]> {
    return this.batcher.submit(pages);
  }

  /**
   * OCRs decoded pages, from one document or several: detection in groups of same-sized pages,
   * then recognition over all their lines at once.
   */
  async recognizePages(pages: readonly DecodedPage[]): Promise<PageResult[]> {
    const images = pages.map((p) => shareImage(p.image));
    // With int8 models, bilevel pages are detected and read in float (`bilevelFloat`): two plans each.
    const int8 = this.threads.detPrecision === 'int8' || this.threads.recPrecision === 'int8';
    const float = images.map((image) => int8 && this.options.bilevelFloat && isBilevel(image));
    const detected: DetectedBox[][] = new Array(images.length);
    await Promise.all(
      [false, true].flatMap((inFloat) => {
        const members = images.flatMap((_, i) => (float[i] === inFloat ? [i] : []));
        const precision = inFloat ? 'fp32' : this.threads.detPrecision;
        return planDetection(
          members.map((i) => images[i]!),
          this.options,
        ).map(async (group) => {
          const boxes = await this.threads.detect(
            group.map((k) => images[members[k]!]!),
            precision,
          );
          group.forEach((k, j) => {
            detected[members[k]!] = boxes[j]!;
          });
        });
      }),
    );
    const crops: Array<LineCrop & { page: number }> = [];
    detected.forEach((boxes, page) => {
      for (const { box } of boxes) crops.push({ image: images[page]!, box, page });
    });
    const read: RecognizedLine[] = new Array(crops.length);
    await Promise.all(
      [false, true].flatMap((inFloat) => {
        const indices = crops.flatMap((crop, i) => (float[crop.page] === inFloat ? [i] : []));
        const precision = inFloat ? 'fp32' : this.threads.recPrecision;
        return planRecognition(
          indices.map((i) => crops[i]!),
          this.options,
        ).map(async (batch) => {
          const lines = await this.threads.recognize(batch, precision);
          batch.items.forEach((item, k) => {
            read[indices[item.index]!] = lines[k]!;
          });
        });
      }),
    );
    const lines: LineResult[][] = pages.map(() => []);
    crops.forEach((crop, i) => {
      const line = read[i]!;
      if (line.text.trim() === '') return;
      lines[crop.page]!.push({
        text: line.text,
        confidence: round(line.confidence),
        box: crop.box,
        words: line.wordBoxes.map((w) => ({ ...w, confidence: round(w.confidence) })),
      });
    });
    return pages.map(({ page, image }, i) => ({
      page,
      width: image.width,
      height: image.height,
      lines: readingOrder(lines[i]!),
    }));
  }

  /** OCRs one page already in memory. */
  async recognizeImage(image: RgbImage): Promise<PageResult> {
    const [page] = await this.recognizePages([{ page: 1, image }]);
    return page!;
  }

  /**
   * Stops the engine threads once their running tasks end. `force` fails the queued tasks at once
   * (a worker shutting down with work abandoned must not wait for it).
   */
  async close(options: { force?: boolean } = {}): Promise<void> {
    await this.threads.close(options);
  }
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
