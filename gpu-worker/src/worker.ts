import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReceivedMessage } from '../../lambdas/shared/adapters/work-queue.ts';
import { isPermanent, jobErrorOf } from '../../lambdas/shared/errors.ts';
import { JOB_ERROR_CODES, type JobError, type JobErrorCode } from '../../lambdas/shared/job.ts';
import { movedOn } from '../../lambdas/shared/lifecycle.ts';
import { InvalidMessageError, parseWorkMessage, type WorkMessage } from '../../lambdas/shared/messages.ts';
import { METRIC } from '../../lambdas/shared/metric-names.ts';
import type { MetricsSink } from '../../lambdas/shared/metrics.ts';
import type { Runtime } from '../../lambdas/shared/runtime.ts';
import { type BackoffOptions, DEFAULT_BACKOFF, exponentialBackoff } from './backoffs.ts';
import { ChunkProcessor, type ChunkTimings, type DocumentRecognizer } from './chunk-processor.ts';
import { DEFAULT_FAIR_RECEIVER_OPTIONS, FairReceiver, type FairReceiverOptions } from './fair-receiver.ts';
import { type DeadlineOptions, messageDeadlineMs, VisibilityHeartbeat } from './heartbeat.ts';

export type { DocumentRecognizer } from './chunk-processor.ts';

export interface WorkerOptions {
  /** Seconds a receive waits for messages when the queues were empty. */
  idleWaitSeconds: number;
  /** Visibility the worker holds a message for, renewed at a third of it while working. */
  visibilitySeconds: number;
  backoff: BackoffOptions;
  /**
   * Share of receives that try the bulk queue before the express one, so a steady stream of
   * express work never starves bulk (0.25: every fourth receive).
   */
  bulkShare: number;
  /** Names this worker in heartbeats (queue stats count the workers seen in the last minute). */
  workerId: string;
  /**
   * Messages in hand at once. Each is received, downloaded and decoded on its own (one bad
   * document fails only its job) while the engine batches the pages of those waiting for it
   * together; a message received while others run is the prefetched next batch.
   */
  concurrency: number;
  /**
   * Failed attempts of one chunk (counted on the job, not by SQS receives) after which the job
   * fails with MAX_ATTEMPTS. A message returned at shutdown or by a crash counts nothing here;
   * the queues' maxReceiveCount stays as the net for crash loops.
   */
  maxAttempts: number;
  /**
   * How long one message may stay in hand: a base plus a share per page. Past it the message
   * goes back to the queue and the worker reports unhealthy (a hung engine must not hold work
   * forever by renewing its visibility).
   */
  deadline: DeadlineOptions;
  /** Tenant fairness of the receive step (see {@link FairReceiver}). */
  fairness: Pick<FairReceiverOptions, 'batchSize' | 'deferSeconds' | 'narrowAfterDeliveries' | 'maxParked'>;
}

export const DEFAULT_WORKER_OPTIONS: WorkerOptions = {
  idleWaitSeconds: 10,
  visibilitySeconds: 120,
  backoff: DEFAULT_BACKOFF,
  bulkShare: 0.25,
  workerId: 'worker',
  concurrency: 4,
  maxAttempts: 3,
  // On the CPU a page takes 1.5-3 s of engine time, and a message's pages may wait behind the
  // other messages in hand (4 x 8 pages); a GPU is an order of magnitude faster.
  deadline: { baseSeconds: 300, perPageSeconds: 30 },
  fairness: DEFAULT_FAIR_RECEIVER_OPTIONS,
};

/** Worker heartbeats in the stats table (the queue-stats route counts workers seen lately). */
const STATS_HEARTBEAT_MS = 20_000;

/** What became of a delivery: `chunk-done` when the job still has other chunks in flight. */
export type MessageOutcome = 'succeeded' | 'chunk-done' | 'failed' | 'dropped' | 'retry' | 'returned';

/** A message being worked on. */
interface InHand {
  message: ReceivedMessage;
  tenant: string;
  heartbeat: VisibilityHeartbeat | undefined;
  /** Given back to the queue (shutdown past the grace period): settle's queue calls are skipped. */
  returned: boolean;
}

export interface WorkerHooks {
  /** Figures of the work (pages, times, errors), EMF lines and/or a Prometheus registry. */
  metrics?: MetricsSink;
  /** Called with true when the first message is taken in hand and false when none is left. */
  onBusyChange?: (busy: boolean) => void;
}

