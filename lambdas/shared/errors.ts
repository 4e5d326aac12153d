import type { DocumentErrorCode } from './documents/errors.ts';
import { JOB_ERROR_CODES, type JobError, type JobErrorCode, type JobStatus } from './job.ts';
import { PermanentError } from './permanent-error.ts';

export { PermanentError } from './permanent-error.ts';

/**
 * Errors as types. `ApiError`s carry the HTTP status and the stable code clients see in
 * `{"error":{"code","message"}}`; the worker splits failures into transient (the message
 * goes back to the queue) and permanent (the job fails at once with a code).
 */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends ApiError {
  constructor(message: string) {
    super(400, 'VALIDATION_ERROR', message);
  }
}

export class UnauthorizedError extends ApiError {
  constructor(message = 'A valid API key is required in the x-api-key header.') {
    super(401, 'UNAUTHORIZED', message);
  }
}

export class NotFoundError extends ApiError {
  constructor(message: string) {
    super(404, 'NOT_FOUND', message);
  }
}

export class ConflictError extends ApiError {
  constructor(code: string, message: string) {
    super(409, code, message);
  }
}

export class PayloadTooLargeError extends ApiError {
  constructor(message: string) {
    super(413, 'PAYLOAD_TOO_LARGE', message);
  }
}

export class UnsupportedMediaTypeError extends ApiError {
  constructor(message: string) {
    super(415, 'UNSUPPORTED_MEDIA_TYPE', message);
  }
}

export class TooManyRequestsError extends ApiError {
  constructor(message: string, retryAfterSeconds: number, code = 'TOO_MANY_ACTIVE_JOBS') {
    super(429, code, message, { 'retry-after': String(retryAfterSeconds) });
  }
}

export class ServiceBusyError extends ApiError {
  constructor(message: string, retryAfterSeconds: number) {
    super(503, 'QUEUE_FULL', message, { 'retry-after': String(retryAfterSeconds) });
  }
}

/** A status change the state machine does not allow (e.g. SUCCEEDED → PROCESSING). */
export class InvalidTransitionError extends Error {
  constructor(
    readonly jobId: string,
    readonly from: JobStatus,
    readonly to: JobStatus,
  ) {
    super(`job ${jobId}: ${from} → ${to} is not an allowed transition`);
    this.name = 'InvalidTransitionError';
  }
}

export class JobNotFoundError extends Error {
  constructor(readonly jobId: string) {
    super(`job ${jobId} does not exist`);
    this.name = 'JobNotFoundError';
  }
}

/** A failure that retrying cannot fix, in the job's own codes: the job fails with `code`. */
export class PermanentJobError extends PermanentError {
  declare readonly code: JobErrorCode;

  constructor(code: JobErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** Invalid configuration found at start: the process refuses to run rather than fail later. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Whether retrying cannot fix `error`: the job fails at once (see {@link jobErrorOf}). */
export function isPermanent(error: unknown): error is PermanentError {
  return error instanceof PermanentError;
}

/**
 * The job codes of the libraries' permanent errors. Clients see only job codes (the README's
 * table), so these keep the codes they saw before the libraries named their own. The engine's
 * codes are spelled out here because `lambdas/shared` does not import the worker.
 */
const DOCUMENT_JOB_CODES: Record<DocumentErrorCode, JobErrorCode> = {
  DOCUMENT_INVALID: 'INVALID_INPUT',
  DOCUMENT_ENCRYPTED: 'ENCRYPTED_DOCUMENT',
  PAGE_TOO_LARGE: 'PAGE_TOO_LARGE',
  DOCUMENT_TOO_LARGE: 'DOCUMENT_TOO_LARGE',
};
const LIBRARY_JOB_CODES: ReadonlyMap<string, JobErrorCode> = new Map([
  ...Object.entries(DOCUMENT_JOB_CODES),
  ['IMAGE_INVALID', 'INVALID_INPUT'],
  ['IMAGE_TOO_LARGE', 'PAGE_TOO_LARGE'],
]);

/**
 * The job error a permanent failure becomes: a library's code mapped to the job's, a job code
 * kept as it is, anything else `INVALID_INPUT` (a permanent failure is about the input); the
 * message is the error's.
 */
export function jobErrorOf(error: PermanentError): JobError {
  const code =
    LIBRARY_JOB_CODES.get(error.code) ??
    ((JOB_ERROR_CODES as readonly string[]).includes(error.code)
      ? (error.code as JobErrorCode)
      : 'INVALID_INPUT');
  return { code, message: error.message };
}
