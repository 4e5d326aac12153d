import type { JobErrorCode, JobStatus } from './job.ts';

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
  constructor(message: string, retryAfterSeconds: number) {
    super(429, 'TOO_MANY_ACTIVE_JOBS', message, { 'retry-after': String(retryAfterSeconds) });
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

/** A failure that retrying cannot fix: the job fails with `code` and the message is deleted. */
export class PermanentJobError extends Error {
  readonly permanent = true;
  constructor(
    readonly code: JobErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PermanentJobError';
  }
}

/** Invalid configuration found at start: the process refuses to run rather than fail later. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function isPermanent(error: unknown): error is Error & { code: JobErrorCode; permanent: true } {
  return (
    error instanceof Error &&
    (error as { permanent?: unknown }).permanent === true &&
    typeof (error as { code?: unknown }).code === 'string'
  );
}
