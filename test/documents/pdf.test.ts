import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_PDF_DPI,
  EncryptedDocumentError,
  InvalidDocumentError,
  initPdfium,
  locatePdfiumWasm,
  openPdf,
  PageTooLargeError,
  pdfPageCount,
  pixelSize,
  type RenderedPage,
} from '../../lambdas/shared/documents/index.ts';
import { discardPdfium } from '../../lambdas/shared/documents/pdfium.ts';
import {
  A4,
  encryptedPdf,
  garbage,
  numberedPdf,
  PAGE_NUMBER,
  pageLabelWidth,
  rc4EncryptedPdf,
  sizedPdf,
  TEXT_LINE,
  textPdf,
} from '../support/documents.ts';

const MAX_PIXELS = 50_000_000;
const DARK = 96;

/** Dark pixels (all channels below {@link DARK}) in a rectangle of a rendered page. */
function darkPixels(page: RenderedPage, box: { x0: number; y0: number; x1: number; y1: number }): number {
  let dark = 0;
  for (let y = Math.max(0, box.y0); y < Math.min(page.height, box.y1); y++) {
    for (let x = Math.max(0, box.x0); x < Math.min(page.width, box.x1); x++) {
      const i = (y * page.width + x) * 3;
      if (page.data[i]! < DARK && page.data[i + 1]! < DARK && page.data[i + 2]! < DARK) dark++;
    }
  }
  return dark;
}

/** The right-most column holding a dark pixel between two rows, or -1. */
function rightEdge(page: RenderedPage, y0: number, y1: number): number {
  for (let x = page.width - 1; x >= 0; x--) {
    for (let y = y0; y < y1; y++) {
      const i = (y * page.width + x) * 3;
      if (page.data[i]! < DARK) return x;
    }
  }
  return -1;
}

const px = (points: number, dpi = DEFAULT_PDF_DPI) => Math.round((points * dpi) / 72);

