import { describe, expect, it } from 'vitest';
import {
  computeSignature,
  signWebhook,
  verifyWebhook,
  WEBHOOK_HEADERS,
  WebhookVerificationError,
} from '../../client/webhook-signature.ts';
import { jobEvent } from '../../lambdas/shared/events.ts';

const SECRET = 'whsec_test-secret';
const FINISHED = {
  tenantId: 't1',
  jobId: 'job-1',
  status: 'SUCCEEDED',
  fileName: 'scan.png',
  pages: { done: 1, total: 1 },
  finishedAt: '2026-12-01T10:00:00.000Z',
} as const;
const event = jobEvent(FINISHED, 'job.succeeded');
const body = JSON.stringify(event);
const NOW = 1_800_000_000;
const signed = (secrets: string[] = [SECRET], timestamp = NOW) =>
  signWebhook({ body, secrets, deliveryId: event.id, eventType: event.type, attempt: 1, timestamp });

function refusal(run: () => unknown): WebhookVerificationError {
  try {
    run();
  } catch (error) {
    if (error instanceof WebhookVerificationError) return error;
    throw error;
  }
  throw new Error('expected the delivery to be refused');
}

describe('webhook signatures', () => {
  it('round-trips: a signed delivery verifies and gives back its event', () => {
    const headers = signed();
    expect(headers[WEBHOOK_HEADERS.signature]).toBe(`v1=${computeSignature(SECRET, NOW, body)}`);
    expect(headers[WEBHOOK_HEADERS.deliveryId]).toBe(event.id);
    expect(verifyWebhook({ body, headers, secret: SECRET, now: NOW + 10 })).toEqual(event);
    // Raw bytes, a fetch Headers object and header names in any case work alike.
    const fetchHeaders = new Headers(signed());
    expect(
      verifyWebhook({ body: Buffer.from(body), headers: fetchHeaders, secret: SECRET, now: NOW }),
    ).toEqual(event);
    const upper = Object.fromEntries(Object.entries(signed()).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyWebhook({ body, headers: upper, secret: SECRET, now: NOW }).id).toBe(event.id);
  });

  it('refuses a tampered body', () => {
    const tampered = body.replace('"SUCCEEDED"', '"FAILED"');
    expect(tampered).not.toBe(body);
    expect(
      refusal(() => verifyWebhook({ body: tampered, headers: signed(), secret: SECRET, now: NOW })).code,
    ).toBe('SIGNATURE_MISMATCH');
  });

  it('refuses a delivery signed with another secret, or with its timestamp changed', () => {
    expect(
      refusal(() => verifyWebhook({ body, headers: signed(['whsec_other']), secret: SECRET, now: NOW })).code,
    ).toBe('SIGNATURE_MISMATCH');
    const replayed = { ...signed(), [WEBHOOK_HEADERS.timestamp]: String(NOW + 60) };
    expect(
      refusal(() => verifyWebhook({ body, headers: replayed, secret: SECRET, now: NOW + 60 })).code,
    ).toBe('SIGNATURE_MISMATCH');
  });

  it('refuses an old timestamp (a replay), and one from the future, beyond the tolerance', () => {
    const headers = signed();
    expect(refusal(() => verifyWebhook({ body, headers, secret: SECRET, now: NOW + 301 })).code).toBe(
      'TIMESTAMP_OUT_OF_RANGE',
    );
    expect(refusal(() => verifyWebhook({ body, headers, secret: SECRET, now: NOW - 301 })).code).toBe(
      'TIMESTAMP_OUT_OF_RANGE',
    );
    expect(verifyWebhook({ body, headers, secret: SECRET, now: NOW + 3000, toleranceSeconds: 3600 }).id).toBe(
      event.id,
    );
  });

  it('refuses a delivery without its headers, and a body that is not an event', () => {
    expect(refusal(() => verifyWebhook({ body, headers: {}, secret: SECRET, now: NOW })).code).toBe(
      'MISSING_HEADER',
    );
    const notEvent = '[1,2,3]';
    const headers = signWebhook({
      body: notEvent,
      secrets: [SECRET],
      deliveryId: 'x',
      eventType: 'x',
      attempt: 1,
      timestamp: NOW,
    });
    expect(refusal(() => verifyWebhook({ body: notEvent, headers, secret: SECRET, now: NOW })).code).toBe(
      'INVALID_PAYLOAD',
    );
  });

  it('during a rotation signs with both secrets: receivers with either verify', () => {
    const headers = signed(['whsec_new', 'whsec_old']);
    expect(headers[WEBHOOK_HEADERS.signature]?.split(',')).toHaveLength(2);
    expect(verifyWebhook({ body, headers, secret: 'whsec_old', now: NOW }).id).toBe(event.id);
    expect(verifyWebhook({ body, headers, secret: 'whsec_new', now: NOW }).id).toBe(event.id);
    expect(
      verifyWebhook({ body, headers: signed(['whsec_new']), secret: ['whsec_new', 'whsec_old'], now: NOW })
        .id,
    ).toBe(event.id);
  });
});

describe('job events', () => {
  it('carry the schema version and an id that is the same for the same event', () => {
    expect(event.version).toBe(1);
    expect(jobEvent(FINISHED, 'job.succeeded').id).toBe(event.id);
    // The same job's next end (after a retry) is another event; so is another type.
    expect(jobEvent({ ...FINISHED, finishedAt: '2026-12-02T00:00:00.000Z' }, 'job.succeeded').id).not.toBe(
      event.id,
    );
    expect(jobEvent({ ...FINISHED, status: 'FAILED' }, 'job.failed').id).not.toBe(event.id);
  });
});
