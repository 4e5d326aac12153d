import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { onShutdownSignals } from '../../gpu-worker/src/drain.ts';
import { FairReceiver, type FairReceiverOptions } from '../../gpu-worker/src/fair-receiver.ts';
import { messageDeadlineMs, VisibilityHeartbeat } from '../../gpu-worker/src/heartbeat.ts';
import type { OcrResult } from '../../gpu-worker/src/ocr/index.ts';
import { TaskProtection } from '../../gpu-worker/src/task-protection.ts';
import { Worker } from '../../gpu-worker/src/worker.ts';
import type { ReceivedMessage } from '../../lambdas/shared/adapters/work-queue.ts';
import type { Priority } from '../../lambdas/shared/job.ts';
import { EmfMetrics, PrometheusRegistry, parsePushedRecords } from '../../lambdas/shared/metrics.ts';
import { startApiServer } from '../../local/api-server.ts';
import { formatEnvFile } from '../../local/stack.ts';
import { jobItem, makeJob, mockedRuntime, WORK } from '../support/runtime.ts';

const silent = {
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
  info: () => undefined,
};

/**
 * An in-memory standard queue that behaves like fauxqs: FIFO, receives hide messages for their
 * visibility, visibility 0 or an expired one puts a message at the back, receive counts grow.
 */
class FakeQueue {
  private seq = 0;
  readonly messages: Array<{ id: string; body: string; receives: number; hiddenUntil: number }> = [];
  receives = 0;
  readonly visibilityChanges: Array<{ id: string; seconds: number }> = [];

  send(tenantId: string, n = 1): void {
    for (let i = 0; i < n; i++) {
      const id = `m${++this.seq}`;
      this.messages.push({ id, body: JSON.stringify({ tenantId, id }), receives: 0, hiddenUntil: 0 });
    }
  }

  async receive(
    queue: Priority,
    options: { maxMessages: number; visibilitySeconds?: number },
  ): Promise<ReceivedMessage[]> {
    this.receives += 1;
    const now = Date.now();
    const out: ReceivedMessage[] = [];
    for (const m of this.messages) {
      if (out.length >= options.maxMessages) break;
      if (m.hiddenUntil > now) continue;
      m.receives += 1;
      m.hiddenUntil = now + (options.visibilitySeconds ?? 30) * 1000;
      out.push({
        queue,
        messageId: m.id,
        receiptHandle: `${m.id}#${m.receives}`,
        body: m.body,
        receiveCount: m.receives,
      });
    }
    return queue === 'express' ? out : [];
  }

  async extendVisibility(message: ReceivedMessage, seconds: number): Promise<void> {
    this.visibilityChanges.push({ id: message.messageId, seconds });
    const index = this.messages.findIndex((m) => m.id === message.messageId);
    const [m] = this.messages.splice(index, 1);
    if (!m) throw new Error('no such message');
    m.hiddenUntil = Date.now() + seconds * 1000;
    // Visible again: at the back, as fauxqs does.
    if (seconds === 0) this.messages.push(m);
    else this.messages.splice(index, 0, m);
  }

  take(message: ReceivedMessage): void {
    this.messages.splice(
      this.messages.findIndex((m) => m.id === message.messageId),
      1,
    );
  }
}

const tenantOf = (m: ReceivedMessage) => (JSON.parse(m.body) as { tenantId: string }).tenantId;

