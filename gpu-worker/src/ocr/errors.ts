import {
  PageTooLargeError as DocumentPageTooLargeError,
  EncryptedDocumentError,
  InvalidDocumentError,
} from '../../../lambdas/shared/documents/errors.ts';
import type { JobErrorCode } from '../../../lambdas/shared/job.ts';

/**
 * Engine failures as types. `permanent` ones are facts about the input (the job fails at
 * once with `code`); the others (a provider that cannot load) are about this machine.
 */
export class EngineError extends Error {
  constructor(
    readonly code: JobErrorCode,
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bytes that are not a decodable image or document. */
export class InvalidImageError extends EngineError {
  constructor(message: string) {
    super('INVALID_INPUT', message, true);
  }
}

/** A page with more pixels than the configured limit: refused before it is decoded. */
export class PageTooLargeError extends EngineError {
  constructor(message: string) {
    super('PAGE_TOO_LARGE', message, true);
  }
}

/** An execution provider asked for by configuration that this machine cannot run. */
export class ProviderUnavailableError extends EngineError {
  constructor(message: string) {
    super('PROCESSING_ERROR', message, false);
  }
}

/**
 * An error as it leaves an engine thread. Structured cloning keeps an Error's message but not
 * its class nor its fields, so threads return failures as data and the main thread rebuilds
 * them with {@link errorFromThread}: callers still see the typed, permanent document errors.
 */
export type ThreadError =
  | {
      kind: 'encrypted-document' | 'invalid-document' | 'invalid-image' | 'provider' | 'other';
      message: string;
    }
  | { kind: 'page-too-large'; message: string; width: number; height: number; maxPixels: number }
  | { kind: 'image-too-large'; message: string };

export function errorToThread(error: unknown): ThreadError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof EncryptedDocumentError) return { kind: 'encrypted-document', message };
  if (error instanceof InvalidDocumentError) return { kind: 'invalid-document', message };
  if (error instanceof DocumentPageTooLargeError)
    return {
      kind: 'page-too-large',
      message,
      width: error.width,
      height: error.height,
      maxPixels: error.maxPixels,
    };
  if (error instanceof PageTooLargeError) return { kind: 'image-too-large', message };
  if (error instanceof InvalidImageError) return { kind: 'invalid-image', message };
  if (error instanceof ProviderUnavailableError) return { kind: 'provider', message };
  return { kind: 'other', message };
}

export function errorFromThread(error: ThreadError): Error {
  switch (error.kind) {
    case 'encrypted-document':
      return new EncryptedDocumentError(error.message);
    case 'invalid-document':
      return new InvalidDocumentError(error.message);
    case 'page-too-large':
      return new DocumentPageTooLargeError(error.message, error.width, error.height, error.maxPixels);
    case 'image-too-large':
      return new PageTooLargeError(error.message);
    case 'invalid-image':
      return new InvalidImageError(error.message);
    case 'provider':
      return new ProviderUnavailableError(error.message);
    default:
      return new Error(error.message);
  }
}
