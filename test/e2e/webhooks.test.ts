import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook, WEBHOOK_HEADERS } from '../../client/webhook-signature.ts';
import { JobEventSchema, JobViewSchema, WebhookSecretSchema } from '../../lambdas/openapi/schemas.ts';
import type { JobEvent } from '../../lambdas/shared/events.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { numberedPdf } from '../support/documents.ts';
import { PageRecognizer } from '../support/recognizers.ts';

interface Delivery {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/**
 * A real HTTP receiver on loopback. Each path answers as scripted: a list of statuses consumed
 * one per request (the last one repeats), or `silent` (never answers).
 */
class Receiver {
  readonly deliveries: Delivery[] = [];
  readonly script = new Map<string, number[] | 'silent'>();
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        const path = req.url ?? '/';
        this.deliveries.push({ path, headers: req.headers, body, at: Date.now() });
        const plan = this.script.get(path) ?? [204];
        if (plan === 'silent') return;
        const status = plan.length > 1 ? (plan.shift() as number) : (plan[0] as number);
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  to(path: string): Delivery[] {
    return this.deliveries.filter((d) => d.path === path);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('notifications on the local stack', () => {
  let stack: LocalStack;
  const receiver = new Receiver();
  let png: Buffer;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${stack.apiUrl}${path}`, {
      ...init,
      headers: { 'x-api-key': 'key-a', 'content-type': 'application/json', ...init.headers },
    });

  /** Creates a job with `extra` in its body and uploads `bytes`; returns its id. */
  async function submit(extra: Record<string, unknown>, bytes: Buffer = png, fileName = 'scan.png') {
    const res = await api('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify({
        fileName,
        contentType: fileName.endsWith('.pdf') ? 'application/pdf' : 'image/png',
        sizeBytes: bytes.length,
        ...extra,
      }),
    });
    const created = (await res.json()) as {
      jobId: string;
      upload: { url: string; headers: Record<string, string> };
    };
    expect(res.status, JSON.stringify(created)).toBe(201);
    const put = await fetch(created.upload.url, {
      method: 'PUT',
      headers: created.upload.headers,
      body: bytes,
    });
    expect(put.status).toBe(200);
    return created.jobId;
  }

  const jobView = async (jobId: string) => JobViewSchema.parse(await (await api(`/v1/jobs/${jobId}`)).json());
  const secret = async () => WebhookSecretSchema.parse(await (await api('/v1/webhook-secret')).json());

  beforeAll(async () => {
    await receiver.start();
    stack = await startLocalStack({
      port: 0,
      workers: 1,
      apiKeys: { tenantA: 'key-a' },
      recognizer: new PageRecognizer(),
      limits: { chunkPages: 1 },
      worker: { idleWaitSeconds: 1 },
      // Short retries: about a second between attempts, given up 8 s after the first.
      webhooks: { timeoutMs: 300, retryBaseSeconds: 1, retryMaxSeconds: 1, retrySpanSeconds: 8 },
      logLevel: 'SILENT',
    });
    png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it('POSTs the signed event of a finished job, which verifies with the tenant secret', async () => {
    const jobId = await submit({ webhook: { url: `${receiver.url}/ok` } });
    const [delivery] = await until('the delivery', () =>
      receiver.to('/ok').length > 0 ? receiver.to('/ok') : undefined,
    );
    const { secret: current } = await secret();
    const event = verifyWebhook({ body: delivery!.body, headers: delivery!.headers, secret: current });
    expect(JobEventSchema.parse(event)).toMatchObject({
      version: 1,
      type: 'job.succeeded',
      jobId,
      tenantId: 'tenantA',
      status: 'SUCCEEDED',
      pages: { done: 1, total: 1 },
    });
    expect(delivery!.headers[WEBHOOK_HEADERS.deliveryId]).toBe(event.id);
    expect(delivery!.headers[WEBHOOK_HEADERS.event]).toBe('job.succeeded');
    expect(() =>
      verifyWebhook({ body: delivery!.body, headers: delivery!.headers, secret: 'whsec_wrong' }),
    ).toThrow();

    const view = await until('the recorded attempt', async () => {
      const job = await jobView(jobId);
      return job.webhook?.attempts.length ? job : undefined;
    });
    expect(view.webhook).toMatchObject({
      url: `${receiver.url}/ok`,
      events: ['job.succeeded', 'job.failed', 'job.cancelled'],
    });
    expect(view.webhook?.attempts).toEqual([
      expect.objectContaining({
        eventId: event.id,
        eventType: 'job.succeeded',
        attempt: 1,
        statusCode: 204,
        outcome: 'delivered',
      }),
    ]);
  });

  it('retries a receiver that fails twice, then records exactly one success after 3 attempts', async () => {
    receiver.script.set('/flaky', [500, 503, 200]);
    const jobId = await submit({ webhook: { url: `${receiver.url}/flaky` } });
    const view = await until('the delivered attempt', async () => {
      const job = await jobView(jobId);
      return job.webhook?.attempts.some((a) => a.outcome === 'delivered') ? job : undefined;
    });
    await sleep(2500); // nothing more comes after a delivery
    const deliveries = receiver.to('/flaky');
    expect(deliveries).toHaveLength(3);
    // One event: the same delivery id on every attempt, numbered, spaced by the backoff.
    expect(new Set(deliveries.map((d) => d.headers[WEBHOOK_HEADERS.deliveryId])).size).toBe(1);
    expect(deliveries.map((d) => d.headers[WEBHOOK_HEADERS.attempt])).toEqual(['1', '2', '3']);
    expect(deliveries[1]!.at - deliveries[0]!.at).toBeGreaterThanOrEqual(900);
    const attempts = (await jobView(jobId)).webhook?.attempts ?? [];
    expect(attempts.map((a) => [a.attempt, a.statusCode, a.outcome])).toEqual([
      [1, 500, 'retrying'],
      [2, 503, 'retrying'],
      [3, 200, 'delivered'],
    ]);
    expect(view.webhook?.attempts.filter((a) => a.outcome === 'delivered')).toHaveLength(1);
  }, 30_000);

  it('gives up on a receiver that never answers, and records every attempt', async () => {
    receiver.script.set('/silent', 'silent');
    const jobId = await submit({ webhook: { url: `${receiver.url}/silent` } });
    const attempts = await until(
      'the attempt given up',
      async () => {
        const job = await jobView(jobId);
        return job.webhook?.attempts.some((a) => a.outcome === 'gave-up') ? job.webhook.attempts : undefined;
      },
      30_000,
    );
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.at(-1)).toMatchObject({ outcome: 'gave-up' });
    for (const attempt of attempts.slice(0, -1)) expect(attempt.outcome).toBe('retrying');
    for (const attempt of attempts) {
      expect(attempt.statusCode).toBeUndefined();
      expect(attempt.error).toContain('300 ms');
    }
    expect(receiver.to('/silent')).toHaveLength(attempts.length);
    await sleep(2500);
    expect(receiver.to('/silent')).toHaveLength(attempts.length);
  }, 40_000);

  it('sends progress per chunk to a webhook that asks for it', async () => {
    const jobId = await submit(
      { webhook: { url: `${receiver.url}/progress`, events: ['job.progress', 'job.succeeded'] } },
      await numberedPdf(3),
      'three.pdf',
    );
    const events = await until('the progress and the end', () => {
      const got = receiver.to('/progress').map((d) => JSON.parse(d.body) as JobEvent);
      return got.some((e) => e.type === 'job.succeeded') && got.length >= 4 ? got : undefined;
    });
    const progress = events.filter((e) => e.type === 'job.progress');
    expect(progress.map((e) => e.chunk?.index).sort()).toEqual([0, 1, 2]);
    expect(progress.every((e) => e.jobId === jobId && e.chunk?.total === 3)).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('publishes every event to the topic with attributes subscribers filter on', async () => {
    const { aws } = stack.emulators;
    const { queueUrl } = aws.createQueue('subscriber-succeeded');
    aws.subscribe({
      topic: 'ocr-pipeline-events',
      queue: 'subscriber-succeeded',
      attributes: {
        RawMessageDelivery: 'true',
        FilterPolicy: JSON.stringify({ type: ['job.succeeded'], tenantId: ['tenantA'] }),
      },
    });
    const jobId = await submit({});
    const sqs = new SQSClient({
      region: 'us-east-1',
      endpoint: stack.emulators.awsEndpoint,
      useQueueUrlAsEndpoint: false,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const message = await until('the subscriber copy', async () => {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            WaitTimeSeconds: 1,
            MessageAttributeNames: ['All'],
          }),
        );
        return out.Messages?.find((m) => m.Body?.includes(jobId));
      });
      const event = JobEventSchema.parse(JSON.parse(message.Body ?? ''));
      expect(event).toMatchObject({ type: 'job.succeeded', jobId, status: 'SUCCEEDED' });
      // Only job.succeeded passed the filter.
      const rest = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
      expect((rest.Messages ?? []).filter((m) => m.Body?.includes(`"type":"job.queued"`))).toEqual([]);
    } finally {
      sqs.destroy();
    }
  });

  it('rotates the secret: deliveries verify with the old one for the grace period, and with the new one', async () => {
    const before = await secret();
    const rotated = WebhookSecretSchema.parse(
      await (await api('/v1/webhook-secret/rotate', { method: 'POST' })).json(),
    );
    expect(rotated.secret).not.toBe(before.secret);
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(Date.parse(rotated.previousExpiresAt ?? '')).toBeGreaterThan(Date.now() + 23 * 3600_000);
    expect((await secret()).secret).toBe(rotated.secret);

    await submit({ webhook: { url: `${receiver.url}/rotated` } });
    const [delivery] = await until('the delivery', () =>
      receiver.to('/rotated').length > 0 ? receiver.to('/rotated') : undefined,
    );
    for (const key of [before.secret, rotated.secret]) {
      expect(verifyWebhook({ body: delivery!.body, headers: delivery!.headers, secret: key }).type).toBe(
        'job.succeeded',
      );
    }
  });

  it('refuses webhook URLs the guard does not allow, with a clear code', async () => {
    for (const url of [
      'https://10.0.0.1/hook',
      'https://169.254.169.254/latest/meta-data',
      'https://[fd00::1]/hook',
      'http://192.168.1.10/hook',
      'https://user:pw@127.0.0.1/hook',
      'not a url',
    ]) {
      const res = await api('/v1/jobs', {
        method: 'POST',
        body: JSON.stringify({
          fileName: 'a.png',
          contentType: 'image/png',
          sizeBytes: 10,
          webhook: { url },
        }),
      });
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect([res.status, body.error.code], url).toEqual([400, 'WEBHOOK_URL_NOT_ALLOWED']);
    }
    const unknownEvent = await api('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify({
        fileName: 'a.png',
        contentType: 'image/png',
        sizeBytes: 10,
        webhook: { url: `${receiver.url}/x`, events: ['job.exploded'] },
      }),
    });
    expect(unknownEvent.status).toBe(400);
  });
});
