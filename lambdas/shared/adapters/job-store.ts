import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, InvalidTransitionError, JobNotFoundError } from '../errors.ts';
import {
  type Job,
  type JobError,
  type JobStatus,
  WEBHOOK_ATTEMPTS_KEPT,
  type WebhookAttempt,
} from '../job.ts';
import { sourcesOf } from '../job-state.ts';
import { TABLE } from '../resources.ts';
import { fromItem, jobKey, sparseIndexKeys, toItem, UNANNOUNCED } from './job-items.ts';

/** Fields a transition may remove (a requeued job loses its error, expiry and attempt counts). */
export type ClearableField =
  | 'error'
  | 'finishedAt'
  | 'enqueuedAt'
  | 'expiresAt'
  | 'lastError'
  | 'chunkFailures'
  | 'resends';

/** Fields a transition may set besides the status itself. */
export type JobPatch = Partial<
  Pick<
    Job,
    | 'pages'
    | 'uploadedAt'
    | 'queuedAt'
    | 'startedAt'
    | 'finishedAt'
    | 'error'
    | 'result'
    | 'expiresAt'
    | 'sizeBytes'
    | 'priority'
    | 'chunks'
  >
>;

export interface TransitionResult {
  job: Job;
  /** False when the job already had the target status: a repeated delivery, nothing written. */
  changed: boolean;
}

/**
 * The job table. Every status change is one conditional UpdateItem whose condition is the
 * state machine's set of allowed sources, plus the tenant, so a job is only ever touched on
 * behalf of its own tenant.
 *
 * @example
 * const { changed } = await jobs.transition(tenantId, jobId, 'PROCESSING', { startedAt: now });
 * if (!changed) return; // someone else moved it there first
 */
