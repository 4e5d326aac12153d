/**
 * Retry delays as named strategies. SQS visibility is capped at 12 hours; a retry's delay is
 * how long its message stays hidden before the next delivery.
 */
export interface BackoffOptions {
  baseSeconds: number;
  maxSeconds: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseSeconds: 5, maxSeconds: 15 * 60 };

/** Exponential backoff with full jitter on the upper half: attempt 1 → ~base, 2 → ~2·base, … */
export function exponentialBackoff(attempt: number, options = DEFAULT_BACKOFF, random = Math.random): number {
  const ceiling = Math.min(options.maxSeconds, options.baseSeconds * 2 ** Math.max(0, attempt - 1));
  return Math.max(1, Math.round(ceiling / 2 + (random() * ceiling) / 2));
}
