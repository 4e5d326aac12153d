import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobEvent } from '../../lambdas/shared/events.ts';
import { WEBHOOK_ATTEMPTS_KEPT, type WebhookAttempt } from '../../lambdas/shared/job.ts';
import {
  dispatch,
  makeWebhookDispatcherHandler,
  retryDelaySeconds,
} from '../../lambdas/webhook-dispatcher/webhook-dispatcher.ts';
import { type EmulatedRuntime, queuedJob, startEmulatedRuntime } from '../support/emulated.ts';

/** Stores and dispatcher steps against dynalite and fauxqs, which enforce what mocks would not. */
describe('webhook secrets, attempts and dispatch against the emulators', () => {
  let emulated: EmulatedRuntime;
  beforeAll(async () => {
    emulated = await startEmulatedRuntime();
  });
  afterAll(() => emulated?.stop());

  it('creates one secret on first use, even when first uses race', async () => {
    const { webhookSecrets } = emulated.runtime;
    const secrets = await Promise.all(Array.from({ length: 5 }, () => webhookSecrets.get('race')));
    expect(new Set(secrets.map((s) => s.secret)).size).toBe(1);
    expect(secrets[0]?.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(await webhookSecrets.signingSecrets('race')).toEqual([secrets[0]?.secret]);
  });

  it('rotates: the previous secret signs until its grace ends, then only the new one', async () => {
    const { webhookSecrets } = emulated.runtime;
    const first = await webhookSecrets.get('rotating');
    const second = await webhookSecrets.rotate('rotating', 3600);
    expect(second.previous?.secret).toBe(first.secret);
    expect(await webhookSecrets.signingSecrets('rotating')).toEqual([second.secret, first.secret]);
    const later = new Date(Date.now() + 3601_000);
    expect(await webhookSecrets.signingSecrets('rotating', later)).toEqual([second.secret]);
    // Rotations that race each take their turn: none is lost, the last one is current.
    const raced = await Promise.all([
      webhookSecrets.rotate('rotating', 60),
      webhookSecrets.rotate('rotating', 60),
    ]);
    const current = await webhookSecrets.get('rotating');
    expect(raced.map((r) => r.secret)).toContain(current.secret);
    expect(raced.map((r) => r.secret)).toContain(current.previous?.secret);
  });

  it(`keeps the latest ${WEBHOOK_ATTEMPTS_KEPT} attempts on the job, oldest first`, async () => {
    const job = queuedJob({ tenantId: 'attempts' });
    await emulated.runtime.jobs.create(job);
    const attempt = (n: number): WebhookAttempt => ({
      eventId: 'evt_x',
      eventType: 'job.succeeded',
      attempt: n,
      at: new Date().toISOString(),
      latencyMs: 1,
      outcome: 'retrying',
    });
    for (let n = 1; n <= WEBHOOK_ATTEMPTS_KEPT + 3; n++) {
      expect(await emulated.runtime.jobs.recordWebhookAttempt(job.tenantId, job.jobId, attempt(n))).toBe(
        true,
      );
    }
    const stored = await emulated.runtime.jobs.get(job.tenantId, job.jobId);
    expect(stored?.webhookAttempts?.map((a) => a.attempt)).toEqual(
      Array.from({ length: WEBHOOK_ATTEMPTS_KEPT }, (_, i) => i + 4),
    );
    // Another tenant's job id writes nothing.
    expect(await emulated.runtime.jobs.recordWebhookAttempt('other', job.jobId, attempt(99))).toBe(false);
  });

  it('backs off exponentially with jitter, capped', () => {
    const settings = { retryBaseSeconds: 10, retryMaxSeconds: 3600 };
    expect(retryDelaySeconds(1, settings, () => 0)).toBe(5);
    expect(retryDelaySeconds(1, settings, () => 0.999)).toBeCloseTo(10, 1);
    expect(retryDelaySeconds(4, settings, () => 0)).toBe(40);
    expect(retryDelaySeconds(20, settings, () => 0)).toBe(1800);
    expect(retryDelaySeconds(20, settings, () => 0.999)).toBeLessThanOrEqual(3600);
  });

  it('skips events of jobs without a webhook, and puts back a retry that came early', async () => {
    const { runtime } = emulated;
    const job = queuedJob({ tenantId: 'dispatch' });
    await runtime.jobs.create(job);
    const event = jobEvent(
      { ...job, status: 'SUCCEEDED', finishedAt: new Date().toISOString() },
      'job.succeeded',
    );
    expect(await dispatch(runtime, JSON.stringify(event))).toBe('skipped');

    const early = {
      kind: 'webhook-retry',
      event,
      attempt: 2,
      firstAttemptAt: new Date().toISOString(),
      notBefore: new Date(Date.now() + 3_600_000).toISOString(),
    };
    expect(await dispatch(runtime, JSON.stringify(early))).toBe('waiting');
    // It waits on the queue (delayed), not visible now.
    expect(await runtime.webhookQueue?.receive(10, 1, 0)).toEqual([]);
  });

  it('drops a queue message that is not an event: no retry could fix it', async () => {
    const handler = makeWebhookDispatcherHandler(emulated.runtime);
    const record = (messageId: string, body: string) =>
      ({ messageId, body, receiptHandle: 'r', attributes: {}, messageAttributes: {} }) as never;
    const response = await handler({
      Records: [record('not-json', '{oops'), record('not-event', '{"hello":1}')],
    });
    expect(response.batchItemFailures).toEqual([]);
  });
});