/**
 * The SQS consumer: takes work from the express queue before the bulk one, fairly between
 * tenants, runs the OCR engine on the job's document, stores the results and settles the job.
 * It keeps `concurrency` messages in hand, so the engine can batch their pages together and the
 * next message is downloaded and decoded while the current batch runs. Each message's visibility
 * is renewed while it is in hand, up to a deadline scaled by its pages. Its lifecycle is `run()`
 * until `close()`; `close({ graceMs })` stops receiving, lets the messages in hand finish within
 * the grace period and gives the rest back to the queue at once.
 *
 * @example
 * const worker = new Worker(runtime, await OcrEngine.create());
 * process.once('SIGTERM', () => void worker.close({ graceMs: 110_000 }).then(() => process.exit(0)));
 * await worker.run();
 */
export class Worker {
  private readonly options: WorkerOptions;
  private readonly stopping = new AbortController();
  private readonly receiver: FairReceiver;
  private readonly inHand = new Map<ReceivedMessage, InHand>();
  private readonly tenantsInHand = new Map<string, number>();
  private running: Promise<void> | undefined;
  private processed = 0;
  /** Set when close() gave messages back: their work is abandoned and its failures count nothing. */
  private abandoned = false;
  private lastStatsHeartbeat = 0;
  /** When each slot last showed life: a receive started or ended, or a message was settled. */
  private readonly slotSeen: number[] = [];
  private readonly chunks: ChunkProcessor;

  constructor(
    private readonly runtime: Runtime,
    engine: DocumentRecognizer,
    options: Partial<WorkerOptions> = {},
    private readonly hooks: WorkerHooks = {},
  ) {
    this.options = {
      ...DEFAULT_WORKER_OPTIONS,
      ...options,
      workerId: options.workerId ?? `worker-${randomUUID().slice(0, 8)}`,
    };
    this.chunks = new ChunkProcessor(runtime, engine);
    this.receiver = new FairReceiver(
      runtime.queue,
      {
        ...DEFAULT_FAIR_RECEIVER_OPTIONS,
        ...this.options.fairness,
        idleWaitSeconds: this.options.idleWaitSeconds,
        visibilitySeconds: this.options.visibilitySeconds,
        bulkShare: this.options.bulkShare,
      },
      (tenant) => this.tenantsInHand.get(tenant) ?? 0,
      runtime.logger,
      this.stopping.signal,
    );
  }

  /** Names this worker in the stats table and its logs. */
  get id(): string {
    return this.options.workerId;
  }

  /** Messages settled so far (any outcome). */
  get processedCount(): number {
    return this.processed;
  }

  /** Messages in hand now. */
  get inHandCount(): number {
    return this.inHand.size;
  }

  /**
   * For the container's health check: the loop runs (or drains), every slot showed life recently
   * (or is working on a message), and no message in hand is past its deadline. A hung engine makes this
   * false once its message's deadline passes, however the rest of the process behaves.
   */
  isHealthy(now = Date.now()): boolean {
    if (!this.running) return false;
    for (const entry of this.inHand.values()) if (entry.heartbeat?.expired) return false;
    // Draining (bounded by the drain period): no more receives, the messages in hand finish.
    if (this.stopping.signal.aborted) return true;
    // A receive lasts at most one long poll; allow two of them and a slow network on top.
    const quietMs = (2 * this.options.idleWaitSeconds + 60) * 1000;
    const working = this.inHand.size;
    const quietSlots = this.slotSeen.filter((seen) => now - seen > quietMs).length;
    return quietSlots <= working;
  }

  /** Polls and processes until {@link close} is called, `concurrency` messages at a time. */
  run(): Promise<void> {
    this.running ??= Promise.all(
      Array.from({ length: Math.max(1, this.options.concurrency) }, (_, slot) => this.loop(slot)),
    ).then(() => undefined);
    return this.running;
  }

