import { InvalidDocumentError } from './errors.ts';
import { type PdfiumBindings, pdfium } from './pdfium.ts';

/** PDFium's text API (fpdf_text.h), which the `@hyzyla/pdfium` build exports beside the rest. */
interface PdfiumTextBindings extends PdfiumBindings {
  _FPDFText_LoadPage(page: number): number;
  _FPDFText_ClosePage(textPage: number): void;
  _FPDFText_CountChars(textPage: number): number;
  /** Writes `count` UTF-16LE code units and a terminator at `buffer`; returns the units written. */
  _FPDFText_GetText(textPage: number, start: number, count: number, buffer: number): number;
  /** The text inside a rectangle of user space; with no buffer, how many UTF-16 units it has. */
  _FPDFText_GetBoundedText(
    textPage: number,
    left: number,
    top: number,
    right: number,
    bottom: number,
    buffer: number,
    length: number,
  ): number;
}

/** A rectangle in a page's user space (points, y up), as PDFium's text API takes it. */
export interface PdfRect {
  left: number;
  bottom: number;
  right: number;
  top: number;
}

/**
 * The text PDFium extracts from each page of a PDF, as a viewer's copy or search sees it: what
 * the searchable PDF output (`gpu-worker/src/outputs/searchable-pdf.ts`) is checked against, and
 * a way to tell a born-digital PDF from a scan. `@hyzyla/pdfium` exports fpdf_text's functions;
 * its wrapper's `getText()` is not used for the reasons in `pdfium.ts`, so they are called here
 * through the C API like the rest.
 */
export function pdfPageTexts(bytes: Uint8Array): Promise<string[]> {
  return withTextPages(bytes, (lib, textPage) => {
    const count = lib._FPDFText_CountChars(textPage);
    return readUtf16(lib, count + 1, (buffer) => lib._FPDFText_GetText(textPage, 0, count, buffer) - 1);
  });
}

/** The text PDFium finds inside `rect` on page `pageIndex` (0-based): where a word was placed. */
export async function pdfTextInRect(bytes: Uint8Array, pageIndex: number, rect: PdfRect): Promise<string> {
  const texts = await withTextPages(bytes, (lib, textPage, index) => {
    if (index !== pageIndex) return '';
    const { left, top, right, bottom } = rect;
    const units = lib._FPDFText_GetBoundedText(textPage, left, top, right, bottom, 0, 0);
    return readUtf16(lib, units + 1, (buffer) =>
      lib._FPDFText_GetBoundedText(textPage, left, top, right, bottom, buffer, units + 1),
    );
  });
  return texts[pageIndex] ?? '';
}

/** `read` fills a buffer of `capacity` UTF-16 units and returns how many of them are text. */
function readUtf16(lib: PdfiumTextBindings, capacity: number, read: (buffer: number) => number): string {
  const buffer = lib.wasmExports.malloc(capacity * 2);
  try {
    const units = Math.max(0, Math.min(capacity, read(buffer)));
    // A terminating NUL may be counted (GetBoundedText counts it when there is room for it).
    return Buffer.from(lib.HEAPU8.subarray(buffer, buffer + units * 2))
      .toString('utf16le')
      .replace(/\0+$/, '');
  } finally {
    lib.wasmExports.free(buffer);
  }
}

/** Opens the PDF and hands each page's text page to `each`, closing everything after. */
async function withTextPages<T>(
  bytes: Uint8Array,
  each: (lib: PdfiumTextBindings, textPage: number, index: number) => T,
): Promise<T[]> {
  const lib = (await pdfium()) as PdfiumTextBindings;
  if (typeof lib._FPDFText_LoadPage !== 'function')
    throw new Error('this @hyzyla/pdfium build does not export the fpdf_text functions');
  const data = lib.wasmExports.malloc(Math.max(1, bytes.byteLength));
  lib.HEAPU8.set(bytes, data);
  const doc = lib._FPDF_LoadMemDocument(data, bytes.byteLength, 0);
  if (!doc) {
    lib.wasmExports.free(data);
    throw new InvalidDocumentError(`PDFium could not open the PDF (error ${lib._FPDF_GetLastError()})`);
  }
  try {
    const results: T[] = [];
    for (let index = 0; index < lib._FPDF_GetPageCount(doc); index++) {
      const page = lib._FPDF_LoadPage(doc, index);
      if (!page) throw new InvalidDocumentError(`PDFium could not load page ${index + 1}`);
      const textPage = lib._FPDFText_LoadPage(page);
      try {
        results.push(each(lib, textPage, index));
      } finally {
        lib._FPDFText_ClosePage(textPage);
        lib._FPDF_ClosePage(page);
      }
    }
    return results;
  } finally {
    lib._FPDF_CloseDocument(doc);
    lib.wasmExports.free(data);
  }
}
