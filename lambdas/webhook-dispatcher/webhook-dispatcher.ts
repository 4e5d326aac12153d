import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { signWebhook } from '../../client/webhook-signature.ts';
import { type WebhookSettings, webhookSettings } from '../shared/config.ts';
import { EVENT_SCHEMA_VERSION, JOB_EVENT_TYPES, type JobEvent, webhookWants } from '../shared/events.ts';
import type { WebhookAttempt } from '../shared/job.ts';
import { METRIC } from '../shared/metric-names.ts';
import type { MetricsSink } from '../shared/metrics.ts';
import type { Runtime } from '../shared/runtime.ts';
import type { Lookup } from '../shared/webhooks/address-guard.ts';
import { postWebhook } from '../shared/webhooks/post.ts';

/**
 * The webhook dispatcher: the events topic feeds its queue with the events that jobs' webhooks
 * want (the subscription filters on the `webhook` attribute), and for each it POSTs the event,
 * signed, to the job's webhook. A 2xx within the timeout delivers it; anything else is retried
 * with exponential backoff and jitter, by putting the event back on the same queue with a delay,
 * until the retry span after the first attempt is over; then it is given up. Every attempt is
 * recorded on the job.
 *
 * Delays longer than SQS's 15 minutes are taken in steps: a retry that arrives before its time
 * goes back for the rest of the wait without an attempt.
 */

/** What the dispatcher needs of an event; the rest is carried as it came. */
const EventSchema = z.looseObject({
  version: z.literal(EVENT_SCHEMA_VERSION),
  id: z.string().min(1),
  type: z.enum(JOB_EVENT_TYPES),
  tenantId: z.string().min(1),
  jobId: z.string().min(1),
});

/** A retry the dispatcher scheduled: the event, which attempt comes next, and when. */
const RetrySchema = z.object({
  kind: z.literal('webhook-retry'),
  event: EventSchema,
  attempt: z.number().int().min(2),
  firstAttemptAt: z.string(),
  notBefore: z.string(),
});
export type WebhookRetry = z.infer<typeof RetrySchema>;

export type DispatchOutcome = WebhookAttempt['outcome'] | 'skipped' | 'waiting';

export interface DispatcherOptions {
  /** DNS for the address guard (tests); the system resolver by default. */
  lookup?: Lookup;
  /** [0, 1) for the jitter (tests). */
  random?: () => number;
  metrics?: MetricsSink;
}

/**
 * The wait before the attempt after `failedAttempt` (1 for the first): base × 2^(n−1), capped,
 * with "equal jitter" (half fixed, half random), so a receiver that comes back is not hit by
 * every waiting delivery at the same second.
 */
