import { EncryptedDocumentError, InvalidDocumentError, PageTooLargeError } from './errors.ts';
import { documentTooLargeFor } from './limits.ts';
import { discardPdfium, type PdfiumBindings, pdfium } from './pdfium.ts';

/**
 * PDF pages to RGB for the OCR engine, with PDFium (WebAssembly, see `pdfium.ts`).
 *
 * Measured on this project's 2-core machine (shared, so ranges over three runs): open + render
 * an A4 page at 200 DPI (1654×2339) to RGB + close, warm median; start-up; RSS growth.
 * - PDFium, `@hyzyla/pdfium` (chosen): text page 35–40 ms, scanned page (300 DPI JPEG)
 *   165–220 ms; start-up 45–70 ms; +140–160 MB; 11 MB installed (4 MB of it the wasm).
 * - PDFium, `@embedpdf/pdfium`: 34–40 ms, 185–230 ms; 45–70 ms; +130–160 MB; 7 MB installed.
 * - pdf.js 5.6 + `@napi-rs/canvas` 1.1: 95–230 ms, 380–610 ms; 130–400 ms; +300 MB; 73 MB +
 *   a 35 MB native binary per platform.
 * Rendering 24-bit with PDFium's reverse byte order yields RGB directly: no conversion pass.
 */

/** The resolution PDF pages are rendered at unless configured otherwise. */
export const DEFAULT_PDF_DPI = 200;

const POINTS_PER_INCH = 72;
/** FPDFBitmap_BGR: 3 bytes per pixel; with FPDF_REVERSE_BYTE_ORDER PDFium writes them as RGB. */
const BITMAP_BGR = 2;
const RENDER_ANNOTATIONS = 0x01;
const RENDER_REVERSE_BYTE_ORDER = 0x10;
const WHITE = 0xffffffff;
/** FPDF_GetLastError codes for documents PDFium cannot open without a password. */
const ERR_PASSWORD = 4;
const ERR_SECURITY = 5;

/** A rendered page: RGB, 3 bytes per pixel, row-major, no padding (an `RgbImage` for the engine). */
export interface RenderedPage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface RenderOptions {
  /** Resolution in dots per inch; {@link DEFAULT_PDF_DPI} is the pipeline's. */
  dpi: number;
  /** Most pixels (width × height) a page may have at `dpi`; beyond it {@link PageTooLargeError}. */
  maxPixels: number;
}

/** A page's size in points (1/72 inch), after its /Rotate. */
export interface PageSize {
  width: number;
  height: number;
}

/** An open PDF. Pages are 0-based here; close it when done (it holds WebAssembly memory). */
export interface PdfDocument {
  readonly pageCount: number;
  pageSize(pageIndex: number): PageSize;
  /**
   * Renders one page on white. Throws {@link PageTooLargeError} from the page's size alone,
   * before loading or drawing it, when it would exceed `maxPixels`.
   */
  renderPage(pageIndex: number, options: RenderOptions): Promise<RenderedPage>;
  close(): void;
}

/**
 * Opens a PDF held in memory (the bytes are copied; the caller may reuse them).
 *
 * @throws {InvalidDocumentError} empty, corrupt, truncated or not a PDF, or no pages
 * @throws {EncryptedDocumentError} password protected
 *
 * @example
 * const doc = await openPdf(bytes);
 * try {
 *   for (let i = 0; i < doc.pageCount; i++) {
 *     const page = await doc.renderPage(i, { dpi: DEFAULT_PDF_DPI, maxPixels: 40_000_000 });
 *     // page.data is RGB, page.width × page.height
 *   }
 * } finally {
 *   doc.close();
 * }
 */
export async function openPdf(bytes: Uint8Array): Promise<PdfDocument> {
  if (bytes.byteLength === 0) throw new InvalidDocumentError('the PDF is empty (zero bytes)');
  const tooLarge = documentTooLargeFor('application/pdf', bytes.byteLength);
  if (tooLarge) throw tooLarge;
  const lib = await pdfium();
  return guard(lib, () => PdfiumDocument.open(lib, bytes));
}