describe('FairReceiver', () => {
  const options: FairReceiverOptions = {
    idleWaitSeconds: 0,
    visibilitySeconds: 30,
    bulkShare: 0,
    batchSize: 10,
    deferSeconds: 10,
    narrowAfterDeliveries: 2,
    maxParked: 20,
  };
  let queue: FakeQueue;
  let inHand: Map<string, number>;
  let stop: AbortController;
  let receiver: FairReceiver;
  beforeEach(() => {
    queue = new FakeQueue();
    inHand = new Map();
    stop = new AbortController();
    receiver = new FairReceiver(queue, options, (t) => inHand.get(t) ?? 0, silent, stop.signal);
  });

  /** Takes one message as a worker slot would, holding it in hand until `done` is called. */
  const takeOne = async () => {
    const message = await receiver.next();
    if (!message) return undefined;
    const tenant = tenantOf(message);
    inHand.set(tenant, (inHand.get(tenant) ?? 0) + 1);
    return {
      message,
      tenant,
      done: () => {
        queue.take(message);
        inHand.set(tenant, (inHand.get(tenant) ?? 1) - 1);
      },
    };
  };

  it("reaches a later tenant's message behind another tenant's backlog within a few receives, giving nothing back", async () => {
    // As far as the slots and the parked set reach (1 + 20 here); further as the parked set drains.
    queue.send('A', 20);
    queue.send('B', 1);
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      const slot = await takeOne();
      order.push(slot!.tenant);
      slot!.done();
    }
    expect(order.indexOf('B')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('B')).toBeLessThanOrEqual(3);
    expect(queue.visibilityChanges.filter((c) => c.seconds === 0)).toEqual([]);
  });

  it('serves messages set aside from its own hand, without receiving them again', async () => {
    queue.send('A', 12);
    const first = await takeOne();
    expect(receiver.parkedCount).toBe(9);
    first!.done();
    const receivesBefore = queue.receives;
    const second = await takeOne();
    expect(second!.message.receiveCount).toBe(1);
    // One receive looked ahead (and found the last two); the message given came from the parked set.
    expect(queue.receives - receivesBefore).toBe(1);
    expect(queue.visibilityChanges.filter((c) => c.id === second!.message.messageId).at(-1)?.seconds).toBe(
      30,
    );
  });

  it('gives back at once what a receive that came back short brought (no backlog to look past)', async () => {
    queue.send('A', 3);
    await takeOne();
    expect(receiver.parkedCount).toBe(0);
    expect(queue.visibilityChanges.map((c) => c.seconds)).toEqual([0, 0]);
  });

  it('keeps messages delivered more than narrowAfterDeliveries times rather than giving them back, then serves them without a receive', async () => {
    queue.send('A', 15);
    for (const m of queue.messages) m.receives = 2;
    const slot = await takeOne();
    expect(slot!.message.receiveCount).toBe(3);
    // The nine others are set aside with their receipts: given back, each would be delivered again.
    expect(receiver.parkedCount).toBe(9);
    expect(queue.visibilityChanges.filter((c) => c.seconds === 0)).toEqual([]);
    slot!.done();
    // Narrow now: no look-ahead, and while the parked set can serve the slots, no receive at all.
    const receivesBefore = queue.receives;
    const next = await takeOne();
    expect(next!.message.receiveCount).toBe(3);
    expect(queue.receives).toBe(receivesBefore);
    expect(receiver.parkedCount).toBe(8);
  });

  it('gives every parked message back on close', async () => {
    queue.send('A', 12);
    await takeOne();
    expect(receiver.parkedCount).toBe(9);
    stop.abort();
    await receiver.close();
    expect(receiver.parkedCount).toBe(0);
    expect(queue.visibilityChanges.filter((c) => c.seconds === 0)).toHaveLength(9);
    expect(await receiver.next()).toBeUndefined();
  });
});

describe('VisibilityHeartbeat', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const message: ReceivedMessage = {
    queue: 'express',
    messageId: 'm',
    receiptHandle: 'r',
    body: '{}',
    receiveCount: 1,
  };

  it('renews at a third of the visibility, never past the deadline, then gives the message back', async () => {
    const calls: number[] = [];
    const queue = { extendVisibility: async (_m: ReceivedMessage, s: number) => void calls.push(s) };
    const expired = vi.fn();
    const heartbeat = new VisibilityHeartbeat(
      queue,
      message,
      { visibilitySeconds: 30, deadlineMs: 45_000, onExpired: expired },
      silent,
    );
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toEqual([30]);
    await vi.advanceTimersByTimeAsync(30_000);
    // At 20 s: 25 s left; at 30 s: 15 s; at 40 s: 5 s.
    expect(calls).toEqual([30, 25, 15, 5]);
    expect(heartbeat.expired).toBe(false);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(heartbeat.expired).toBe(true);
    expect(expired).toHaveBeenCalledOnce();
    expect(calls.at(-1)).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls.at(-1)).toBe(0);
    expect(calls).toHaveLength(5);
  });

  it('stops without giving back once the work settled', async () => {
    const calls: number[] = [];
    const heartbeat = new VisibilityHeartbeat(
      { extendVisibility: async (_m, s) => void calls.push(s) },
      message,
      { visibilitySeconds: 30, deadlineMs: 45_000 },
      silent,
    );
    heartbeat.stop();
    await vi.advanceTimersByTimeAsync(100_000);
    expect(calls).toEqual([]);
    expect(heartbeat.expired).toBe(false);
  });

  it('scales the deadline with the pages', () => {
    expect(messageDeadlineMs(8, { baseSeconds: 300, perPageSeconds: 30 })).toBe(540_000);
    expect(messageDeadlineMs(0, { baseSeconds: 10, perPageSeconds: 5 })).toBe(15_000);
  });
});

