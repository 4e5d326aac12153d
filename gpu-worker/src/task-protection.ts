import type { Logger } from '@aws-lambda-powertools/logger';

/** What the protection needs of a logger. */
type WarnLogger = Pick<Logger, 'warn'>;

export interface TaskProtectionOptions {
  /** How long one PUT protects the task; renewed while still busy (1–2880 minutes). */
  expiresInMinutes: number;
  /** The request timeout: the agent is local, so a slow answer means it is unwell. */
  timeoutMs: number;
  /**
   * Idle this long before protection goes off: between two messages a slot is idle for a moment,
   * and turning protection off and on again for each would be two agent calls per message.
   */
  idleOffMs: number;
}

const DEFAULTS: TaskProtectionOptions = { expiresInMinutes: 60, timeoutMs: 5000, idleOffMs: 5000 };
/** A refused or failed change is tried again after this long (or at the next change). */
const RETRY_MS = 10_000;

/**
 * ECS task scale-in protection, on while the worker holds messages and off when it is idle, so
 * scale-in (the queue-depth alarm taking the service down) removes idle tasks and never one in
 * the middle of a batch. The ECS agent injects `ECS_AGENT_URI`; without it (locally, in tests)
 * every call is a no-op. Changes are coalesced: only the latest wanted state is sent, one request
 * at a time. A failed request is logged and retried (10 s later, or at the next change), never thrown:
 * losing protection costs at most a returned message, which SIGTERM's drain handles anyway.
 *
 * @example
 * const protection = TaskProtection.fromEnv(process.env, logger);
 * protection.set(true);   // first message in hand
 * protection.set(false);  // idle again
 * await protection.close();
 */
export class TaskProtection {
  private wanted = false;
  /** What the agent last confirmed, and until when (epoch ms) a confirmed `true` holds. */
  private confirmed = false;
  private confirmedUntil = 0;
  private sending: Promise<void> | undefined;
  private renewal: NodeJS.Timeout | undefined;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly options: TaskProtectionOptions;

  constructor(
    private readonly agentUri: string | undefined,
    private readonly logger: WarnLogger,
    options: Partial<TaskProtectionOptions> = {},
    private readonly fetchFn: typeof fetch = fetch,
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  static fromEnv(env: Record<string, string | undefined>, logger: WarnLogger): TaskProtection {
    return new TaskProtection(env.ECS_AGENT_URI || undefined, logger);
  }

  /** True where the ECS agent is reachable by configuration (inside an ECS task). */
  get enabled(): boolean {
    return this.agentUri !== undefined;
  }

  /** Asks for protection on (messages in hand) or off (idle). */
  set(protect: boolean): void {
    if (!this.agentUri || this.closed) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (!protect && this.options.idleOffMs > 0) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        this.wanted = false;
        void this.sync();
      }, this.options.idleOffMs).unref();
      return;
    }
    this.wanted = protect;
    void this.sync();
  }

  /** Waits for the last change to be sent. */
  async settled(): Promise<void> {
    while (this.sending) await this.sending;
  }

  /** Protection off (the task is going away or idle for good) and no more renewals. */
  async close(): Promise<void> {
    if (!this.agentUri) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.renewal) clearTimeout(this.renewal);
    this.renewal = undefined;
    this.wanted = false;
    await this.sync();
    await this.settled();
  }

  private sync(): Promise<void> {
    this.sending ??= this.sendLoop().finally(() => {
      this.sending = undefined;
    });
    return this.sending;
  }

  private async sendLoop(): Promise<void> {
    // Renew a confirmed protection when less than a third of it is left.
    const renewAt = () => this.confirmedUntil - (this.options.expiresInMinutes * 60_000) / 3;
    while (this.wanted !== this.confirmed || (this.wanted && Date.now() >= renewAt())) {
      const protect = this.wanted;
      if (!(await this.put(protect))) {
        this.schedule(RETRY_MS);
        return;
      }
      this.confirmed = protect;
      this.confirmedUntil = protect ? Date.now() + this.options.expiresInMinutes * 60_000 : 0;
    }
    if (this.confirmed) this.schedule(Math.max(1000, renewAt() - Date.now()));
    else if (this.renewal) clearTimeout(this.renewal);
  }

  private schedule(ms: number): void {
    if (this.renewal) clearTimeout(this.renewal);
    if (this.closed) return;
    this.renewal = setTimeout(() => {
      this.renewal = undefined;
      void this.sync();
    }, ms).unref();
  }

  private async put(protect: boolean): Promise<boolean> {
    try {
      const response = await this.fetchFn(`${this.agentUri}/task-protection/v1/state`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          protect
            ? { ProtectionEnabled: true, ExpiresInMinutes: this.options.expiresInMinutes }
            : { ProtectionEnabled: false },
        ),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const body = (await response.json().catch(() => ({}))) as { failure?: unknown; error?: unknown };
      if (!response.ok || body.failure || body.error) {
        this.logger.warn('the ECS agent refused the task protection change', {
          protect,
          status: response.status,
          failure: body.failure ?? body.error,
        });
        return false;
      }
      return true;
    } catch (error) {
      this.logger.warn('could not reach the ECS agent to change task protection', {
        protect,
        error: error instanceof Error ? error.message : String(error),
      });
      return false;
    }
  }
}
