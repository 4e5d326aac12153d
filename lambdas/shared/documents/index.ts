export {
  DocumentError,
  DocumentTooLargeError,
  EncryptedDocumentError,
  InvalidDocumentError,
  PageTooLargeError,
} from './errors.ts';
export {
  isMultiPage,
  isSupportedContentType,
  SNIFF_BYTES,
  SUPPORTED_CONTENT_TYPES,
  type SupportedContentType,
  sniffContentType,
} from './file-types.ts';
export {
  IMAGE_HEADER_BYTES,
  type ImageDimensions,
  imageDimensions,
  pageTooLargeFor,
} from './image-dimensions.ts';
export { DEFAULT_MAX_PAGE_PIXELS, documentTooLargeFor, MAX_PDF_BYTES } from './limits.ts';
export { countPages, countTiffPages } from './page-count.ts';
export {
  DEFAULT_PDF_DPI,
  openPdf,
  type PageSize,
  type PdfDocument,
  pdfPageCount,
  pixelSize,
  type RenderedPage,
  type RenderOptions,
} from './pdf.ts';
export { locatePdfiumWasm, PDFIUM_WASM_ENV, type PdfiumInitOptions, pdfium as initPdfium } from './pdfium.ts';
