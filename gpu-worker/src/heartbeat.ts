import type { Logger } from '@aws-lambda-powertools/logger';
import type { ReceivedMessage, WorkQueue } from '../../lambdas/shared/adapters/work-queue.ts';

/** What the heartbeat needs of a logger. */
type HeartbeatLogger = Pick<Logger, 'warn' | 'error'>;

export interface DeadlineOptions {
  /** Time any message may take, whatever its size (download, decode, queueing for the engine). */
  baseSeconds: number;
  /** Time added per page of the chunk. */
  perPageSeconds: number;
}

/** The time one message may stay in hand: a base plus a share per page. */
export function messageDeadlineMs(pages: number, options: DeadlineOptions): number {
  return (options.baseSeconds + Math.max(1, pages) * options.perPageSeconds) * 1000;
}

/**
 * Keeps one message hidden while its work makes progress, up to a deadline: the visibility is
 * renewed every third of `visibilitySeconds`, but never past the deadline. A worker whose engine
 * hangs would otherwise renew forever, and the message would never reach a healthy worker. At the
 * deadline the message goes back to the queue at once (visibility 0), `expired` turns true (the
 * worker's health check reads it) and `onExpired` runs; the work itself cannot be interrupted
 * (an engine run has no cancellation), so whoever awaits it keeps waiting.
 *
 * @example
 * const heartbeat = new VisibilityHeartbeat(queue, message, { visibilitySeconds: 120, deadlineMs: 600_000 }, logger);
 * try { await work(); } finally { heartbeat.stop(); }
 */
export class VisibilityHeartbeat {
  readonly startedAt = Date.now();
  readonly deadlineAt: number;
  private expiredAt: number | undefined;
  private readonly renewTimer: NodeJS.Timeout;
  private readonly deadlineTimer: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly queue: Pick<WorkQueue, 'extendVisibility'>,
    private readonly message: ReceivedMessage,
    private readonly options: {
      visibilitySeconds: number;
      deadlineMs: number;
      onExpired?: (heartbeat: VisibilityHeartbeat) => void;
    },
    private readonly logger: HeartbeatLogger,
  ) {
    this.deadlineAt = this.startedAt + options.deadlineMs;
    this.renewTimer = setInterval(() => this.renew(), (options.visibilitySeconds * 1000) / 3);
    this.deadlineTimer = setTimeout(() => void this.expire(), options.deadlineMs);
    // The worker's own loop keeps the process alive; these timers must not keep a closed one.
    this.renewTimer.unref();
    this.deadlineTimer.unref();
  }

  /** True once the deadline passed with the work still running: the message was given back. */
  get expired(): boolean {
    return this.expiredAt !== undefined;
  }

  /** Stops renewing (the message was settled, or is being given back). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.renewTimer);
    clearTimeout(this.deadlineTimer);
  }

  private renew(): void {
    if (this.stopped) return;
    const left = Math.floor((this.deadlineAt - Date.now()) / 1000);
    if (left <= 0) return;
    // Never hide the message past its deadline: a worker that dies then frees it in time.
    const seconds = Math.min(this.options.visibilitySeconds, left);
    this.queue.extendVisibility(this.message, seconds).catch((error: unknown) => {
      this.logger.warn('could not extend message visibility', {
        messageId: this.message.messageId,
        error: error instanceof Error ? error.message : String(error),
      });
    });
  }

  private async expire(): Promise<void> {
    if (this.stopped) return;
    this.stop();
    this.expiredAt = Date.now();
    this.logger.error(
      'a message passed its deadline; it goes back to the queue and this worker reports unhealthy',
      {
        messageId: this.message.messageId,
        deadlineSeconds: Math.round(this.options.deadlineMs / 1000),
      },
    );
    this.options.onExpired?.(this);
    await this.queue.extendVisibility(this.message, 0).catch((error: unknown) => {
      this.logger.warn(
        'could not give back a message past its deadline; it returns when its visibility ends',
        {
          messageId: this.message.messageId,
          error: error instanceof Error ? error.message : String(error),
        },
      );
    });
  }
}
