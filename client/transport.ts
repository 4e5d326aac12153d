import { setTimeout as sleep } from 'node:timers/promises';
import { OcrApiError, OcrNetworkError, withoutQuery } from './errors.ts';

/**
 * HTTP for the client: one place that sends, turns answers that are not a success into
 * {@link OcrApiError}, turns no answer into {@link OcrNetworkError}, and retries what may be
 * retried (429/502/503/504 and broken connections) honouring `Retry-After`.
 */

/** Answers that say "not now" rather than "no": the request did nothing and may be sent again. */
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);

export interface RetryPolicy {
  /** Further attempts after the first. */
  retries: number;
  /** First backoff when the answer names no `Retry-After` (doubles per attempt, with jitter). */
  baseDelayMs: number;
  /** The longest wait the client accepts, from `Retry-After` or backoff; a longer one is thrown. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 4, baseDelayMs: 500, maxDelayMs: 60_000 };

export interface SendOptions {
  /** Whether sending the request again is harmless (GET, DELETE, create with an Idempotency-Key). */
  retry: boolean;
  signal?: AbortSignal;
}

/** `Retry-After` in seconds (it is either seconds or an HTTP date). */
export function retryAfterSeconds(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** The error an answer that is not a success stands for, with the API's code when it gave one. */
export async function errorOf(response: Response, fallbackCode: string): Promise<OcrApiError> {
  const text = await response.text().catch(() => '');
  let code = fallbackCode;
  let message = text.slice(0, 300) || response.statusText || `HTTP ${response.status}`;
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown }; message?: unknown };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string') message = body.error.message;
    // API Gateway's own answers (throttling, a missing key) are {"message": "..."}.
    else if (typeof body.message === 'string') message = body.message;
  } catch {
    // Storage answers in XML: its <Code> is the most useful part.
    const s3Code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
    const s3Message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1];
    if (s3Code) message = s3Message ? `${s3Code}: ${s3Message}` : s3Code;
  }
  return new OcrApiError(
    response.status,
    code,
    message,
    retryAfterSeconds(response.headers.get('retry-after')),
  );
}

/** fetch, with a failure to get any answer as {@link OcrNetworkError} (an abort stays an abort). */
export async function fetchOrThrow(
  fetchImpl: typeof fetch,
  url: string,
  init: RequestInit,
): Promise<Response> {
  try {
    return await fetchImpl(url, init);
  } catch (error) {
    if (init.signal?.aborted) throw init.signal.reason;
    throw new OcrNetworkError(withoutQuery(url), { cause: error });
  }
}

/**
 * Sends `init` to `url` until an answer comes that is not worth retrying, and returns it
 * (success or not: the caller reads it). Retries follow `policy` only when `options.retry`.
 */
export async function sendWithRetries(
  fetchImpl: typeof fetch,
  url: string,
  init: RequestInit,
  policy: RetryPolicy,
  options: SendOptions,
): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const canRetry = options.retry && attempt < policy.retries;
    let response: Response;
    try {
      response = await fetchOrThrow(fetchImpl, url, { ...init, signal: options.signal });
    } catch (error) {
      if (!(error instanceof OcrNetworkError) || error.unreachable || !canRetry) throw error;
      await pause(backoffMs(policy, attempt), options.signal);
      continue;
    }
    if (!RETRYABLE_STATUSES.has(response.status) || !canRetry) return response;
    const asked = retryAfterSeconds(response.headers.get('retry-after'));
    const waitMs = asked === undefined ? backoffMs(policy, attempt) : asked * 1000;
    if (waitMs > policy.maxDelayMs) return response;
    await response.body?.cancel().catch(() => undefined);
    await pause(waitMs, options.signal);
  }
}

/** Waits `ms`; an abort rejects with the signal's own reason (as fetch does), not a generic AbortError. */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw error;
  }
}

function backoffMs(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
