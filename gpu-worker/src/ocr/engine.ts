import type ort from 'onnxruntime-node';
import { openPdf } from '../documents/index.ts';
import { TextDetector } from './detector.ts';
import { InvalidImageError } from './errors.ts';
import { type DecodedPage, decodeImagePages, type PageSelection } from './image.ts';
import { loadDictionary, modelFiles } from './models.ts';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from './options.ts';
import { readingOrder } from './reading-order.ts';
import { type LineCrop, TextRecognizer } from './recognizer.ts';
import { createSession, type TensorRtSettings } from './session.ts';
import type { LineResult, OcrResult, PageResult, RgbImage } from './types.ts';

/** Renders the selected pages of a document format the image decoder does not read (PDF). */
export type DocumentRenderer = (
  input: Buffer,
  maxPixels: number,
  selection?: PageSelection,
) => Promise<DecodedPage[]>;

const PDF_MAGIC = Buffer.from('%PDF-');

/**
 * The OCR engine: decode → detect → crop → recognise → reading order, with PP-OCRv4's models
 * loaded once and kept warm. Recognition batches the crops of all the pages it is given.
 *
 * @example
 * const engine = await OcrEngine.create({ executionProviders: ['cpu'] });
 * const { pages } = await engine.recognize(await readFile('scan.png'));
 * console.log(pages[0].lines.map((l) => l.text).join('\n'));
 */
export class OcrEngine {
  private constructor(
    readonly options: EngineOptions,
    private readonly sessions: ort.InferenceSession[],
    private readonly detector: TextDetector,
    private readonly recognizer: TextRecognizer,
    private readonly renderPdf: DocumentRenderer,
  ) {}

  static async create(
    options: Partial<EngineOptions> = {},
    extras: { tensorRt?: TensorRtSettings; renderPdf?: DocumentRenderer } = {},
  ): Promise<OcrEngine> {
    const merged: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, ...options };
    const files = modelFiles(merged.modelDir);
    const [det, rec, cls] = await Promise.all([
      createSession(files.detection, merged, extras.tensorRt),
      createSession(files.recognition, merged, extras.tensorRt),
      merged.useAngleClassifier ? createSession(files.classifier, merged, extras.tensorRt) : undefined,
    ]);
    const sessions = [det, rec, ...(cls ? [cls] : [])];
    return new OcrEngine(
      merged,
      sessions,
      new TextDetector(det, merged),
      new TextRecognizer(rec, loadDictionary(files.dictionary), merged, cls),
      extras.renderPdf ??
        ((input, maxPixels, selection) => renderPdfPages(input, maxPixels, merged.pdfDpi, selection)),
    );
  }

  /** OCRs a document file (image or PDF), all its pages or the selected ones. */
  async recognize(input: Buffer, selection?: PageSelection): Promise<OcrResult> {
    const isPdf = input.subarray(0, PDF_MAGIC.length).equals(PDF_MAGIC);
    let pages: DecodedPage[];
    if (isPdf) pages = await this.renderPdf(input, this.options.maxPagePixels, selection);
    else pages = await decodeImagePages(input, this.options.maxPagePixels, selection);
    return { pages: await this.recognizePages(pages) };
  }

  /** OCRs decoded pages: detection in batches of same-sized pages, then recognition over all their lines. */
  async recognizePages(pages: readonly DecodedPage[]): Promise<PageResult[]> {
    const crops: Array<LineCrop & { page: number }> = [];
    const detected = await this.detector.detectMany(pages.map((p) => p.image));
    detected.forEach((boxes, index) => {
      for (const { box } of boxes) crops.push({ image: pages[index]!.image, box, page: index });
    });
    const read = await this.recognizer.recognize(crops);
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

  async close(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.release()));
  }
}

/** Renders the selected pages of a PDF to RGB with PDFium (`gpu-worker/src/documents`). */
export async function renderPdfPages(
  input: Uint8Array,
  maxPixels: number,
  dpi: number,
  selection?: PageSelection,
): Promise<DecodedPage[]> {
  const doc = await openPdf(input);
  try {
    const first = selection?.firstPage ?? 1;
    const last = selection ? Math.min(doc.pageCount, first + selection.pageCount - 1) : doc.pageCount;
    if (first > doc.pageCount) {
      throw new InvalidImageError(`page ${first} was asked for but the PDF has ${doc.pageCount}`);
    }
    const pages: DecodedPage[] = [];
    for (let page = first; page <= last; page++)
      pages.push({ page, image: await doc.renderPage(page - 1, { dpi, maxPixels }) });
    return pages;
  } finally {
    doc.close();
  }
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
