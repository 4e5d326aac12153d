import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReceivedMessage } from '../../lambdas/shared/adapters/work-queue.ts';
import { InvalidTransitionError, isPermanent, PermanentJobError } from '../../lambdas/shared/errors.ts';
import { jobEvent } from '../../lambdas/shared/events.ts';
import { isTerminal, type Job, type JobError, type Priority } from '../../lambdas/shared/job.ts';
import { InvalidMessageError, parseWorkMessage, type WorkMessage } from '../../lambdas/shared/messages.ts';
import { objectKeys } from '../../lambdas/shared/resources.ts';
import type { Runtime } from '../../lambdas/shared/runtime.ts';
import { type BackoffOptions, DEFAULT_BACKOFF, exponentialBackoff } from './backoffs.ts';
import type { OcrResult, PageResult } from './ocr/index.ts';
import { resultText } from './result-format.ts';

/** What the worker needs of the OCR engine: a document's bytes in, pages of lines out. */
export interface DocumentRecognizer {
  /** OCRs pages `firstPage` … `firstPage + pageCount - 1` (1-based), numbered as in the document. */
  recognize(input: Buffer, pages?: { firstPage: number; pageCount: number }): Promise<OcrResult>;
}

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
}

export const DEFAULT_WORKER_OPTIONS: WorkerOptions = {
  idleWaitSeconds: 10,
  visibilitySeconds: 120,
  backoff: DEFAULT_BACKOFF,
  bulkShare: 0.25,
  workerId: `worker-${randomUUID().slice(0, 8)}`,
  concurrency: 4,
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

  constructor(
    private readonly runtime: Runtime,
    private readonly engine: DocumentRecognizer,
    options: Partial<WorkerOptions> = {},
  ) {
    this.options = { ...DEFAULT_WORKER_OPTIONS, ...options };
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

  /** Settles one delivery. Exported through the class for tests and the local stack. */
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
      const outcome = await this.runJob(work);
      await queue.delete(message);
      return this.settled(outcome);
    } catch (error) {
      if (error instanceof InvalidTransitionError) {
        // The job moved on while we worked (cancelled, or settled by a duplicate delivery).
        logger.info('dropping work for a job that moved on', { jobId: work.jobId, status: error.from });
        await queue.delete(message);
        return this.settled('dropped');
      }
      if (isPermanent(error)) {
        await this.fail(work, { code: error.code, message: error.message });
        await queue.delete(message);
        return this.settled('failed');
      }
      const delay = exponentialBackoff(message.receiveCount, this.options.backoff);
      logger.warn('transient failure; the message returns to the queue', {
        jobId: work.jobId,
        attempt: message.receiveCount,
        retryInSeconds: delay,
        error: error as Error,
      });
      await this.runtime.jobs
        .recordAttemptError(work.tenantId, work.jobId, {
          code: 'PROCESSING_ERROR',
          message: error instanceof Error ? error.message : String(error),
        })
        .catch(() => undefined);
      await queue.extendVisibility(message, delay).catch(() => undefined);
      return this.settled('retry');
    } finally {
      clearInterval(heartbeat);
    }
  }

  private settled(outcome: MessageOutcome): MessageOutcome {
    this.processed += 1;
    return outcome;
  }

  private async runJob(work: WorkMessage): Promise<MessageOutcome> {
    const { jobs, logger } = this.runtime;
    const job = await jobs.get(work.tenantId, work.jobId);
    if (!job || isTerminal(job.status)) {
      logger.info('dropping work for a job that is gone or settled', {
        jobId: work.jobId,
        status: job?.status,
      });
      return 'dropped';
    }
    const startedAt = new Date().toISOString();
    await jobs.transition(job.tenantId, job.jobId, 'PROCESSING', { startedAt });
    let current = job;
    if (!job.chunksDone?.has(work.chunk.index)) {
      const pages = await this.recognizeChunk(work);
      const counted = await jobs.completeChunk(job.tenantId, job.jobId, work.chunk.index, pages);
      if (counted.changed) await this.runtime.stats.recordPages(pages).catch(() => undefined);
      current = counted.job;
    }
    const total = current.chunks?.total ?? 1;
    if ((current.chunksDone?.size ?? 0) < total) return 'chunk-done';
    // Every chunk is stored: whoever sees that first (or again, after a crash) assembles.
    await this.assemble(current);
    return 'succeeded';
  }

  /** OCRs the chunk's pages and stores each page's result at its own key; returns the page count. */
  private async recognizeChunk(work: WorkMessage): Promise<number> {
    const { blobs } = this.runtime;
    const input = await blobs.get(work.inputKey);
    const result = await this.engine.recognize(input, {
      firstPage: work.chunk.firstPage,
      pageCount: work.chunk.pageCount,
    });
    if (result.pages.length === 0) throw new PermanentJobError('INVALID_INPUT', 'the document has no pages');
    await Promise.all(
      result.pages.map((page) =>
        blobs.put(
          objectKeys.pageResult(work.tenantId, work.jobId, page.page),
          JSON.stringify(page),
          'application/json',
        ),
      ),
    );
    return result.pages.length;
  }

  /** Joins the page results in page order into result.json and result.txt, then SUCCEEDED (once). */
  private async assemble(job: Job): Promise<void> {
    const { blobs, jobs, events, logger } = this.runtime;
    const pages: PageResult[] = [];
    for (let page = 1; page <= job.pages.total; page++) {
      pages.push(
        JSON.parse((await blobs.get(objectKeys.pageResult(job.tenantId, job.jobId, page))).toString('utf8')),
      );
    }
    const result: OcrResult = { pages };
    const jsonKey = objectKeys.resultJson(job.tenantId, job.jobId);
    const textKey = objectKeys.resultText(job.tenantId, job.jobId);
    await blobs.put(jsonKey, JSON.stringify(result), 'application/json');
    await blobs.put(textKey, resultText(result), 'text/plain; charset=utf-8');
    const settled = await jobs.transition(job.tenantId, job.jobId, 'SUCCEEDED', {
      pages: { done: pages.length, total: job.pages.total },
      finishedAt: new Date().toISOString(),
      result: { jsonKey, textKey },
      expiresAt: this.expiresAt(),
    });
    if (settled.changed) await events.publish(jobEvent(settled.job, 'job.succeeded'));
    logger.info('job succeeded', { jobId: job.jobId, pages: pages.length });
  }

  private async fail(work: WorkMessage, error: JobError): Promise<void> {
    const { jobs, events, logger } = this.runtime;
    try {
      const { job, changed } = await jobs.transition(work.tenantId, work.jobId, 'FAILED', {
        error,
        finishedAt: new Date().toISOString(),
        expiresAt: this.expiresAt(),
      });
      if (changed) await events.publish(jobEvent(job, 'job.failed'));
      logger.info('job failed', { jobId: work.jobId, ...error });
    } catch (transitionError) {
      // The job moved on (cancelled, or settled by a duplicate delivery): nothing to fail.
      logger.warn('could not mark the job failed', { jobId: work.jobId, error: transitionError as Error });
    }
  }

  private expiresAt(): number {
    return Math.floor(Date.now() / 1000) + this.runtime.config.jobTtlDays * 86_400;
  }
}
