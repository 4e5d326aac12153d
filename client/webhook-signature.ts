import { createHmac, timingSafeEqual } from 'node:crypto';
import type { JobEvent } from './types.ts';

/**
 * Signing and verifying webhook deliveries. The dispatcher signs every POST with this module
 * and the client package exports `verifyWebhook`, so the two cannot drift apart.
 *
 * The scheme (Stripe-style): the signed payload is `${timestamp}.${body}`, the signature its
 * HMAC-SHA256 under the tenant's webhook secret, hex-encoded. A receiver recomputes it over
 * the raw body, compares in constant time, and refuses a timestamp outside a tolerance, so a
 * captured delivery cannot be replayed later. While a rotated secret's grace period lasts, the
 * signature header carries one `v1=` entry per valid secret: a receiver that still has the
 * old secret keeps verifying.
 */

/** The delivery's headers (HTTP header names are case-insensitive; these are lower case). */
export const WEBHOOK_HEADERS = {
  /** The event's id: the same on every attempt of one event, so receivers can drop repeats. */
  deliveryId: 'ocrq-delivery-id',
  /** Unix seconds when this attempt was signed. */
  timestamp: 'ocrq-timestamp',
  /** `v1=<hex>` entries, comma-separated, one per secret valid at signing time. */
  signature: 'ocrq-signature',
  /** The event type, e.g. `job.succeeded`, for routing without parsing the body. */
  event: 'ocrq-event',
  /** 1 for the first attempt, then 2, 3, ... */
  attempt: 'ocrq-attempt',
} as const;

/** How old (or how far in the future) a delivery's timestamp may be, by default. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const SCHEME = 'v1';

/** The HMAC-SHA256 of `${timestamp}.${body}` under `secret`, hex. */
export function computeSignature(secret: string, timestamp: number, body: string | Uint8Array): string {
  return createHmac('sha256', secret)
    .update(`${timestamp}.`)
    .update(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength))
    .digest('hex');
}

/** The signature header's value: one `v1=` entry per secret (the current one first). */
export function signatureHeader(secrets: readonly string[], timestamp: number, body: string): string {
  if (secrets.length === 0) throw new Error('signing a webhook needs at least one secret');
  return secrets.map((secret) => `${SCHEME}=${computeSignature(secret, timestamp, body)}`).join(',');
}

/** Every header of a signed delivery, ready to send. */
export function signWebhook(options: {
  body: string;
  secrets: readonly string[];
  deliveryId: string;
  eventType: string;
  attempt: number;
  timestamp?: number;
}): Record<string, string> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    [WEBHOOK_HEADERS.deliveryId]: options.deliveryId,
    [WEBHOOK_HEADERS.timestamp]: String(timestamp),
    [WEBHOOK_HEADERS.signature]: signatureHeader(options.secrets, timestamp, options.body),
    [WEBHOOK_HEADERS.event]: options.eventType,
    [WEBHOOK_HEADERS.attempt]: String(options.attempt),
  };
}

export type WebhookVerificationErrorCode =
  | 'MISSING_HEADER'
  | 'TIMESTAMP_OUT_OF_RANGE'
  | 'SIGNATURE_MISMATCH'
  | 'INVALID_PAYLOAD';

/** Why a delivery was refused: answer it with 400 (or 401) and do not act on it. */
export class WebhookVerificationError extends Error {
  constructor(
    readonly code: WebhookVerificationErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/** Request headers as Node's `IncomingMessage.headers`, a plain object, or a fetch `Headers`. */
export type WebhookHeaders =
  | Record<string, string | string[] | undefined>
  | { get(name: string): string | null };

function headerValue(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value.join(',') : value;
}

export interface VerifyWebhookOptions {
  /** The raw request body, exactly as received (parse it only after verifying). */
  body: string | Uint8Array;
  headers: WebhookHeaders;
  /** The tenant's webhook secret; during a rotation, the new and the old one. */
  secret: string | readonly string[];
  /** Largest accepted age of the timestamp, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** Now, in unix seconds (tests). */
  now?: number;
}

/**
 * Checks a delivery's signature and timestamp and returns its event. Throws
 * {@link WebhookVerificationError} when a header is missing, the timestamp is outside the
 * tolerance, no signature matches any of the given secrets, or the body is not an event.
 */
export function verifyWebhook(options: VerifyWebhookOptions): JobEvent {
  const timestampText = headerValue(options.headers, WEBHOOK_HEADERS.timestamp);
  const signatures = headerValue(options.headers, WEBHOOK_HEADERS.signature);
  if (!timestampText || !signatures) {
    throw new WebhookVerificationError(
      'MISSING_HEADER',
      `a signed delivery has the ${WEBHOOK_HEADERS.timestamp} and ${WEBHOOK_HEADERS.signature} headers`,
    );
  }
  const timestamp = Number(timestampText);
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!/^\d+$/.test(timestampText) || Math.abs(now - timestamp) > tolerance) {
    throw new WebhookVerificationError(
      'TIMESTAMP_OUT_OF_RANGE',
      `the delivery's timestamp ${timestampText} is not within ${tolerance} s of now`,
    );
  }
  const given = signatures
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith(`${SCHEME}=`))
    .map((entry) => Buffer.from(entry.slice(SCHEME.length + 1), 'hex'));
  const secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  const matches = secrets.some((secret) => {
    const expected = Buffer.from(computeSignature(secret, timestamp, options.body), 'hex');
    return given.some(
      (signature) => signature.length === expected.length && timingSafeEqual(signature, expected),
    );
  });
  if (!matches) {
    throw new WebhookVerificationError('SIGNATURE_MISMATCH', 'no signature matches the webhook secret');
  }
  try {
    const text = typeof options.body === 'string' ? options.body : Buffer.from(options.body).toString('utf8');
    const event = JSON.parse(text) as JobEvent;
    if (typeof event !== 'object' || event === null || typeof event.type !== 'string') throw new Error();
    return event;
  } catch {
    throw new WebhookVerificationError('INVALID_PAYLOAD', 'the delivery body is not a job event');
  }
}