export class JobStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(job: Job): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: toItem(job),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConflictError('JOB_EXISTS', `job ${job.jobId} already exists`);
      }
      throw error;
    }
  }

  /** The job, or undefined when it does not exist or belongs to another tenant. */
  async get(tenantId: string, jobId: string): Promise<Job | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: jobKey(jobId), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const job = fromItem(Item);
    return job.tenantId === tenantId ? job : undefined;
  }

  /**
   * Moves the job to `to` if the state machine allows it from the stored status.
   * Already at `to`: returns `changed: false` and writes nothing. Any other refused
   * move throws {@link InvalidTransitionError}; a missing job {@link JobNotFoundError}.
   * `clear` names fields to remove (a retried job loses its error).
   */
  async transition(
    tenantId: string,
    jobId: string,
    to: JobStatus,
    patch: JobPatch = {},
    clear: ReadonlyArray<ClearableField> = [],
  ): Promise<TransitionResult> {
    const names: Record<string, string> = {
      '#status': 'status',
      '#tenantId': 'tenantId',
      '#updatedAt': 'updatedAt',
    };
    const values: Record<string, unknown> = {
      ':to': to,
      ':tenantId': tenantId,
      ':updatedAt': new Date().toISOString(),
    };
    const sets = ['#status = :to', '#updatedAt = :updatedAt'];
    for (const [field, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      names[`#${field}`] = field;
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    // The queue index is per queue: whoever queues or starts a job says on which.
    if ((to === 'QUEUED' || to === 'PROCESSING') && !patch.priority)
      throw new Error(`a transition to ${to} needs the job priority`);
    const indexKeys = sparseIndexKeys(
      { tenantId, jobId, priority: patch.priority ?? 'express' },
      to,
      patch.queuedAt ?? String(values[':updatedAt']),
    );
    for (const [field, value] of Object.entries(indexKeys.set)) {
      names[`#${field}`] = field;
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    for (const field of [...indexKeys.remove, ...clear]) names[`#${field}`] = field;
    const removes = [...indexKeys.remove, ...clear].map((field) => `#${field}`);
    const sources = sourcesOf(to);
    sources.forEach((s, i) => {
      values[`:from${i}`] = s;
    });
    const condition = `#tenantId = :tenantId AND #status IN (${sources.map((_, i) => `:from${i}`).join(', ')})`;
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { job: fromItem(Attributes ?? {}), changed: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = await this.get(tenantId, jobId);
      if (!current) throw new JobNotFoundError(jobId);
      if (current.status === to) return { job: current, changed: false };
      throw new InvalidTransitionError(jobId, current.status, to);
    }
  }

  /**
   * Records that the job's work messages were sent, once and only while the job is QUEUED:
   * true for the first caller only. A job cancelled (or already picked up) meanwhile answers
   * false, so no `job.queued` event can follow its `job.cancelled`.
   */
  async markEnqueued(tenantId: string, jobId: string, at: string): Promise<boolean> {
    return this.updateIf({
      Key: jobKey(jobId),
      UpdateExpression: 'SET #enqueuedAt = :at',
      ConditionExpression:
        '#tenantId = :tenantId AND #status = :queued AND attribute_not_exists(#enqueuedAt)',
      ExpressionAttributeNames: {
        '#enqueuedAt': 'enqueuedAt',
        '#tenantId': 'tenantId',
        '#status': 'status',
      },
      ExpressionAttributeValues: { ':at': at, ':tenantId': tenantId, ':queued': 'QUEUED' },
    });
  }

  /**
   * Counts a chunk's pages as done, once: the chunk index joins the job's set of done chunks
   * only if it is not there yet and the job is still PROCESSING. `changed: false` means this
   * chunk was counted before (a repeated delivery); a job that moved on (cancelled) throws
   * {@link InvalidTransitionError}. The caller that sees every chunk done assembles the result.
   */
  async completeChunk(
    tenantId: string,
    jobId: string,
    chunkIndex: number,
    pages: number,
  ): Promise<TransitionResult> {
    const now = new Date().toISOString();
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression:
            'ADD #chunksDone :chunk SET #pages.#done = #pages.#done + :pages, #updatedAt = :now, #progress = :progress',
          ConditionExpression:
            '#tenantId = :tenantId AND #status = :processing AND (attribute_not_exists(#chunksDone) OR NOT contains(#chunksDone, :index))',
          ExpressionAttributeNames: {
            '#chunksDone': 'chunksDone',
            '#pages': 'pages',
            '#done': 'done',
            '#updatedAt': 'updatedAt',
            '#tenantId': 'tenantId',
            '#status': 'status',
            '#progress': TABLE.waitingIndex.sortKey,
          },
          ExpressionAttributeValues: {
            ':progress': `${now}#${jobId}`,
            ':chunk': new Set([chunkIndex]),
            ':index': chunkIndex,
            ':pages': pages,
            ':now': now,
            ':tenantId': tenantId,
            ':processing': 'PROCESSING',
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { job: fromItem(Attributes ?? {}), changed: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = await this.get(tenantId, jobId);
      if (!current) throw new JobNotFoundError(jobId);
      if (current.status !== 'PROCESSING')
        throw new InvalidTransitionError(jobId, current.status, 'PROCESSING');
      return { job: current, changed: false };
    }
  }

  /**
   * Counts one failed attempt of a chunk on the job and keeps the error as `lastError` (for
   * the MAX_ATTEMPTS message should attempts run out); returns that chunk's failures so far.
   * Counting on the job rather than by SQS receives means a message returned at shutdown, or
   * by a worker that died, costs the job no attempt.
   */
  async recordFailedAttempt(
    tenantId: string,
    jobId: string,
    chunkIndex: number,
    error: JobError,
  ): Promise<number> {
    const update = (expression: string, condition: string, values: Record<string, unknown>) =>
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression: expression,
          ConditionExpression: `#tenantId = :tenantId AND ${condition}`,
          ExpressionAttributeNames: {
            '#failures': 'chunkFailures',
            '#lastError': 'lastError',
            '#tenantId': 'tenantId',
            ...(expression.includes('#chunk') ? { '#chunk': String(chunkIndex) } : {}),
          },
          ExpressionAttributeValues: { ':error': error, ':tenantId': tenantId, ...values },
          ReturnValues: 'ALL_NEW',
        }),
      );
    try {
      // DynamoDB's ADD works on top-level attributes only: a counter inside the map is a SET.
      const { Attributes } = await update(
        'SET #failures.#chunk = if_not_exists(#failures.#chunk, :zero) + :one, #lastError = :error',
        'attribute_exists(#failures)',
        { ':zero': 0, ':one': 1 },
      );
      return Number(
        (Attributes?.chunkFailures as Record<string, unknown> | undefined)?.[String(chunkIndex)] ?? 1,
      );
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
    }
    try {
      await update('SET #failures = :first, #lastError = :error', 'attribute_not_exists(#failures)', {
        ':first': { [String(chunkIndex)]: 1 },
      });
      return 1;
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
      // Another failure created the map first (or the job is another tenant's / gone).
      if (!(await this.get(tenantId, jobId))) throw new JobNotFoundError(jobId);
      return this.recordFailedAttempt(tenantId, jobId, chunkIndex, error);
    }
  }

  /**
   * Records that the event of the job's `status` was published: the job leaves the reconciler's
   * list of settled jobs still to announce. False when the job has moved on since.
   */
  async markAnnounced(tenantId: string, jobId: string, status: JobStatus): Promise<boolean> {
    return this.updateIf({
      Key: jobKey(jobId),
      UpdateExpression: 'REMOVE #pk3, #sk3',
      ConditionExpression: '#tenantId = :tenantId AND #status = :status AND #pk3 = :unannounced',
      ExpressionAttributeNames: {
        '#pk3': TABLE.waitingIndex.partitionKey,
        '#sk3': TABLE.waitingIndex.sortKey,
        '#tenantId': 'tenantId',
        '#status': 'status',
      },
      ExpressionAttributeValues: {
        ':tenantId': tenantId,
        ':status': status,
        ':unannounced': UNANNOUNCED,
      },
    });
  }

  /**
   * Records that a PROCESSING job is making progress (a worker holds one of its messages), so
   * the reconciler does not take it for stalled. False when the job is no longer PROCESSING.
   */
  async touchProgress(tenantId: string, jobId: string, at = new Date()): Promise<boolean> {
    return this.updateIf({
      Key: jobKey(jobId),
      UpdateExpression: 'SET #progress = :progress',
      ConditionExpression: '#tenantId = :tenantId AND #status = :processing',
      ExpressionAttributeNames: {
        '#progress': TABLE.waitingIndex.sortKey,
        '#tenantId': 'tenantId',
        '#status': 'status',
      },
      ExpressionAttributeValues: {
        ':progress': `${at.toISOString()}#${jobId}`,
        ':tenantId': tenantId,
        ':processing': 'PROCESSING',
      },
    });
  }

  /**
   * Counts one resend of a stalled PROCESSING job's unfinished chunks and restarts its progress
   * clock; returns the resends so far. Throws {@link InvalidTransitionError} when the job is no
   * longer PROCESSING.
   */
  async recordResend(tenantId: string, jobId: string): Promise<number> {
    const now = new Date().toISOString();
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression: 'ADD #resends :one SET #progress = :progress, #updatedAt = :now',
          ConditionExpression: '#tenantId = :tenantId AND #status = :processing',
          ExpressionAttributeNames: {
            '#resends': 'resends',
            '#progress': TABLE.waitingIndex.sortKey,
            '#updatedAt': 'updatedAt',
            '#tenantId': 'tenantId',
            '#status': 'status',
          },
          ExpressionAttributeValues: {
            ':one': 1,
            ':progress': `${now}#${jobId}`,
            ':now': now,
            ':tenantId': tenantId,
            ':processing': 'PROCESSING',
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Number(Attributes?.resends ?? 1);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = await this.get(tenantId, jobId);
      if (!current) throw new JobNotFoundError(jobId);
      throw new InvalidTransitionError(jobId, current.status, 'PROCESSING');
    }
  }

  /**
   * Appends one webhook delivery attempt to the job, keeping the latest
   * {@link WEBHOOK_ATTEMPTS_KEPT}: an append, then (when the list grew past that) a trim that
   * applies only if nobody appended in between (a lost trim leaves the list one step longer,
   * and the next append trims it). False when the job is gone.
   */
  async recordWebhookAttempt(tenantId: string, jobId: string, attempt: WebhookAttempt): Promise<boolean> {
    let attempts: unknown[];
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression: 'SET #attempts = list_append(if_not_exists(#attempts, :none), :attempt)',
          ConditionExpression: '#tenantId = :tenantId',
          ExpressionAttributeNames: { '#attempts': 'webhookAttempts', '#tenantId': 'tenantId' },
          ExpressionAttributeValues: { ':none': [], ':attempt': [attempt], ':tenantId': tenantId },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      attempts = (Attributes?.webhookAttempts as unknown[] | undefined) ?? [];
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
    const excess = attempts.length - WEBHOOK_ATTEMPTS_KEPT;
    if (excess > 0) {
      await this.updateIf({
        Key: jobKey(jobId),
        UpdateExpression: `REMOVE ${Array.from({ length: excess }, (_, i) => `#attempts[${i}]`).join(', ')}`,
        ConditionExpression: 'size(#attempts) = :length',
        ExpressionAttributeNames: { '#attempts': 'webhookAttempts' },
        ExpressionAttributeValues: { ':length': attempts.length },
      });
    }
    return true;
  }

  /** A conditional update of one job item: true when it was written, false when its condition failed. */
  private async updateIf(input: Omit<UpdateCommandInput, 'TableName'>): Promise<boolean> {
    try {
      await this.client.send(new UpdateCommand({ TableName: this.tableName, ...input }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
