import { DocumentTooLargeError } from './errors.ts';

/**
 * Most pixels (width × height) a page may have: a decompression-bomb guard. The engine's
 * `maxPagePixels` defaults to it and ingest checks image headers against it, so an image the
 * worker would refuse is refused at upload from its header. 50 MP is A4 at ~720 DPI.
 */
export const DEFAULT_MAX_PAGE_PIXELS = 50_000_000;

/**
 * Largest PDF this library opens. PDFium runs as 32-bit WebAssembly whose memory stops at 2 GiB
 * (`getHeapMax` of `@hyzyla/pdfium`), and `FPDF_LoadMemDocument` needs the whole file in it,
 * beside the parsed objects and a rendered page (A4 at 200 DPI: 14 MB): half of it for the file
 * leaves the rest room. Measured: a 1.08 GB PDF (134 pages of JPEG noise) opened and counted in
 * 1.3 s at a peak RSS of 2.24 GB (the file's buffer plus its copy in WebAssembly); a 259 MB one,
 * 655 MB. Rendering at that size was not measured. Reading a PDF in blocks
 * (`FPDF_LoadCustomDocument`) would lift the limit.
 */
export const MAX_PDF_BYTES = 1024 ** 3;

/** Why a document of `sizeBytes` cannot be read whole, from its size alone; undefined if it can. */
export function documentTooLargeFor(
  contentType: string,
  sizeBytes: number,
): DocumentTooLargeError | undefined {
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (type !== 'application/pdf' || sizeBytes <= MAX_PDF_BYTES) return undefined;
  return new DocumentTooLargeError(
    `the PDF has ${sizeBytes} bytes, more than the ${MAX_PDF_BYTES} bytes PDFium can open; split it into smaller PDFs`,
    sizeBytes,
    MAX_PDF_BYTES,
  );
}