  /**
   * Stops receiving (a long poll under way ends at once; messages set aside for fairness go back)
   * and waits for the messages in hand to be settled, at most `graceMs`. What is still in hand
   * then goes back to the queue at once (visibility 0) and is not counted as a failed attempt;
   * its work is abandoned (the caller exits). Resolves with the number of messages given back.
   */
  async close(options: { graceMs?: number } = {}): Promise<{ returned: number }> {
    this.stopping.abort();
    const receiverClosed = this.receiver.close();
    const graceMs = options.graceMs ?? Number.POSITIVE_INFINITY;
    const finished = this.running ?? Promise.resolve();
    if (Number.isFinite(graceMs)) {
      const grace = new AbortController();
      await Promise.race([
        finished,
        sleep(graceMs, undefined, { signal: grace.signal }).catch(() => undefined),
      ]);
      grace.abort();
    } else await finished;
    await receiverClosed;
    const left = [...this.inHand.values()];
    if (left.length === 0) return { returned: 0 };
    this.runtime.logger.warn('grace period over: giving the messages still in hand back to the queue', {
      messages: left.length,
      graceMs,
    });
    this.abandoned = true;
    await Promise.all(
      left.map(async (entry) => {
        entry.returned = true;
        entry.heartbeat?.stop();
        await this.runtime.queue.extendVisibility(entry.message, 0).catch((error: unknown) => {
          this.runtime.logger.warn('could not give a message back; it returns when its visibility ends', {
            messageId: entry.message.messageId,
            error: error as Error,
          });
        });
      }),
    );
    return { returned: left.length };
  }

