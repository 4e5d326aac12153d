import { PermanentError } from '../permanent-error.ts';

/** What is wrong with a document, in this library's own words (the pipeline maps them to job codes). */
export type DocumentErrorCode =
  | 'DOCUMENT_INVALID'
  | 'DOCUMENT_ENCRYPTED'
  | 'PAGE_TOO_LARGE'
  | 'DOCUMENT_TOO_LARGE';

/** A fact about a document that no retry can change. */
export abstract class DocumentError extends PermanentError {
  declare readonly code: DocumentErrorCode;

  protected constructor(code: DocumentErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** A password-protected PDF (or one locked with a security handler PDFium does not know). */
export class EncryptedDocumentError extends DocumentError {
  constructor(message: string, options?: ErrorOptions) {
    super('DOCUMENT_ENCRYPTED', message, options);
  }
}

/** Bytes that are not a readable document: empty, truncated, corrupt, or another format. */
export class InvalidDocumentError extends DocumentError {
  constructor(message: string, options?: ErrorOptions) {
    super('DOCUMENT_INVALID', message, options);
  }
}

/** A page with more pixels at the requested resolution than allowed; refused before rendering. */
export class PageTooLargeError extends DocumentError {
  constructor(
    message: string,
    readonly width: number,
    readonly height: number,
    readonly maxPixels: number,
  ) {
    super('PAGE_TOO_LARGE', message);
  }
}

/** A document larger than this library can read whole (see `MAX_PDF_BYTES`); refused before reading it. */
export class DocumentTooLargeError extends DocumentError {
  constructor(
    message: string,
    readonly sizeBytes: number,
    readonly maxBytes: number,
  ) {
    super('DOCUMENT_TOO_LARGE', message);
  }
}