/** Pages in a PDF, by the same parser that renders them. */
export async function pdfPageCount(bytes: Uint8Array): Promise<number> {
  const doc = await openPdf(bytes);
  try {
    return doc.pageCount;
  } finally {
    doc.close();
  }
}

/** A page's size in pixels at `dpi` (at least 1×1). */
export function pixelSize(size: PageSize, dpi: number): { width: number; height: number } {
  const scale = dpi / POINTS_PER_INCH;
  return {
    width: Math.max(1, Math.round(size.width * scale)),
    height: Math.max(1, Math.round(size.height * scale)),
  };
}

/** `WebAssembly.RuntimeError`, which this project's TypeScript libraries (no DOM) do not declare. */
const WasmRuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: new () => Error } })
  .WebAssembly.RuntimeError;

/** Documents whose owner forgot `close()`: their WebAssembly memory is freed after GC. */
const leaked = new FinalizationRegistry<{ lib: PdfiumBindings; handle: number; data: number }>((held) => {
  try {
    held.lib._FPDF_CloseDocument(held.handle);
    held.lib.wasmExports.free(held.data);
  } catch {
    // the instance trapped and was discarded since: nothing left to free
  }
});

class PdfiumDocument implements PdfDocument {
  private closed = false;

  private constructor(
    private readonly lib: PdfiumBindings,
    private readonly handle: number,
    /** The document's bytes in WebAssembly memory: PDFium reads them until the document closes. */
    private readonly data: number,
    readonly pageCount: number,
  ) {
    leaked.register(this, { lib, handle, data }, this);
  }

  static open(lib: PdfiumBindings, bytes: Uint8Array): PdfiumDocument {
    const data = allocate(lib, bytes.byteLength);
    lib.HEAPU8.set(bytes, data);
    const handle = lib._FPDF_LoadMemDocument(data, bytes.byteLength, 0);
    if (!handle) {
      const code = lib._FPDF_GetLastError();
      lib.wasmExports.free(data);
      throw openError(code, bytes);
    }
    const pageCount = lib._FPDF_GetPageCount(handle);
    if (pageCount <= 0) {
      lib._FPDF_CloseDocument(handle);
      lib.wasmExports.free(data);
      throw new InvalidDocumentError('the PDF has no pages');
    }
    return new PdfiumDocument(lib, handle, data, pageCount);
  }

  pageSize(pageIndex: number): PageSize {
    this.checkPage(pageIndex);
    return guard(
      this.lib,
      () => {
        const out = allocate(this.lib, 8);
        try {
          const ok = this.lib._FPDF_GetPageSizeByIndexF(this.handle, pageIndex, out);
          const view = new DataView(this.lib.HEAPU8.buffer, out, 8);
          const size = { width: view.getFloat32(0, true), height: view.getFloat32(4, true) };
          if (!ok || !(size.width > 0 && size.height > 0 && Number.isFinite(size.width * size.height))) {
            throw new InvalidDocumentError(`page ${pageIndex + 1} of the PDF has no valid size`);
          }
          return size;
        } finally {
          this.lib.wasmExports.free(out);
        }
      },
      this,
    );
  }

