import { describe, expect, it } from 'vitest';
import {
  errorFromThread,
  errorToThread,
  ImageTooLargeError,
  InvalidImageError,
  ProviderUnavailableError,
} from '../../gpu-worker/src/ocr/errors.ts';
import {
  EncryptedDocumentError,
  InvalidDocumentError,
  PageTooLargeError,
} from '../../lambdas/shared/documents/errors.ts';
import { isPermanent, jobErrorOf, PermanentError, PermanentJobError } from '../../lambdas/shared/errors.ts';

describe('permanent errors', () => {
  it('are the library errors about the input and the job errors, all one class', () => {
    const permanent = [
      new EncryptedDocumentError('locked'),
      new InvalidDocumentError('truncated'),
      new PageTooLargeError('too big', 20_000, 30_000, 50_000_000),
      new InvalidImageError('not an image'),
      new ImageTooLargeError('bomb'),
      new PermanentJobError('TOO_MANY_PAGES', 'too many'),
    ];
    for (const error of permanent) {
      expect(error, error.name).toBeInstanceOf(PermanentError);
      expect(isPermanent(error)).toBe(true);
      expect(error.permanent).toBe(true);
      expect(error.name).toBe(error.constructor.name);
    }
  });

  it('exclude failures a retry elsewhere may get past, and look-alikes', () => {
    expect(isPermanent(new ProviderUnavailableError('no cuda'))).toBe(false);
    expect(isPermanent(new Error('socket hang up'))).toBe(false);
    // The duck-typed test this replaced would have failed a job on any error carrying these fields.
    const lookAlike = Object.assign(new Error('throttled'), { permanent: true, code: 'ThrottlingException' });
    expect(isPermanent(lookAlike)).toBe(false);
    expect(isPermanent({ permanent: true, code: 'INVALID_INPUT', message: 'x' })).toBe(false);
  });

  it('stay permanent after crossing an engine thread', () => {
    for (const error of [new EncryptedDocumentError('locked'), new ImageTooLargeError('bomb')]) {
      expect(isPermanent(errorFromThread(structuredClone(errorToThread(error))))).toBe(true);
    }
    expect(isPermanent(errorFromThread(errorToThread(new ProviderUnavailableError('no cuda'))))).toBe(false);
  });
});

describe('jobErrorOf', () => {
  it('gives clients the job codes they saw before the libraries named their own', () => {
    const cases: [PermanentError, string][] = [
      [new EncryptedDocumentError('locked'), 'ENCRYPTED_DOCUMENT'],
      [new InvalidDocumentError('truncated'), 'INVALID_INPUT'],
      [new PageTooLargeError('page 2 is too big', 20_000, 30_000, 50_000_000), 'PAGE_TOO_LARGE'],
      [new InvalidImageError('not an image'), 'INVALID_INPUT'],
      [new ImageTooLargeError('bomb'), 'PAGE_TOO_LARGE'],
    ];
    for (const [error, code] of cases) {
      expect(jobErrorOf(error), error.code).toEqual({ code, message: error.message });
    }
  });

  it('keeps a job code, and calls an unknown permanent failure invalid input', () => {
    expect(jobErrorOf(new PermanentJobError('TOO_MANY_PAGES', 'too many'))).toEqual({
      code: 'TOO_MANY_PAGES',
      message: 'too many',
    });
    for (const code of ['SOMETHING_NEW', 'constructor', 'toString']) {
      expect(jobErrorOf(new PermanentError(code, 'odd input'))).toEqual({
        code: 'INVALID_INPUT',
        message: 'odd input',
      });
    }
  });
});