  private async loop(slot: number): Promise<void> {
    const { logger } = this.runtime;
    this.slotSeen[slot] = Date.now();
    while (!this.stopping.signal.aborted) {
      this.slotSeen[slot] = Date.now();
      try {
        this.statsHeartbeat();
        const message = await this.receiver.next();
        this.slotSeen[slot] = Date.now();
        if (!message) continue;
        await this.process(message);
        this.slotSeen[slot] = Date.now();
      } catch (error) {
        if (this.stopping.signal.aborted) break;
        logger.error('worker loop error; pausing before the next receive', { error: error as Error });
        await sleep(1000, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    }
  }

  private statsHeartbeat(): void {
    if (Date.now() - this.lastStatsHeartbeat < STATS_HEARTBEAT_MS) return;
    this.lastStatsHeartbeat = Date.now();
    this.runtime.stats.heartbeat(this.options.workerId).catch((error: unknown) => {
      this.runtime.logger.warn('could not record the worker heartbeat in the stats', {
        workerId: this.options.workerId,
        error: error as Error,
      });
    });
  }

  /**
   * Settles one delivery. The message is deleted only after the write that settles it
   * succeeded (chunk counted, job failed or succeeded): when that write fails, the message
   * goes back like any transient failure, so a job is never left without its message.
   */
  async process(message: ReceivedMessage): Promise<MessageOutcome> {
    const { logger, queue } = this.runtime;
    let work: WorkMessage;
    try {
      work = parseWorkMessage(message.body);
    } catch (error) {
      if (!(error instanceof InvalidMessageError)) throw error;
      logger.error('dropping a message that is not a work message', { messageId: message.messageId, error });
      this.hooks.metrics?.record(METRIC.workerErrors, 1, 'INVALID_MESSAGE');
      await queue.delete(message);
      return this.settled('dropped');
    }
    if (message.sentAt !== undefined)
      this.hooks.metrics?.record(METRIC.queueWait, Math.max(0, Date.now() - message.sentAt));
    const entry = this.take(message, work);
    const timings: ChunkTimings = {};
    try {
      const outcome = await this.settle(work, timings);
      this.recordTimings(outcome, timings);
      if (entry.returned) return this.settled('returned');
      await queue.delete(message);
      return this.settled(outcome);
    } catch (error) {
      if (entry.returned || entry.heartbeat?.expired) return this.settled('returned');
      const delay = exponentialBackoff(message.receiveCount, this.options.backoff);
      logger.warn('transient failure; the message returns to the queue', {
        jobId: work.jobId,
        chunk: work.chunk.index,
        receiveCount: message.receiveCount,
        retryInSeconds: delay,
        error: error as Error,
      });
      await queue.extendVisibility(message, delay).catch((visibilityError: unknown) => {
        logger.warn('could not set the backoff of a failed message; it returns when its visibility ends', {
          messageId: message.messageId,
          error: visibilityError as Error,
        });
      });
      return this.settled('retry');
    } finally {
      this.release(entry);
    }
  }

  /** Registers a message as in hand, with its heartbeat and deadline. */
  private take(message: ReceivedMessage, work: WorkMessage): InHand {
    const entry: InHand = { message, tenant: work.tenantId, heartbeat: undefined, returned: false };
    entry.heartbeat = new VisibilityHeartbeat(
      this.runtime.queue,
      message,
      {
        visibilitySeconds: this.options.visibilitySeconds,
        deadlineMs: messageDeadlineMs(work.chunk.pageCount, this.options.deadline),
        onExpired: () => this.hooks.metrics?.record(METRIC.workerErrors, 1, 'TIMEOUT'),
      },
      this.runtime.logger,
    );
    this.inHand.set(message, entry);
    this.tenantsInHand.set(entry.tenant, (this.tenantsInHand.get(entry.tenant) ?? 0) + 1);
    if (this.inHand.size === 1) this.hooks.onBusyChange?.(true);
    return entry;
  }

  private release(entry: InHand): void {
    entry.heartbeat?.stop();
    if (!this.inHand.delete(entry.message)) return;
    const left = (this.tenantsInHand.get(entry.tenant) ?? 1) - 1;
    if (left > 0) this.tenantsInHand.set(entry.tenant, left);
    else this.tenantsInHand.delete(entry.tenant);
    if (this.inHand.size === 0) this.hooks.onBusyChange?.(false);
  }

  private recordTimings(outcome: MessageOutcome, timings: ChunkTimings): void {
    const metrics = this.hooks.metrics;
    if (!metrics) return;
    if (timings.decodeMs !== undefined) metrics.record(METRIC.decodeTime, timings.decodeMs);
    if (timings.engineMs !== undefined) metrics.record(METRIC.engineTime, timings.engineMs);
    if (timings.pages !== undefined && (outcome === 'succeeded' || outcome === 'chunk-done'))
      metrics.record(METRIC.pages, timings.pages);
    if (outcome !== 'succeeded' && outcome !== 'chunk-done') return;
    for (const tally of timings.engines ?? []) {
      metrics.record(METRIC.enginePages, tally.pages, tally.engine);
      if (tally.pages > 0) metrics.record(METRIC.enginePageTime, tally.ms / tally.pages, tally.engine);
      if (tally.escalations > 0) metrics.record(METRIC.escalations, tally.escalations, tally.engine);
    }
  }

  /**
   * Runs the chunk and turns what happened into the job's next state. Throws only when the
   * message must go back to the queue (a transient failure, or a settling write that failed).
   */
  private async settle(work: WorkMessage, timings: ChunkTimings = {}): Promise<MessageOutcome> {
    const { jobs, logger } = this.runtime;
    try {
      return await this.chunks.process(work, timings);
    } catch (error) {
      // Given back at shutdown: whatever failed (the engine closing under it) is not an attempt.
      if (this.abandoned) throw error;
      if (movedOn(error)) {
        // The job moved on while we worked (cancelled, failed, or settled by a duplicate delivery).
        logger.info('dropping work for a job that moved on', { jobId: work.jobId, status: error.from });
        return 'dropped';
      }
      this.hooks.metrics?.record(
        METRIC.workerErrors,
        1,
        isPermanent(error) ? error.code : transientCode(error),
      );
      if (isPermanent(error)) {
        await this.failJob(work, jobErrorOf(error));
        return 'failed';
      }
      const attempts = await jobs
        .recordFailedAttempt(work.tenantId, work.jobId, work.chunk.index, {
          code: transientCode(error),
          message: error instanceof Error ? error.message : String(error),
        })
        .catch((recordError: unknown) => {
          // The message goes back either way; without this line the store's failure would be lost.
          logger.error('could not record a failed attempt on the job', {
            jobId: work.jobId,
            chunk: work.chunk.index,
            error: recordError as Error,
          });
          throw error;
        });
      if (attempts >= this.options.maxAttempts) {
        const last = error instanceof Error ? error.message : String(error);
        await this.failJob(work, {
          code: 'MAX_ATTEMPTS',
          message: `gave up on pages ${work.chunk.firstPage}-${work.chunk.firstPage + work.chunk.pageCount - 1} after ${attempts} attempts; last error: ${last}`,
        });
        return 'failed';
      }
      throw error;
    }
  }

  /** FAILED through the lifecycle; a job that moved on meanwhile needs nothing more. */
  private async failJob(work: WorkMessage, error: JobError): Promise<void> {
    try {
      await this.runtime.lifecycle.fail(work.tenantId, work.jobId, error);
    } catch (transitionError) {
      if (!movedOn(transitionError)) throw transitionError;
      this.runtime.logger.info('the job moved on before it could be failed', {
        jobId: work.jobId,
        status: transitionError.from,
      });
    }
  }

  private settled(outcome: MessageOutcome): MessageOutcome {
    this.processed += 1;
    return outcome;
  }
}

/**
 * The code a transient failure is recorded with: its own where it names a job code (Textract's
 * throttling and failed detections), else PROCESSING_ERROR.
 */
function transientCode(error: unknown): JobErrorCode {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (JOB_ERROR_CODES as readonly string[]).includes(code)
    ? (code as JobErrorCode)
    : 'PROCESSING_ERROR';
}