describe('TaskProtection', () => {
  it('is a no-op outside ECS', async () => {
    const fetchFn = vi.fn();
    const protection = new TaskProtection(undefined, silent, {}, fetchFn as unknown as typeof fetch);
    protection.set(true);
    await protection.close();
    expect(protection.enabled).toBe(false);
    expect(fetchFn).not.toHaveBeenCalled();
  });

  it('turns protection on while busy and off when idle, sending only the latest wanted state', async () => {
    const bodies: unknown[] = [];
    const fetchFn = vi.fn(async (url: string, init: RequestInit) => {
      expect(url).toBe('http://agent/task-protection/v1/state');
      expect(init.method).toBe('PUT');
      bodies.push(JSON.parse(String(init.body)));
      await sleep(5);
      return new Response(JSON.stringify({ protection: {} }), { status: 200 });
    });
    const protection = new TaskProtection(
      'http://agent',
      silent,
      { expiresInMinutes: 30, idleOffMs: 0 },
      fetchFn as never,
    );
    protection.set(true);
    protection.set(false);
    protection.set(true);
    await protection.settled();
    protection.set(false);
    await protection.settled();
    // The false in between was superseded before it was sent.
    expect(bodies).toEqual([{ ProtectionEnabled: true, ExpiresInMinutes: 30 }, { ProtectionEnabled: false }]);
    await protection.close();
    expect(bodies).toHaveLength(2);
  });

  it('turns protection off only after a moment of idleness (not between two messages)', async () => {
    const bodies: Array<{ ProtectionEnabled: boolean }> = [];
    const fetchFn = vi.fn(async (_url: string, init: RequestInit) => {
      bodies.push(JSON.parse(String(init.body)));
      return new Response('{}', { status: 200 });
    });
    const protection = new TaskProtection('http://agent', silent, { idleOffMs: 50 }, fetchFn as never);
    protection.set(true);
    await protection.settled();
    protection.set(false);
    protection.set(true);
    await sleep(100);
    expect(bodies.map((b) => b.ProtectionEnabled)).toEqual([true]);
    protection.set(false);
    await sleep(100);
    await protection.settled();
    expect(bodies.map((b) => b.ProtectionEnabled)).toEqual([true, false]);
    await protection.close();
  });

  it('logs a refusal and keeps the state to try again', async () => {
    const warn = vi.fn();
    const fetchFn = vi.fn(
      async () => new Response(JSON.stringify({ failure: { Reason: 'nope' } }), { status: 200 }),
    );
    const protection = new TaskProtection('http://agent', { warn }, {}, fetchFn as never);
    protection.set(true);
    await protection.settled();
    expect(warn).toHaveBeenCalledWith(
      'the ECS agent refused the task protection change',
      expect.objectContaining({ protect: true }),
    );
    await protection.close();
  });
});

describe('onShutdownSignals', () => {
  it('drains on the first signal and exits with its result; a second signal exits at once', async () => {
    const target = new EventEmitter();
    const exits: number[] = [];
    let finishDrain: (code: number) => void = () => undefined;
    onShutdownSignals(() => new Promise<number>((resolve) => (finishDrain = resolve)), {
      logger: silent,
      exit: (code) => exits.push(code),
      target: target as never,
    });
    target.emit('SIGTERM');
    expect(exits).toEqual([]);
    target.emit('SIGINT');
    expect(exits).toEqual([130]);
    finishDrain(0);
    await sleep(0);
    expect(exits).toEqual([130, 0]);
  });
});

