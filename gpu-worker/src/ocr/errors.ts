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
