/**
 * What the client throws: an answer of the API (or of the storage a URL points at) that is not
 * a success, or no answer at all. Both carry a stable `code` to switch on; the CLI prints
 * `ocrq: CODE: message`.
 */

/** The API answered with an error: its HTTP status, its `{"error":{"code","message"}}`. */
export class OcrApiError extends Error {
  /** Seconds the API asked to wait before trying again (429 and 503 answers), when it said. */
  readonly retryAfter?: number;

  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** The API's error code (`NOT_FOUND`, `UNAUTHORIZED`, `TOO_MANY_ACTIVE_JOBS`, …). */
    readonly code: string,
    message: string,
    retryAfter?: number,
  ) {
    super(message);
    this.name = 'OcrApiError';
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

/** No answer came: the endpoint is unreachable, the connection broke, or DNS failed. */
export class OcrNetworkError extends Error {
  readonly code = 'NETWORK_ERROR';
  /** The system's reason when it gave one (`ECONNREFUSED`, `ENOTFOUND`, `ECONNRESET`, …). */
  readonly reason?: string;

  constructor(
    /** The URL that could not be reached (without its query, which may hold a signature). */
    readonly url: string,
    options: { cause: unknown },
  ) {
    super(`could not reach ${url}: ${describeCause(options.cause)}`, options);
    this.name = 'OcrNetworkError';
    const reason = rootCause(options.cause);
    const code = reason instanceof Error ? (reason as Error & { code?: unknown }).code : undefined;
    if (typeof code === 'string') this.reason = code;
  }

  /** Whether nothing listens there at all (no use trying again at once), rather than a broken connection. */
  get unreachable(): boolean {
    return this.reason === 'ECONNREFUSED' || this.reason === 'ENOTFOUND';
  }
}

/** `waitForJob` gave up: the job had not finished within `timeoutMs`. */
export class OcrTimeoutError extends Error {
  readonly code = 'TIMEOUT';

  constructor(
    readonly jobId: string,
    /** The job's status when the client stopped waiting. */
    readonly lastStatus: string,
    timeoutMs: number,
  ) {
    super(`job ${jobId} was still ${lastStatus} after ${timeoutMs} ms`);
    this.name = 'OcrTimeoutError';
  }
}

/** fetch's "fetch failed" hides the reason in `cause` (ECONNREFUSED, ENOTFOUND, …): show it. */
function rootCause(cause: unknown): unknown {
  let reason: unknown = cause;
  while (reason instanceof Error && reason.cause instanceof Error) reason = reason.cause;
  return reason;
}

function describeCause(cause: unknown): string {
  const reason = rootCause(cause);
  if (reason instanceof Error) {
    const code = (reason as Error & { code?: unknown }).code;
    return typeof code === 'string' && !reason.message.includes(code)
      ? `${code} ${reason.message}`
      : reason.message;
  }
  return String(reason);
}

/** The URL without its query string (presigned URLs carry credentials there). */
export function withoutQuery(url: string): string {
  const at = url.indexOf('?');
  return at < 0 ? url : url.slice(0, at);
}
