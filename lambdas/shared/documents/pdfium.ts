import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * PDFium compiled to WebAssembly, from `@hyzyla/pdfium` (MIT; the PDFium inside is BSD-3).
 * Only its Emscripten module is used, through the C API, not the package's wrapper classes:
 * the wrapper floors page sizes to whole points, can only read a page's size after loading
 * (parsing) it, always renders BGRA and copies it, and does not check that a page loaded.
 *
 * Chosen over `@embedpdf/pdfium` (also MIT PDFium WASM, the same speed and memory within
 * noise) because the project already depends on it, and over pdf.js + `@napi-rs/canvas`
 * (3–5× slower, twice the memory, ~110 MB installed with a native binary). Figures in `pdf.ts`.
 */

/** Environment variable naming the `pdfium.wasm` file, for layouts the default search misses. */
export const PDFIUM_WASM_ENV = 'OCRQ_PDFIUM_WASM';

/** The C functions this module calls, as the Emscripten build exports them (pointers are numbers). */
export interface PdfiumBindings {
  readonly HEAPU8: Uint8Array;
  readonly wasmExports: { malloc(size: number): number; free(pointer: number): void };
  _FPDF_InitLibrary(): void;
  _FPDF_GetLastError(): number;
  _FPDF_LoadMemDocument(data: number, size: number, password: number): number;
  _FPDF_CloseDocument(document: number): void;
  _FPDF_GetPageCount(document: number): number;
  /** Writes the page's width and height in points (after /Rotate) as two floats; 0 when it fails. */
  _FPDF_GetPageSizeByIndexF(document: number, index: number, size: number): number;
  _FPDF_LoadPage(document: number, index: number): number;
  _FPDF_ClosePage(page: number): void;
  _FPDFBitmap_CreateEx(width: number, height: number, format: number, buffer: number, stride: number): number;
  _FPDFBitmap_FillRect(
    bitmap: number,
    left: number,
    top: number,
    width: number,
    height: number,
    argb: number,
  ): number;
  _FPDF_RenderPageBitmap(
    bitmap: number,
    page: number,
    startX: number,
    startY: number,
    sizeX: number,
    sizeY: number,
    rotate: number,
    flags: number,
  ): void;
  _FPDFBitmap_Destroy(bitmap: number): void;
}

const REQUIRED_FUNCTIONS = [
  '_FPDF_InitLibrary',
  '_FPDF_GetLastError',
  '_FPDF_LoadMemDocument',
  '_FPDF_CloseDocument',
  '_FPDF_GetPageCount',
  '_FPDF_GetPageSizeByIndexF',
  '_FPDF_LoadPage',
  '_FPDF_ClosePage',
  '_FPDFBitmap_CreateEx',
  '_FPDFBitmap_FillRect',
  '_FPDF_RenderPageBitmap',
  '_FPDFBitmap_Destroy',
] as const satisfies ReadonlyArray<keyof PdfiumBindings>;

export interface PdfiumInitOptions {
  /** Path of `pdfium.wasm`; default: `$OCRQ_PDFIUM_WASM`, else the installed package, else beside this module. */
  wasmPath?: string;
  /** The binary itself, when the caller has it already (e.g. embedded in a bundle). */
  wasmBinary?: Uint8Array;
}

let loading: Promise<PdfiumBindings> | undefined;
let loaded: PdfiumBindings | undefined;

/**
 * The process's PDFium instance, compiled and initialised on first use (~50–90 ms) and then
 * shared. Options only count on the first call; call it early (e.g. at Lambda init) to pay
 * the start-up outside a request.
 */
export function pdfium(options: PdfiumInitOptions = {}): Promise<PdfiumBindings> {
  loading ??= instantiate(options).then(
    (bindings) => {
      loaded = bindings;
      return bindings;
    },
    (error: unknown) => {
      loading = undefined;
      throw error;
    },
  );
  return loading;
}

/**
 * Forgets an instance that trapped (a WebAssembly RuntimeError or an Emscripten abort leaves
 * its memory in an unknown state): the next {@link pdfium} call builds a fresh one.
 */
export function discardPdfium(bindings: PdfiumBindings): void {
  if (loaded === bindings) {
    loaded = undefined;
    loading = undefined;
  }
}

async function instantiate(options: PdfiumInitOptions): Promise<PdfiumBindings> {
  const binary = options.wasmBinary ?? (await readFile(locatePdfiumWasm(options.wasmPath)));
  const wasmBinary = binary.buffer.slice(binary.byteOffset, binary.byteOffset + binary.byteLength);
  // Imported here, at the first PDF: processes and engine threads that never read one skip it.
  const { PDFiumModule } = await import('@hyzyla/pdfium');
  // An empty locateFile keeps the Emscripten loader from resolving `pdfium.wasm` itself.
  const module: unknown = await PDFiumModule({ wasmBinary: wasmBinary as ArrayBuffer, locateFile: () => '' });
  const missing = REQUIRED_FUNCTIONS.filter(
    (name) => typeof (module as Record<string, unknown>)[name] !== 'function',
  );
  if (missing.length > 0) {
    throw new Error(`this @hyzyla/pdfium build does not export ${missing.join(', ')}`);
  }
  const bindings = module as PdfiumBindings;
  bindings._FPDF_InitLibrary();
  return bindings;
}

/**
 * Where `pdfium.wasm` is: an explicit path, `$OCRQ_PDFIUM_WASM`, the installed
 * `@hyzyla/pdfium` package (development, the worker image, a Lambda asset with the package
 * kept as a node module), or a copy beside this file (a Lambda bundle that inlined the
 * package's JavaScript and had the binary copied next to `index.mjs`).
 */
export function locatePdfiumWasm(explicit?: string): string {
  const configured = explicit ?? process.env[PDFIUM_WASM_ENV];
  if (configured) return configured;
  const candidates: string[] = [];
  try {
    candidates.push(createRequire(import.meta.url).resolve('@hyzyla/pdfium/pdfium.wasm'));
  } catch {
    // not installed as a package: look beside the bundle
  }
  try {
    candidates.push(fileURLToPath(new URL('pdfium.wasm', import.meta.url)));
  } catch {
    // no file URL for this module (a CommonJS bundle)
  }
  const found = candidates.find((path) => existsSync(path));
  if (!found) {
    throw new Error(
      `pdfium.wasm not found (looked in ${candidates.join(', ') || 'no place'}); ` +
        `install @hyzyla/pdfium, copy its dist/pdfium.wasm beside the bundle, or set ${PDFIUM_WASM_ENV}`,
    );
  }
  return found;
}