  async renderPage(pageIndex: number, options: RenderOptions): Promise<RenderedPage> {
    const { dpi, maxPixels } = options;
    if (!(dpi > 0 && Number.isFinite(dpi))) throw new RangeError(`dpi must be a positive number, not ${dpi}`);
    if (!(maxPixels > 0)) throw new RangeError(`maxPixels must be positive, not ${maxPixels}`);
    const { width, height } = pixelSize(this.pageSize(pageIndex), dpi);
    if (width * height > maxPixels) {
      throw new PageTooLargeError(
        `page ${pageIndex + 1} at ${dpi} DPI would be ${width}×${height} pixels, more than the limit of ${maxPixels}`,
        width,
        height,
        maxPixels,
      );
    }
    return guard(this.lib, () => this.draw(pageIndex, width, height), this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    leaked.unregister(this);
    this.lib._FPDF_CloseDocument(this.handle);
    this.lib.wasmExports.free(this.data);
  }

  /** Marks a document whose instance trapped: its memory went with the instance. */
  abandon(): void {
    this.closed = true;
    leaked.unregister(this);
  }

  private draw(pageIndex: number, width: number, height: number): RenderedPage {
    const { lib } = this;
    const page = lib._FPDF_LoadPage(this.handle, pageIndex);
    if (!page) throw new InvalidDocumentError(`page ${pageIndex + 1} of the PDF cannot be read`);
    try {
      const stride = width * 3;
      const size = stride * height;
      const pixels = allocate(lib, size);
      try {
        const bitmap = lib._FPDFBitmap_CreateEx(width, height, BITMAP_BGR, pixels, stride);
        if (!bitmap) throw new Error(`PDFium could not create a ${width}×${height} bitmap`);
        try {
          lib._FPDFBitmap_FillRect(bitmap, 0, 0, width, height, WHITE);
          const flags = RENDER_ANNOTATIONS | RENDER_REVERSE_BYTE_ORDER;
          lib._FPDF_RenderPageBitmap(bitmap, page, 0, 0, width, height, 0, flags);
          return { data: lib.HEAPU8.slice(pixels, pixels + size), width, height };
        } finally {
          lib._FPDFBitmap_Destroy(bitmap);
        }
      } finally {
        lib.wasmExports.free(pixels);
      }
    } finally {
      lib._FPDF_ClosePage(page);
    }
  }

  private checkPage(pageIndex: number): void {
    if (this.closed) throw new Error('the PDF document is closed');
    if (!Number.isInteger(pageIndex) || pageIndex < 0 || pageIndex >= this.pageCount) {
      throw new RangeError(`page index ${pageIndex} is outside 0..${this.pageCount - 1}`);
    }
  }
}

/**
 * Runs PDFium code. A trap (WebAssembly RuntimeError, which Emscripten's abort also throws) comes
 * from a document that broke the parser or exhausted its 2 GB of memory: the instance is
 * discarded, the document abandoned, and the input refused as permanently unreadable.
 */
function guard<T>(lib: PdfiumBindings, run: () => T, document?: PdfiumDocument): T {
  try {
    return run();
  } catch (error) {
    if (!(error instanceof WasmRuntimeError)) throw error;
    discardPdfium(lib);
    document?.abandon();
    throw new InvalidDocumentError(`the PDF could not be processed (PDFium failed: ${error.message})`, {
      cause: error,
    });
  }
}

function allocate(lib: PdfiumBindings, bytes: number): number {
  const pointer = lib.wasmExports.malloc(bytes);
  if (!pointer) throw new Error(`PDFium could not allocate ${bytes} bytes`);
  return pointer;
}

function openError(code: number, bytes: Uint8Array): Error {
  if (code === ERR_PASSWORD || code === ERR_SECURITY || hasEncryptDictionary(bytes)) {
    return new EncryptedDocumentError('the PDF is encrypted (password protected) and cannot be read');
  }
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 1024));
  if (head.indexOf('%PDF-') < 0) return new InvalidDocumentError('the file is not a PDF (no %PDF- header)');
  return new InvalidDocumentError('the PDF is corrupt or truncated and cannot be read');
}

/**
 * Whether a trailer or cross-reference stream names an /Encrypt dictionary. Only consulted when
 * PDFium refused the file: an encrypted file whose structure is also damaged is reported as
 * encrypted, the more useful of the two facts.
 */
function hasEncryptDictionary(bytes: Uint8Array): boolean {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = buffer.indexOf('/Encrypt'); at >= 0; at = buffer.indexOf('/Encrypt', at + 8)) {
    const after = buffer.toString('latin1', at + 8, at + 40);
    if (/^\s*(<<|\d+\s+\d+\s+R)/.test(after)) return true;
  }
  return false;
}
