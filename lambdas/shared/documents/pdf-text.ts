import { InvalidDocumentError } from './errors.ts';
import { type PdfiumBindings, pdfium } from './pdfium.ts';

/** PDFium's text API (fpdf_text.h), which the `@hyzyla/pdfium` build exports beside the rest. */
interface PdfiumTextBindings extends PdfiumBindings {
  _FPDFText_LoadPage(page: number): number;
  _FPDFText_ClosePage(textPage: number): void;
  _FPDFText_CountChars(textPage: number): number;
  /** Writes `count` UTF-16LE code units and a terminator at `buffer`; returns the units written. */
  _FPDFText_GetText(textPage: number, start: number, count: number, buffer: number): number;
}

/**
 * The text PDFium extracts from each page of a PDF, as a viewer's copy or search sees it: what
 * the searchable PDF output (`gpu-worker/src/outputs/searchable-pdf.ts`) is checked against, and
 * a way to tell a born-digital PDF from a scan. `@hyzyla/pdfium` exports fpdf_text's functions;
 * its wrapper's `getText()` is not used for the reasons in `pdfium.ts`, so they are called here
 * through the C API like the rest.
 */
export async function pdfPageTexts(bytes: Uint8Array): Promise<string[]> {
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
    const texts: string[] = [];
    for (let index = 0; index < lib._FPDF_GetPageCount(doc); index++) {
      const page = lib._FPDF_LoadPage(doc, index);
      if (!page) throw new InvalidDocumentError(`PDFium could not load page ${index + 1}`);
      const textPage = lib._FPDFText_LoadPage(page);
      try {
        const count = lib._FPDFText_CountChars(textPage);
        const buffer = lib.wasmExports.malloc((count + 1) * 2);
        try {
          const written = lib._FPDFText_GetText(textPage, 0, count, buffer);
          const units = Math.max(0, written - 1);
          texts.push(Buffer.from(lib.HEAPU8.subarray(buffer, buffer + units * 2)).toString('utf16le'));
        } finally {
          lib.wasmExports.free(buffer);
        }
      } finally {
        lib._FPDFText_ClosePage(textPage);
        lib._FPDF_ClosePage(page);
      }
    }
    return texts;
  } finally {
    lib._FPDF_CloseDocument(doc);
    lib.wasmExports.free(data);
  }
}
