import {
  EncryptedDocumentError,
  InvalidDocumentError,
  PageTooLargeError,
} from '../../../lambdas/shared/documents/errors.ts';
import { PermanentError } from '../../../lambdas/shared/permanent-error.ts';

/**
 * Engine failures as types. Facts about the input are {@link PermanentError}s with the engine's
 * own codes (the pipeline maps them to a job's); a provider that cannot load is about this
 * machine, so it is a plain error that a retry elsewhere may get past.
 */
export type EngineErrorCode = 'IMAGE_INVALID' | 'IMAGE_TOO_LARGE';

/** An input the engine cannot read, whatever the retry. */
export abstract class EngineInputError extends PermanentError {
  declare readonly code: EngineErrorCode;

  protected constructor(code: EngineErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** Bytes that are not a decodable image or document. */
export class InvalidImageError extends EngineInputError {
  constructor(message: string, options?: ErrorOptions) {
    super('IMAGE_INVALID', message, options);
  }
}

/** An image with more pixels than the configured limit: refused before it is decoded. */
export class ImageTooLargeError extends EngineInputError {
  constructor(message: string) {
    super('IMAGE_TOO_LARGE', message);
  }
}

/** An execution provider asked for by configuration that this machine cannot run. */
export class ProviderUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
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
  if (error instanceof PageTooLargeError)
    return {
      kind: 'page-too-large',
      message,
      width: error.width,
      height: error.height,
      maxPixels: error.maxPixels,
    };
  if (error instanceof ImageTooLargeError) return { kind: 'image-too-large', message };
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
      return new PageTooLargeError(error.message, error.width, error.height, error.maxPixels);
    case 'image-too-large':
      return new ImageTooLargeError(error.message);
    case 'invalid-image':
      return new InvalidImageError(error.message);
    case 'provider':
      return new ProviderUnavailableError(error.message);
    default:
      return new Error(error.message);
  }
}
