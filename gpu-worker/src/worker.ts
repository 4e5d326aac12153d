import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReceivedMessage } from '../../lambdas/shared/adapters/work-queue.ts';
import { isPermanent, jobErrorOf } from '../../lambdas/shared/errors.ts';
import type { JobError, Priority } from '../../lambdas/shared/job.ts';
import { movedOn } from '../../lambdas/shared/lifecycle.ts';
import { InvalidMessageError, parseWorkMessage, type WorkMessage } from '../../lambdas/shared/messages.ts';
import type { Runtime } from '../../lambdas/shared/runtime.ts';
import { type BackoffOptions, DEFAULT_BACKOFF, exponentialBackoff } from './backoffs.ts';
import { ChunkProcessor, type DocumentRecognizer } from './chunk-processor.ts';

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
}

export const DEFAULT_WORKER_OPTIONS: WorkerOptions = {
  idleWaitSeconds: 10,
  visibilitySeconds: 120,
  backoff: DEFAULT_BACKOFF,
  bulkShare: 0.25,
  workerId: `worker-${randomUUID().slice(0, 8)}`,
  concurrency: 4,
  maxAttempts: 3,
};

const HEARTBEAT_MS = 20_000;

/** What became of a delivery: `chunk-done` when the job still has other chunks in flight. */
export type MessageOutcome = 'succeeded' | 'chunk-done' | 'failed' | 'dropped' | 'retry';

/**
 * The SQS consumer: takes work from the express queue before the bulk one, runs the OCR
 * engine on the job's document, stores the results and settles the job. It keeps
 * `concurrency` messages in hand, so the engine can batch their pages together and the next
 * message is downloaded and decoded while the current batch runs. Its lifecycle is `run()`
 * (until `close()`), and `close()` lets the messages in hand finish first.
 *
 * @example
 * const worker = new Worker(runtime, await OcrEngine.create());
 * process.on('SIGTERM', () => worker.close());
 * await worker.run();
 */
export class Worker {
  private readonly options: WorkerOptions;
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private processed = 0;
  private lastActivity = Date.now();
  private lastHeartbeat = 0;
  private polls = 0;
  private readonly chunks: ChunkProcessor;

  constructor(
    private readonly runtime: Runtime,
    engine: DocumentRecognizer,
    options: Partial<WorkerOptions> = {},
  ) {
    this.options = { ...DEFAULT_WORKER_OPTIONS, ...options };
    this.chunks = new ChunkProcessor(runtime, engine);
  }

  /** Messages settled so far (any outcome). */
  get processedCount(): number {
    return this.processed;
  }

  /** When the loop last polled or a message in hand last renewed its visibility (epoch ms). */
  get lastActivityAt(): number {
    return this.lastActivity;
  }

  /** Polls and processes until {@link close} is called, `concurrency` messages at a time. */
  run(): Promise<void> {
    this.running ??= Promise.all(
      Array.from({ length: Math.max(1, this.options.concurrency) }, () => this.loop()),
    ).then(() => undefined);
    return this.running;
  }

  /** Stops polling and waits for the messages in hand to be settled. */
  async close(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const { logger } = this.runtime;
    while (!this.stopping.signal.aborted) {
      this.lastActivity = Date.now();
      try {
        const message = await this.nextMessage();
        if (!message) continue;
        await this.process(message);
      } catch (error) {
        if (this.stopping.signal.aborted) break;
        logger.error('worker loop error; pausing before the next receive', { error: error as Error });
        await sleep(1000, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    }
  }

  /**
   * Express first without waiting, then bulk (bulk first on its share of receives), then a
   * long poll on express.
   */
  private async nextMessage(): Promise<ReceivedMessage | undefined> {
    this.polls += 1;
    if (Date.now() - this.lastHeartbeat > HEARTBEAT_MS) {
      this.lastHeartbeat = Date.now();
      await this.runtime.stats.heartbeat(this.options.workerId).catch(() => undefined);
    }
    const signal = this.stopping.signal;
    const receive = (queue: Priority, waitSeconds: number) =>
      this.runtime.queue.receive(queue, {
        maxMessages: 1,
        waitSeconds,
        visibilitySeconds: this.options.visibilitySeconds,
        signal,
      });
    const every = this.options.bulkShare > 0 ? Math.max(1, Math.round(1 / this.options.bulkShare)) : 0;
    const order: Priority[] =
      every > 0 && this.polls % every === 0 ? ['bulk', 'express'] : ['express', 'bulk'];
    for (const queue of order) {
      const [message] = await receive(queue, 0);
      if (message) return message;
    }
    const [message] = await receive('express', this.options.idleWaitSeconds).catch((error: unknown) => {
      if (signal.aborted) return [];
      throw error;
    });
    return message;
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
      await queue.delete(message);
      return this.settled('dropped');
    }
    const heartbeat = setInterval(
      () => {
        this.lastActivity = Date.now();
        queue.extendVisibility(message, this.options.visibilitySeconds).catch((error: unknown) => {
          logger.warn('could not extend message visibility', {
            messageId: message.messageId,
            error: error as Error,
          });
        });
      },
      (this.options.visibilitySeconds * 1000) / 3,
    );
    try {
      const outcome = await this.settle(work);
      await queue.delete(message);
      return this.settled(outcome);
    } catch (error) {
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
      clearInterval(heartbeat);
    }
  }

  /**
   * Runs the chunk and turns what happened into the job's next state. Throws only when the
   * message must go back to the queue (a transient failure, or a settling write that failed).
   */
  private async settle(work: WorkMessage): Promise<MessageOutcome> {
    const { jobs, logger } = this.runtime;
    try {
      return await this.chunks.process(work);
    } catch (error) {
      if (movedOn(error)) {
        // The job moved on while we worked (cancelled, failed, or settled by a duplicate delivery).
        logger.info('dropping work for a job that moved on', { jobId: work.jobId, status: error.from });
        return 'dropped';
      }
      if (isPermanent(error)) {
        await this.failJob(work, jobErrorOf(error));
        return 'failed';
      }
      const attempts = await jobs.recordFailedAttempt(work.tenantId, work.jobId, work.chunk.index, {
        code: 'PROCESSING_ERROR',
        message: error instanceof Error ? error.message : String(error),
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