describe('openPdf / renderPage', () => {
  let numbered: Buffer;
  beforeAll(async () => {
    await initPdfium();
    numbered = await numberedPdf(40, { layout: 'label' });
  });

  it('renders an A4 page at 200 DPI to 1654×2339 RGB with dark pixels where the text is', async () => {
    const doc = await openPdf(await textPdf());
    try {
      expect(doc.pageCount).toBe(1);
      expect(doc.pageSize(0).width).toBeCloseTo(A4.width, 2);
      const page = await doc.renderPage(0, { dpi: DEFAULT_PDF_DPI, maxPixels: MAX_PIXELS });
      expect([page.width, page.height]).toEqual([1654, 2339]);
      expect(page.data).toBeInstanceOf(Uint8Array);
      expect(page.data.length).toBe(1654 * 2339 * 3);
      // The line's band: from the baseline up by the font size, and a little below for descenders.
      const top = px(A4.height - TEXT_LINE.baseline - TEXT_LINE.size);
      const bottom = px(A4.height - TEXT_LINE.baseline + TEXT_LINE.size * 0.25);
      const text = darkPixels(page, { x0: px(TEXT_LINE.x), y0: top, x1: px(A4.width), y1: bottom });
      expect(text).toBeGreaterThan(5_000);
      expect(darkPixels(page, { x0: 0, y0: 0, x1: page.width, y1: top - 5 })).toBe(0);
      expect(darkPixels(page, { x0: 0, y0: bottom + 5, x1: page.width, y1: page.height })).toBe(0);
      expect(darkPixels(page, { x0: 0, y0: top, x1: px(TEXT_LINE.x) - 5, y1: bottom })).toBe(0);
      // White paper: the first pixel is pure white in all three channels.
      expect([...page.data.subarray(0, 3)]).toEqual([255, 255, 255]);
    } finally {
      doc.close();
    }
  });

  it('counts 40 pages and renders the ones asked for, in order', async () => {
    expect(await pdfPageCount(numbered)).toBe(40);
    const doc = await openPdf(numbered);
    try {
      expect(doc.pageCount).toBe(40);
      const y0 = px(A4.height - PAGE_NUMBER.baseline - PAGE_NUMBER.size);
      const y1 = px(A4.height - PAGE_NUMBER.baseline + 10);
      const edges: number[] = [];
      for (const index of [0, 9, 39]) {
        const page = await doc.renderPage(index, { dpi: DEFAULT_PDF_DPI, maxPixels: MAX_PIXELS });
        // Each label ends where its advance width says, give or take a digit's side bearing
        // (a digit is ~185 px wide here): one-digit pages end a digit before two-digit ones.
        const expected = px(PAGE_NUMBER.x + (await pageLabelWidth(index + 1)));
        edges.push(rightEdge(page, y0, y1));
        expect(Math.abs(edges.at(-1)! - expected)).toBeLessThan(60);
      }
      expect(edges[1]! - edges[0]!).toBeGreaterThan(150);
      await expect(doc.renderPage(40, { dpi: 72, maxPixels: MAX_PIXELS })).rejects.toBeInstanceOf(RangeError);
    } finally {
      doc.close();
    }
  });

  it('scales with the DPI asked for', async () => {
    const doc = await openPdf(await textPdf());
    try {
      const page = await doc.renderPage(0, { dpi: 72, maxPixels: MAX_PIXELS });
      expect([page.width, page.height]).toEqual([595, 842]);
      expect(pixelSize(doc.pageSize(0), 300)).toEqual({ width: 2480, height: 3508 });
    } finally {
      doc.close();
    }
  });

  it('refuses a page too large for maxPixels from its size alone, without allocating it', async () => {
    const lib = await initPdfium();
    const doc = await openPdf(await sizedPdf(14_400, 14_400));
    try {
      const heapBefore = lib.HEAPU8.byteLength;
      const started = performance.now();
      const refused = await doc.renderPage(0, { dpi: 600, maxPixels: MAX_PIXELS }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(PageTooLargeError);
      expect(refused).toMatchObject({
        code: 'PAGE_TOO_LARGE',
        permanent: true,
        width: 120_000,
        height: 120_000,
      });
      expect(performance.now() - started).toBeLessThan(200);
      // 120,000² RGB would be 43 GB; the WebAssembly heap did not even grow.
      expect(lib.HEAPU8.byteLength).toBe(heapBefore);
    } finally {
      doc.close();
    }
    // A4 at 200 DPI fits a limit of exactly its pixels, and not one pixel less.
    const a4 = await openPdf(await textPdf());
    try {
      await expect(a4.renderPage(0, { dpi: 200, maxPixels: 1654 * 2339 - 1 })).rejects.toBeInstanceOf(
        PageTooLargeError,
      );
      await expect(a4.renderPage(0, { dpi: 200, maxPixels: 1654 * 2339 })).resolves.toMatchObject({
        width: 1654,
      });
    } finally {
      a4.close();
    }
  });

  it('refuses PDFs that need a password with EncryptedDocumentError', async () => {
    for (const bytes of [encryptedPdf(), rc4EncryptedPdf('secret')]) {
      const error = await openPdf(bytes).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EncryptedDocumentError);
      expect(error).toMatchObject({ code: 'DOCUMENT_ENCRYPTED', permanent: true });
    }
  });

  it('reads an encrypted PDF with only an owner password, as every reader does', async () => {
    const doc = await openPdf(rc4EncryptedPdf(''));
    try {
      const page = await doc.renderPage(0, { dpi: DEFAULT_PDF_DPI, maxPixels: MAX_PIXELS });
      const top = px(A4.height - TEXT_LINE.baseline - TEXT_LINE.size);
      const bottom = px(A4.height - TEXT_LINE.baseline + TEXT_LINE.size * 0.25);
      expect(darkPixels(page, { x0: 0, y0: top, x1: page.width, y1: bottom })).toBeGreaterThan(5_000);
    } finally {
      doc.close();
    }
  });

  it('refuses zero bytes, garbage and truncated files with InvalidDocumentError', async () => {
    const classic = await numberedPdf(5, { objectStreams: false });
    const inputs: Uint8Array[] = [
      new Uint8Array(0),
      garbage(4096),
      new TextEncoder().encode('%PDF-1.7\n'),
      new TextEncoder().encode('%PDF-garbage'),
      Uint8Array.from([...new TextEncoder().encode('%PDF-1.4\n'), ...garbage(2000, 7)]),
    ];
    for (const bytes of [numbered, classic]) {
      for (const fraction of [0.02, 0.25, 0.5, 0.75, 0.95]) {
        inputs.push(bytes.subarray(0, Math.floor(bytes.length * fraction)));
      }
    }
    for (const bytes of inputs) {
      const error = await openPdf(bytes).catch((e: unknown) => e);
      expect(error, `${bytes.length} bytes`).toBeInstanceOf(InvalidDocumentError);
      expect(error).toMatchObject({ code: 'DOCUMENT_INVALID', permanent: true });
    }
  });

  it('never crashes or hangs on damaged PDFs: each opens and renders, or fails with a typed error', async () => {
    const source = await numberedPdf(3, { objectStreams: false });
    let opened = 0;
    for (let round = 0; round < 60; round++) {
      const bytes = Uint8Array.from(source);
      const noise = garbage(16, round + 1);
      for (let k = 0; k < 8; k++) {
        const at = ((noise[k * 2]! << 8) | noise[k * 2 + 1]!) % bytes.length;
        bytes[at] = noise[(k + 5) % 16]!;
      }
      try {
        const doc = await openPdf(bytes);
        try {
          const page = await doc.renderPage(doc.pageCount - 1, { dpi: 36, maxPixels: MAX_PIXELS });
          expect(page.data.length).toBe(page.width * page.height * 3);
          opened++;
        } finally {
          doc.close();
        }
      } catch (error) {
        expect(error).toMatchObject({ permanent: true });
      }
    }
    expect(opened).toBeGreaterThan(0);
    // The shared instance still works afterwards.
    expect(await pdfPageCount(numbered)).toBe(40);
  });

  it('shares one PDFium instance, and replaces one that trapped', async () => {
    const first = await initPdfium();
    expect(await initPdfium()).toBe(first);
    const open = await openPdf(await textPdf());
    discardPdfium(first);
    const second = await initPdfium();
    expect(second).not.toBe(first);
    expect(await pdfPageCount(numbered)).toBe(40);
    // A document opened before keeps its own instance until closed.
    expect(open.pageSize(0).height).toBeCloseTo(A4.height, 2);
    open.close();
  });

  it('finds pdfium.wasm in the installed package unless told where it is', () => {
    expect(locatePdfiumWasm()).toMatch(/@hyzyla[/\\]pdfium[/\\]dist[/\\]pdfium\.wasm$/);
    expect(locatePdfiumWasm('/opt/pdfium.wasm')).toBe('/opt/pdfium.wasm');
  });

  it('rejects use after close and bad options', async () => {
    const doc = await openPdf(await textPdf());
    await expect(doc.renderPage(0, { dpi: 0, maxPixels: MAX_PIXELS })).rejects.toBeInstanceOf(RangeError);
    await expect(doc.renderPage(0, { dpi: 200, maxPixels: 0 })).rejects.toBeInstanceOf(RangeError);
    doc.close();
    doc.close();
    expect(() => doc.pageSize(0)).toThrow(/closed/);
  });
});
