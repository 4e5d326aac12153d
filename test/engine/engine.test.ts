import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wordPrecisionRecall } from '../../bench/metrics.ts';
import { errorFromThread, errorToThread } from '../../gpu-worker/src/ocr/errors.ts';
import { isBilevel } from '../../gpu-worker/src/ocr/image.ts';
import {
  ImageTooLargeError,
  InvalidImageError,
  OcrEngine,
  ProviderUnavailableError,
  renderPdfPages,
} from '../../gpu-worker/src/ocr/index.ts';
import type { RgbImage } from '../../gpu-worker/src/ocr/types.ts';
import {
  EncryptedDocumentError,
  InvalidDocumentError,
  PageTooLargeError,
  pdfPageCount,
} from '../../lambdas/shared/documents/index.ts';
import { countPages } from '../../lambdas/shared/documents/page-count.ts';
import { listSamples } from '../../local/samples/index.ts';
import { encryptedPdf, numberedPdf } from '../support/documents.ts';

/** The real PP-OCRv4 models on the CPU provider, on pages the project generates. */
describe('OcrEngine', () => {
  let engine: OcrEngine;
  beforeAll(async () => {
    engine = await OcrEngine.create();
  });
  afterAll(async () => {
    await engine?.close();
  });

  it.each(listSamples().map((s) => [s.name, s] as const))(
    'reads the %s sample with word recall ≥ 0.9',
    async (_, sample) => {
      const { pages } = await engine.recognize(await readFile(sample.imagePath));
      const text = pages[0]!.lines.map((l) => l.text).join('\n');
      const { recall, precision } = wordPrecisionRecall(text, await readFile(sample.groundTruthPath, 'utf8'));
      expect(recall).toBeGreaterThanOrEqual(0.9);
      expect(precision).toBeGreaterThanOrEqual(0.85);
      for (const line of pages[0]!.lines) {
        expect(line.words?.map((w) => w.text).join(' ')).toBe(line.text);
        for (const word of line.words ?? []) expect(word.box).toHaveLength(4);
      }
    },
  );

  it('gives the same text whether pages are recognised together or one by one', async () => {
    const pdf = await numberedPdf(3);
    const together = await engine.recognize(pdf);
    const oneByOne = [];
    for (let page = 1; page <= 3; page++)
      oneByOne.push(...(await engine.recognize(pdf, { firstPage: page, pageCount: 1 })).pages);
    expect(together.pages.map((p) => p.page)).toEqual([1, 2, 3]);
    expect(oneByOne.map((p) => p.lines.map((l) => l.text))).toEqual(
      together.pages.map((p) => p.lines.map((l) => l.text)),
    );
    expect(together.pages[1]!.lines[0]!.text).toBe('Page 2 of the report');
  });

  it('batches documents given while it is busy, and reads each as it reads it alone', async () => {
    const pdfs = await Promise.all([1, 2, 3].map((n) => numberedPdf(n)));
    const alone = [];
    for (const pdf of pdfs) alone.push(await engine.recognize(pdf));
    const together = await Promise.all(pdfs.map((pdf) => engine.recognize(pdf)));
    expect(together.map((r) => r.pages.map((p) => p.lines.map((l) => l.text)))).toEqual(
      alone.map((r) => r.pages.map((p) => p.lines.map((l) => l.text))),
    );
    expect(together[2]!.pages.map((p) => p.page)).toEqual([1, 2, 3]);
  });

  it('reads a page exactly as it reads it alone, whatever else shares its recognition batches', async () => {
    // The samples' lines span many widths: recognised in one call, each width's lines from both
    // pages share runs; with mixed widths most lines would be padded to a wider neighbour, which
    // moves confidences and sometimes characters.
    const pages = [];
    for (const sample of listSamples())
      pages.push(...(await engine.decode(await readFile(sample.imagePath))));
    const alone = [];
    for (const page of pages) alone.push(...(await engine.recognizePages([page])));
    expect(alone.map((p) => p.lines.length)).toEqual([expect.any(Number), expect.any(Number)]);
    expect(await engine.recognizePages(pages)).toEqual(alone);
  });

  it('reads the same with recognition batches padded to full rows (the GPU setting)', async () => {
    const padded = await OcrEngine.create({ recPadBatch: true, threads: 1 });
    try {
      const [sample] = listSamples();
      const input = await readFile(sample!.imagePath);
      const text = (r: Awaited<ReturnType<OcrEngine['recognize']>>) => r.pages[0]!.lines.map((l) => l.text);
      expect(text(await padded.recognize(input))).toEqual(text(await engine.recognize(input)));
    } finally {
      await padded.close();
    }
  });

  it('refuses an encrypted PDF, a truncated one and garbage with typed permanent errors', async () => {
    await expect(engine.recognize(Buffer.from(encryptedPdf()))).rejects.toBeInstanceOf(
      EncryptedDocumentError,
    );
    const pdf = await numberedPdf(2);
    await expect(engine.recognize(pdf.subarray(0, 400))).rejects.toBeInstanceOf(InvalidDocumentError);
    await expect(engine.recognize(Buffer.from('%PDF-garbage'))).rejects.toMatchObject({ permanent: true });
  });

  it('renders PDF pages on an engine thread into shared memory, errors still typed', async () => {
    const pdf = await numberedPdf(40);
    const [page] = await engine.decode(pdf, { firstPage: 40, pageCount: 1 });
    expect(page!.page).toBe(40);
    expect(page!.image.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect([page!.image.width, page!.image.height]).toEqual([1654, 2339]);
    await expect(engine.decode(pdf, { firstPage: 41, pageCount: 1 })).rejects.toBeInstanceOf(
      InvalidImageError,
    );
  });
});

describe('bilevel pages beside int8 recognition', () => {
  const rgb = (values: number[]): RgbImage => ({
    data: Uint8Array.from(values.flatMap((v) => [v, v, v])),
    width: values.length,
    height: 1,
  });

  it('are told apart: only black and white pixels', () => {
    expect(isBilevel(rgb([0, 255, 255, 0]))).toBe(true);
    expect(isBilevel(rgb([0, 255, 254, 0]))).toBe(false);
    expect(isBilevel({ data: Uint8Array.of(255, 0, 0), width: 1, height: 1 })).toBe(false);
    expect(isBilevel(rgb([]))).toBe(false);
  });

  it('are detected and read by the float models, the other pages of the batch in int8', async () => {
    const [sample] = listSamples();
    const input = await readFile(sample!.imagePath);
    const binarised = await sharp(input).greyscale().threshold(128).png().toBuffer();
    const int8 = await OcrEngine.create({ recPrecision: 'int8', detPrecision: 'int8', threads: 1 });
    const int8Only = await OcrEngine.create({
      recPrecision: 'int8',
      detPrecision: 'int8',
      bilevelFloat: false,
      threads: 1,
    });
    const fp32 = await OcrEngine.create({ recPrecision: 'fp32', detPrecision: 'fp32', threads: 1 });
    try {
      const pages = [...(await int8.decode(input)), ...(await int8.decode(binarised))];
      expect(pages.map((p) => isBilevel(p.image))).toEqual([false, true]);
      const [grey, bilevel] = await int8.recognizePages(pages);
      expect(bilevel!.lines.length).toBeGreaterThan(5);
      expect(bilevel).toEqual((await fp32.recognizePages([pages[1]!]))[0]);
      expect(grey).toEqual((await int8Only.recognizePages([pages[0]!]))[0]);
      expect((await int8Only.recognizePages([pages[1]!]))[0]).not.toEqual(bilevel);
    } finally {
      await Promise.all([int8.close(), int8Only.close(), fp32.close()]);
    }
  });
});

describe('int8 detection', () => {
  it('finds the lines float detection finds, each corner within 3 px, and reads them as well', async () => {
    const int8 = await OcrEngine.create({ detPrecision: 'int8', threads: 1 });
    const fp32 = await OcrEngine.create({ detPrecision: 'fp32', threads: 1 });
    try {
      expect([int8.detPrecision, fp32.detPrecision]).toEqual(['int8', 'fp32']);
      for (const sample of listSamples()) {
        const input = await readFile(sample.imagePath);
        const truth = await readFile(sample.groundTruthPath, 'utf8');
        const [a, b] = [(await int8.recognize(input)).pages[0]!, (await fp32.recognize(input)).pages[0]!];
        expect(a.lines).toHaveLength(b.lines.length);
        for (const [i, line] of a.lines.entries()) {
          for (const [k, [x, y]] of line.box.entries()) {
            const [fx, fy] = b.lines[i]!.box[k]!;
            expect(Math.max(Math.abs(x - fx), Math.abs(y - fy))).toBeLessThanOrEqual(3);
          }
        }
        // A box a pixel off can change a character of its line; the words found stay as many.
        const recall = (p: typeof a) =>
          wordPrecisionRecall(p.lines.map((l) => l.text).join('\n'), truth).recall;
        expect(recall(a)).toBeGreaterThanOrEqual(recall(b) - 0.05);
      }
    } finally {
      await Promise.all([int8.close(), fp32.close()]);
    }
  });
});

describe('errors from engine threads', () => {
  it('come back as the classes and fields they left as', () => {
    const errors = [
      new EncryptedDocumentError('locked'),
      new InvalidDocumentError('truncated'),
      new PageTooLargeError('too big', 20_000, 30_000, 50_000_000),
      new ImageTooLargeError('bomb'),
      new InvalidImageError('not an image'),
      new ProviderUnavailableError('no cuda'),
    ];
    for (const error of errors) {
      const back = errorFromThread(structuredClone(errorToThread(error)));
      expect(back).toBeInstanceOf(error.constructor);
      expect(back).toMatchObject({ ...error, message: error.message });
    }
    expect(errorFromThread(errorToThread(new TypeError('bug')))).toMatchObject({ message: 'bug' });
  });
});

describe('execution providers', () => {
  it('fails at start, naming the provider, when a GPU provider cannot load (no silent fallback)', async () => {
    const started = OcrEngine.create({ executionProviders: ['cuda', 'cpu'], threads: 1 });
    await expect(started).rejects.toBeInstanceOf(ProviderUnavailableError);
    await expect(started).rejects.toThrow(/cuda/);
  });
});

describe('PDF pages', () => {
  it('renders A4 at 200 DPI and counts pages the same way ingest does', async () => {
    const pdf = await numberedPdf(40);
    expect(await pdfPageCount(pdf)).toBe(40);
    expect(await countPages(pdf, 'application/pdf')).toBe(40);
    const [page] = await renderPdfPages(pdf, 50_000_000, 200, { firstPage: 40, pageCount: 1 });
    expect(page!.page).toBe(40);
    expect([page!.image.width, page!.image.height]).toEqual([1654, 2339]);
    await expect(renderPdfPages(pdf, 1_000_000, 200)).rejects.toMatchObject({ code: 'PAGE_TOO_LARGE' });
  });
});
