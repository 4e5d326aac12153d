import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import {
  type Textract,
  type TextractCompletion,
  type TextractCompletions,
  TextractJobFailedError,
  type TextractPage,
  textractPage,
} from '../../../lambdas/shared/adapters/textract.ts';
import { openPdf, pixelSize } from '../../../lambdas/shared/documents/pdf.ts';
import { withLibvips } from '../ocr/image.ts';
import type { DecodedPage, PageSelection, RgbImage } from '../ocr/index.ts';
import { mapWithLimit } from './map-with-limit.ts';

/** Decodes a document's pages (the OCR engine's decoder: images with sharp, PDFs with PDFium). */
export type PageDecoder = (input: Buffer, selection: PageSelection) => Promise<DecodedPage[]>;

export interface TextractRecognizerOptions {
  /** Resolution PDF pages are rendered at: Textract's boxes are scaled to the same pixels. */
  pdfDpi: number;
  /** Status reads while waiting for an asynchronous detection: the net under a lost notification. */
  statusPollMs: number;
  /** How long an asynchronous detection may take before the chunk is tried again. */
  timeoutMs: number;
  /** Synchronous calls in flight at once for one chunk (Textract's TPS quota is per account). */
  concurrency: number;
}

export const DEFAULT_TEXTRACT_RECOGNIZER_OPTIONS: TextractRecognizerOptions = {
  pdfDpi: 200,
  statusPollMs: 60_000,
  timeoutMs: 30 * 60_000,
  concurrency: 2,
};

/** A chunk of a stored document for Textract. */
export interface TextractChunk {
  input: Buffer;
  inputKey: string;
  contentType: string;
  selection: PageSelection;
  /** Pages in the whole document (an asynchronous detection reads all of them). */
  totalPages: number;
  /** Makes a repeated start of the same detection return the same Textract job. */
  token: string;
}

/**
 * The worker's Textract engine, over the adapter: pages in the result format, boxes in the same
 * pixels PP-OCR's would have (an image's own, a PDF page's at the worker's DPI).
 * - One page, or a document whose pages cannot be sent as a whole (no completion channel, as in
 *   the local stack, whose documents live in the emulator): each page decoded and sent as a JPEG
 *   to DetectDocumentText.
 * - A multi-page PDF or TIFF with a completion channel: one StartDocumentTextDetection from the S3
 *   object; the worker waits for the completion on the shared queue ({@link TextractCompletions}),
 *   reading the job's status every `statusPollMs` as well, then takes the chunk's pages.
 */
export class TextractRecognizer {
  private readonly options: TextractRecognizerOptions;

  constructor(
    private readonly textract: Textract,
    private readonly completions: TextractCompletions | undefined,
    options: Partial<TextractRecognizerOptions> = {},
  ) {
    this.options = { ...DEFAULT_TEXTRACT_RECOGNIZER_OPTIONS, ...options };
    // Without a completion queue only status reads tell when a detection ends: read often.
    if (!completions && options.statusPollMs === undefined) this.options.statusPollMs = 5_000;
  }

  /** One decoded page through DetectDocumentText. */
  async recognizeImage(image: RgbImage, page: number): Promise<TextractPage> {
    const jpeg = await withLibvips(() =>
      sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
        .jpeg({ quality: 90 })
        .toBuffer(),
    );
    const blocks = await this.textract.detect(jpeg);
    return textractPage(blocks, page, { width: image.width, height: image.height });
  }

  async recognizeDocument(chunk: TextractChunk, decode: PageDecoder): Promise<TextractPage[]> {
    const multiPage = chunk.contentType === 'application/pdf' || chunk.contentType === 'image/tiff';
    if (multiPage && chunk.totalPages > 1 && this.textract.canStartJobs) return this.detectAsync(chunk);
    const pages = await decode(chunk.input, chunk.selection);
    return mapWithLimit(pages, this.options.concurrency, (page) =>
      this.recognizeImage(page.image, page.page),
    );
  }

  private async detectAsync(chunk: TextractChunk): Promise<TextractPage[]> {
    const jobId = await this.textract.start(chunk.inputKey, chunk.totalPages, chunk.token);
    const completion = await this.waitFor(jobId);
    if (completion.status === 'FAILED')
      throw new TextractJobFailedError(
        `Textract job ${jobId} failed: ${completion.message ?? 'no reason given'}`,
      );
    const detection = await this.textract.results(jobId);
    const sizes = await this.pageSizes(chunk);
    const { firstPage, pageCount } = chunk.selection;
    return Array.from({ length: pageCount }, (_, i) => {
      const page = firstPage + i;
      return textractPage(detection.blocks.get(page) ?? [], page, sizes[i]!);
    });
  }

  private async waitFor(jobId: string): Promise<TextractCompletion> {
    const deadline = Date.now() + this.options.timeoutMs;
    const waiter = this.completions?.wait(jobId);
    try {
      for (;;) {
        const pause = sleep(this.options.statusPollMs, undefined, { ref: false });
        const notified = await (waiter ? Promise.race([waiter.completion, pause]) : pause);
        if (notified) return notified;
        const status = await this.textract.status(jobId);
        if (status) return status;
        if (Date.now() > deadline)
          throw new TextractJobFailedError(
            `Textract job ${jobId} did not finish within ${Math.round(this.options.timeoutMs / 1000)} s`,
          );
      }
    } finally {
      waiter?.cancel();
    }
  }

  /** The chunk's page sizes in pixels, as the OCR engine would decode them, without decoding. */
  private async pageSizes(chunk: TextractChunk): Promise<Array<{ width: number; height: number }>> {
    const { firstPage, pageCount } = chunk.selection;
    const indexes = Array.from({ length: pageCount }, (_, i) => firstPage - 1 + i);
    if (chunk.contentType === 'application/pdf') {
      const doc = await openPdf(chunk.input);
      try {
        return indexes.map((index) => pixelSize(doc.pageSize(index), this.options.pdfDpi));
      } finally {
        doc.close();
      }
    }
    return Promise.all(
      indexes.map(async (page) => {
        const meta = await withLibvips(() =>
          sharp(chunk.input, { page, limitInputPixels: false }).metadata(),
        );
        return { width: meta.width ?? 1, height: meta.height ?? 1 };
      }),
    );
  }
}
