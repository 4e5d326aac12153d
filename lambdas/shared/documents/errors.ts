import type { JobErrorCode } from '../job.ts';

/**
 * A fact about an uploaded document that no retry can change: the job fails at once with
 * `code` (the shape `isPermanent` in `lambdas/shared/errors.ts` recognises).
 */
export abstract class DocumentError extends Error {
  abstract readonly code: JobErrorCode;
  readonly permanent = true;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A password-protected PDF (or one locked with a security handler PDFium does not know). */
export class EncryptedDocumentError extends DocumentError {
  readonly code = 'ENCRYPTED_DOCUMENT';
}

/** Bytes that are not a readable document: empty, truncated, corrupt, or another format. */
export class InvalidDocumentError extends DocumentError {
  readonly code = 'INVALID_INPUT';
}

/** A page with more pixels at the requested resolution than allowed; refused before rendering. */
export class PageTooLargeError extends DocumentError {
  readonly code = 'PAGE_TOO_LARGE';

  constructor(
    message: string,
    readonly width: number,
    readonly height: number,
    readonly maxPixels: number,
  ) {
    super(message);
  }
}