describe('Worker shutdown and health', () => {
  /** A runtime whose queue hands out one message, over a job the store keeps QUEUED → PROCESSING. */
  function setup() {
    const ctx = mockedRuntime();
    const job = makeJob({ status: 'QUEUED', pages: { done: 0, total: 1 }, chunks: { total: 1, pages: 8 } });
    ctx.mocks.dynamo.on(GetCommand).resolves({ Item: jobItem(job) });
    ctx.mocks.dynamo.on(UpdateCommand).resolves({ Attributes: jobItem({ ...job, status: 'PROCESSING' }) });
    ctx.mocks.dynamo.on(PutCommand).resolves({});
    ctx.mocks.sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          {
            MessageId: 'm-1',
            ReceiptHandle: 'rh-1',
            Body: JSON.stringify(WORK),
            Attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now() - 250) },
          },
        ],
      })
      .callsFake(async () => {
        await sleep(20);
        return {};
      });
    ctx.mocks.sqs.on(ChangeMessageVisibilityCommand).resolves({});
    ctx.mocks.sqs.on(DeleteMessageCommand).resolves({});
    ctx.mocks.s3.resolves({});
    let fail: (error: Error) => void = () => undefined;
    const recognize = vi.fn(
      () =>
        new Promise<OcrResult>((_, reject) => {
          fail = reject;
        }),
    );
    return { ...ctx, recognize, fail: (e: Error) => fail(e) };
  }

  const failedAttempts = (ctx: ReturnType<typeof setup>) =>
    ctx.mocks.dynamo
      .commandCalls(UpdateCommand)
      .filter((c) => c.args[0].input.UpdateExpression?.includes('#failures'));
  const visibility = (ctx: ReturnType<typeof setup>) =>
    ctx.mocks.sqs.commandCalls(ChangeMessageVisibilityCommand).map((c) => c.args[0].input.VisibilityTimeout);

  it('gives back what is still in hand when the grace period ends, and records no failed attempt', async () => {
    const ctx = setup();
    const busy: boolean[] = [];
    const worker = new Worker(
      ctx.runtime,
      { recognize: ctx.recognize },
      { idleWaitSeconds: 0, concurrency: 1 },
      { onBusyChange: (b) => busy.push(b) },
    );
    const running = worker.run();
    await vi.waitFor(() => expect(ctx.recognize).toHaveBeenCalled());
    expect(worker.inHandCount).toBe(1);
    expect(busy).toEqual([true]);
    expect(await worker.close({ graceMs: 50 })).toEqual({ returned: 1 });
    expect(visibility(ctx)).toContain(0);
    // The engine closing under the abandoned work fails it: not an attempt, and no queue call.
    ctx.fail(new Error('pool is closed'));
    await running;
    await vi.waitFor(() => expect(worker.inHandCount).toBe(0));
    expect(failedAttempts(ctx)).toHaveLength(0);
    expect(ctx.mocks.sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
    expect(busy).toEqual([true, false]);
  });

  it('turns unhealthy when a message passes its deadline, gives it back, and counts a TIMEOUT', async () => {
    const ctx = setup();
    const metrics = new PrometheusRegistry('gpu-worker');
    const worker = new Worker(
      ctx.runtime,
      { recognize: ctx.recognize },
      { idleWaitSeconds: 0, concurrency: 1, deadline: { baseSeconds: 0.1, perPageSeconds: 0 } },
      { metrics },
    );
    expect(worker.isHealthy()).toBe(false);
    void worker.run();
    await vi.waitFor(() => expect(ctx.recognize).toHaveBeenCalled());
    expect(worker.isHealthy()).toBe(true);
    expect(metrics.total('QueueWaitMs')).toBeGreaterThanOrEqual(250);
    await vi.waitFor(() => expect(worker.isHealthy()).toBe(false));
    expect(visibility(ctx)).toContain(0);
    expect(metrics.total('WorkerErrors', 'TIMEOUT')).toBe(1);
    // The hung work ends at last: the message was given back, so nothing more is done with it.
    ctx.fail(new Error('engine gave up'));
    await vi.waitFor(() => expect(worker.inHandCount).toBe(0));
    expect(worker.isHealthy()).toBe(true);
    expect(ctx.mocks.sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
    await worker.close();
  });
});