export function retryDelaySeconds(
  failedAttempt: number,
  settings: Pick<WebhookSettings, 'retryBaseSeconds' | 'retryMaxSeconds'>,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(settings.retryMaxSeconds, settings.retryBaseSeconds * 2 ** (failedAttempt - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** The first attempt comes straight from the topic (the raw event); later ones as a {@link WebhookRetry}. */
function parseBody(body: string): { event: JobEvent; retry?: WebhookRetry } {
  const value = JSON.parse(body) as unknown;
  const retry = RetrySchema.safeParse(value);
  if (retry.success) return { event: retry.data.event as unknown as JobEvent, retry: retry.data };
  return { event: EventSchema.parse(value) as unknown as JobEvent };
}

/**
 * Delivers one queue message: an attempt, and then either nothing more (delivered, given up)
 * or the next attempt scheduled. Throws only when the next attempt could not be scheduled (or
 * the job could not be read): the message then comes back and this attempt is made again, so an
 * event is never dropped silently, at the price of a possible repeat that receivers drop by its
 * delivery id.
 */
export async function dispatch(
  runtime: Runtime,
  body: string,
  options: DispatcherOptions = {},
  now = new Date(),
): Promise<DispatchOutcome> {
  const settings = webhookSettings(runtime.config);
  const queue = runtime.webhookQueue;
  if (!queue) throw new Error('the webhook dispatcher needs OCRQ_WEBHOOK_QUEUE_URL');
  const { event, retry } = parseBody(body);
  if (retry && new Date(retry.notBefore).getTime() > now.getTime() + 1000) {
    await queue.send(retry, { delaySeconds: (new Date(retry.notBefore).getTime() - now.getTime()) / 1000 });
    return 'waiting';
  }
  const job = await runtime.jobs.get(event.tenantId, event.jobId);
  if (!job?.webhook || !webhookWants(job, event.type)) return 'skipped';

  const attempt = retry?.attempt ?? 1;
  const firstAttemptAt = retry?.firstAttemptAt ?? now.toISOString();
  const payload = JSON.stringify(event);
  const headers = signWebhook({
    body: payload,
    secrets: await runtime.webhookSecrets.signingSecrets(event.tenantId, now),
    deliveryId: event.id,
    eventType: event.type,
    attempt,
  });
  const posted = await postWebhook(job.webhook.url, payload, headers, {
    timeoutMs: settings.timeoutMs,
    policy: { allowLoopback: settings.allowLoopback },
    ...(options.lookup ? { lookup: options.lookup } : {}),
  });

  const delaySeconds = retryDelaySeconds(attempt, settings, options.random);
  const nextAt = new Date(Date.now() + delaySeconds * 1000);
  const spanEnds = new Date(firstAttemptAt).getTime() + settings.retrySpanSeconds * 1000;
  const outcome: WebhookAttempt['outcome'] = posted.ok
    ? 'delivered'
    : nextAt.getTime() <= spanEnds
      ? 'retrying'
      : 'gave-up';
  const record: WebhookAttempt = {
    eventId: event.id,
    eventType: event.type,
    attempt,
    at: now.toISOString(),
    ...(posted.statusCode !== undefined ? { statusCode: posted.statusCode } : {}),
    latencyMs: posted.latencyMs,
    ...(posted.error ? { error: posted.error } : {}),
    outcome,
  };
  // The record is what clients see; losing one must not send the event again.
  await runtime.jobs.recordWebhookAttempt(event.tenantId, event.jobId, record).catch((error: unknown) => {
    runtime.logger.warn('could not record a webhook attempt', { jobId: event.jobId, error: error as Error });
  });
  options.metrics?.record(METRIC.webhookAttempts, 1, outcome);
  const log = { jobId: event.jobId, eventId: event.id, type: event.type, attempt, ...posted };
  if (outcome === 'retrying') {
    const next: WebhookRetry = {
      kind: 'webhook-retry',
      event: EventSchema.parse(event),
      attempt: attempt + 1,
      firstAttemptAt,
      notBefore: nextAt.toISOString(),
    };
    await queue.send(next, { delaySeconds });
    runtime.logger.info('webhook attempt failed; retrying', { ...log, nextAt: next.notBefore });
  } else if (outcome === 'gave-up') {
    runtime.logger.warn('webhook given up after its retry span', { ...log, firstAttemptAt });
  } else runtime.logger.info('webhook delivered', log);
  return outcome;
}

/** The Lambda handler: an SQS batch, each record delivered on its own, failures reported per record. */
export function makeWebhookDispatcherHandler(runtime: Runtime, options: DispatcherOptions = {}) {
  const processor = new BatchProcessor(EventType.SQS);
  const deliver = async (record: SQSRecord) => {
    try {
      await dispatch(runtime, record.body, options);
    } catch (error) {
      if (error instanceof SyntaxError || error instanceof z.ZodError) {
        // Not an event (nothing a retry fixes): dropped, and said so.
        runtime.logger.error('dropping a webhook queue message that is not an event', {
          messageId: record.messageId,
          error: error as Error,
        });
        return;
      }
      throw error;
    }
  };
  return (event: SQSEvent) =>
    processPartialResponse(event, deliver, processor, { throwOnFullBatchFailure: false });
}