describe('metrics', () => {
  it('serves counters and summaries in the Prometheus text format, times in seconds', () => {
    const registry = new PrometheusRegistry('gpu-worker');
    registry.record('PagesProcessed', 8);
    registry.record('PagesProcessed', 2);
    registry.record('EngineMs', 1500);
    registry.record('EngineMs', 500);
    registry.record('JobsFailed', 1, 'INVALID_INPUT');
    const text = registry.render();
    expect(text).toContain(
      '# TYPE ocrpipeline_pages_processed_total counter\nocrpipeline_pages_processed_total{service="gpu-worker"} 10\n',
    );
    expect(text).toContain('ocrpipeline_engine_seconds_sum{service="gpu-worker"} 2\n');
    expect(text).toContain('ocrpipeline_engine_seconds_count{service="gpu-worker"} 2\n');
    expect(text).toContain(
      'ocrpipeline_jobs_failed_total{service="gpu-worker",error_code="INVALID_INPUT"} 1\n',
    );
    expect(text).toContain('ocrpipeline_jobs_succeeded_total{service="gpu-worker"} 0\n');
  });

  it('prints EMF lines in the OcrPipeline namespace with the service, error codes as their own line', () => {
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const emf = new EmfMetrics({ serviceName: 'gpu-worker' });
      emf.record('WorkerErrors', 1, 'TIMEOUT');
      emf.record('PagesProcessed', 3);
      emf.record('QueueWaitMs', 120);
      emf.flush();
      emf.flush();
    } finally {
      write.mockRestore();
    }
    const docs = lines.map((l) => JSON.parse(l));
    expect(docs).toHaveLength(2);
    expect(docs[0]).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'OcrPipeline', Dimensions: [['service', 'ErrorCode']] }] },
      service: 'gpu-worker',
      ErrorCode: 'TIMEOUT',
      WorkerErrors: 1,
    });
    expect(docs[1]).toMatchObject({ service: 'gpu-worker', PagesProcessed: 3, QueueWaitMs: 120 });
  });

  it('accepts pushed records of known metrics only', () => {
    expect(parsePushedRecords([{ name: 'PagesProcessed', value: 2 }])).toEqual([
      { name: 'PagesProcessed', value: 2 },
    ]);
    expect(() => parsePushedRecords([{ name: 'Nope', value: 1 }])).toThrow();
    expect(() => parsePushedRecords({})).toThrow();
  });

  it('is served and fed over HTTP by the local API server', async () => {
    const registry = new PrometheusRegistry('gpu-worker');
    const api = await startApiServer({
      port: 0,
      routes: [],
      metrics: {
        render: () => registry.render(),
        ingest: (body) => {
          for (const r of parsePushedRecords(body)) registry.record(r.name, r.value, r.errorCode);
        },
      },
    });
    try {
      const pushed = await fetch(`${api.url}/metrics`, {
        method: 'POST',
        body: JSON.stringify([{ name: 'WorkerErrors', value: 1, errorCode: 'TIMEOUT' }]),
      });
      expect(pushed.status).toBe(204);
      const bad = await fetch(`${api.url}/metrics`, { method: 'POST', body: '[{"name":"x","value":1}]' });
      expect(bad.status).toBe(400);
      const res = await fetch(`${api.url}/metrics`);
      expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      expect(await res.text()).toContain(
        'ocrpipeline_worker_errors_total{service="gpu-worker",error_code="TIMEOUT"} 1',
      );
    } finally {
      await api.close();
    }
  });
});

describe('the worker env file', () => {
  it('writes KEY=VALUE lines that process.loadEnvFile reads back', () => {
    expect(formatEnvFile({ A: 'http://x:1/y', B: 'arn:aws:sns:r:1:t' })).toBe(
      'A=http://x:1/y\nB=arn:aws:sns:r:1:t\n',
    );
    expect(() => formatEnvFile({ A: 'two\nlines' })).toThrow(/span lines/);
  });
});

describe('FairReceiver long poll', () => {
  it('picks up bulk work as soon as express work when idle, and hands on what the slower poll brings later', async () => {
    const body = JSON.stringify({ tenantId: 't', id: 'b1' });
    const late: ReceivedMessage = {
      queue: 'express',
      messageId: 'e1',
      receiptHandle: 'e1#1',
      body,
      receiveCount: 1,
    };
    const givenBack: string[] = [];
    const longPolls: Priority[] = [];
    let bulkSent = false;
    const queue = {
      async receive(priority: Priority, options: { waitSeconds: number }): Promise<ReceivedMessage[]> {
        if (options.waitSeconds === 0) return [];
        longPolls.push(priority);
        // Express answers only late in its long poll (with a message that came then); bulk has a
        // message the moment the first long poll starts, and nothing after.
        if (priority === 'express') return sleep(300).then(() => [late]);
        if (bulkSent) return sleep(2000).then(() => []);
        bulkSent = true;
        return [{ queue: 'bulk', messageId: 'b1', receiptHandle: 'b1#1', body, receiveCount: 1 }];
      },
      async extendVisibility(message: ReceivedMessage, seconds: number) {
        if (seconds === 0) givenBack.push(message.messageId);
      },
    };
    const stop = new AbortController();
    const receiver = new FairReceiver(
      queue,
      {
        idleWaitSeconds: 10,
        visibilitySeconds: 30,
        bulkShare: 0,
        batchSize: 1,
        deferSeconds: 10,
        narrowAfterDeliveries: 2,
        maxParked: 0,
      },
      () => 0,
      silent,
      stop.signal,
    );
    const started = Date.now();
    const message = await receiver.next();
    expect(message?.messageId).toBe('b1');
    expect(Date.now() - started).toBeLessThan(250);
    // The express poll still under way is not started twice, and what it brings is the next answer.
    const next = await receiver.next();
    expect(next?.messageId).toBe('e1');
    expect(Date.now() - started).toBeLessThan(600);
    expect(longPolls.filter((q) => q === 'express')).toHaveLength(1);
    expect(givenBack).toEqual([]);
    stop.abort();
    await receiver.close();
  });
});
