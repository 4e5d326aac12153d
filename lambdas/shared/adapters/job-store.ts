import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, InvalidTransitionError, JobNotFoundError, ValidationError } from '../errors.ts';
import { isTerminal, type Job, type JobError, type JobStatus } from '../job.ts';
import { sourcesOf } from '../job-state.ts';
import { TABLE, TABLE_INDEXES } from '../resources.ts';

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

export interface JobPage {
  jobs: Job[];
  /** Opaque cursor for the next page; absent on the last one. */
  cursor?: string;
}

export interface TransitionResult {
  job: Job;
  /** False when the job already had the target status: a repeated delivery, nothing written. */
  changed: boolean;
}

const jobKey = (jobId: string) => ({ [TABLE.partitionKey]: `JOB#${jobId}`, [TABLE.sortKey]: 'JOB' });
const KEY_ATTRIBUTES = new Set<string>([
  TABLE.partitionKey,
  TABLE.sortKey,
  ...TABLE_INDEXES.flatMap((index) => [index.partitionKey, index.sortKey]),
]);

/** Index keys of the sparse indexes, as they must be while the job has `status`. */
function sparseIndexKeys(job: Pick<Job, 'tenantId' | 'jobId' | 'priority'>, status: JobStatus, at: string) {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  if (isTerminal(status)) remove.push(TABLE.activeIndex.partitionKey, TABLE.activeIndex.sortKey);
  else {
    set[TABLE.activeIndex.partitionKey] = `ACTIVE#${job.tenantId}`;
    set[TABLE.activeIndex.sortKey] = job.jobId;
  }
  if (status === 'QUEUED') {
    set[TABLE.waitingIndex.partitionKey] = `QUEUED#${job.priority}`;
    set[TABLE.waitingIndex.sortKey] = `${at}#${job.jobId}`;
  } else remove.push(TABLE.waitingIndex.partitionKey, TABLE.waitingIndex.sortKey);
  return { set, remove };
}

function toItem(job: Job): Record<string, unknown> {
  return {
    ...jobKey(job.jobId),
    [TABLE.tenantIndex.partitionKey]: `TENANT#${job.tenantId}`,
    [TABLE.tenantIndex.sortKey]: `${job.createdAt}#${job.jobId}`,
    ...sparseIndexKeys(job, job.status, job.queuedAt ?? job.createdAt).set,
    ...job,
  };
}

function fromItem(item: Record<string, unknown>): Job {
  return Object.fromEntries(Object.entries(item).filter(([k]) => !KEY_ATTRIBUTES.has(k))) as unknown as Job;
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
    clear: ReadonlyArray<'error' | 'finishedAt' | 'enqueuedAt' | 'expiresAt'> = [],
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
    // The waiting index is per queue: whoever queues a job says on which.
    if (to === 'QUEUED' && !patch.priority) throw new Error('a transition to QUEUED needs the job priority');
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
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
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
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * The tenant's jobs, newest first, optionally only those in one status. DynamoDB applies
   * the limit before the filter, so this reads on until the page is full or the index ends.
   */
  async list(
    tenantId: string,
    options: { limit: number; cursor?: string; status?: JobStatus },
  ): Promise<JobPage> {
    const jobs: Job[] = [];
    let startKey = options.cursor ? decodeCursor(options.cursor) : undefined;
    if (startKey && startKey[TABLE.tenantIndex.partitionKey] !== `TENANT#${tenantId}`) {
      throw new ValidationError('cursor is not valid');
    }
    do {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: TABLE.tenantIndex.name,
          KeyConditionExpression: '#pk = :pk',
          ScanIndexForward: false,
          Limit: options.limit - jobs.length,
          ExclusiveStartKey: startKey,
          ...(options.status
            ? {
                FilterExpression: '#status = :status',
                ExpressionAttributeNames: { '#pk': TABLE.tenantIndex.partitionKey, '#status': 'status' },
                ExpressionAttributeValues: { ':pk': `TENANT#${tenantId}`, ':status': options.status },
              }
            : {
                ExpressionAttributeNames: { '#pk': TABLE.tenantIndex.partitionKey },
                ExpressionAttributeValues: { ':pk': `TENANT#${tenantId}` },
              }),
        }),
      );
      jobs.push(...(out.Items ?? []).map(fromItem));
      startKey = out.LastEvaluatedKey;
    } while (startKey && jobs.length < options.limit);
    return { jobs, ...(startKey ? { cursor: encodeCursor(startKey) } : {}) };
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
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression:
            'ADD #chunksDone :chunk SET #pages.#done = #pages.#done + :pages, #updatedAt = :now',
          ConditionExpression:
            '#tenantId = :tenantId AND #status = :processing AND (attribute_not_exists(#chunksDone) OR NOT contains(#chunksDone, :index))',
          ExpressionAttributeNames: {
            '#chunksDone': 'chunksDone',
            '#pages': 'pages',
            '#done': 'done',
            '#updatedAt': 'updatedAt',
            '#tenantId': 'tenantId',
            '#status': 'status',
          },
          ExpressionAttributeValues: {
            ':chunk': new Set([chunkIndex]),
            ':index': chunkIndex,
            ':pages': pages,
            ':now': new Date().toISOString(),
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

  /** How many unfinished jobs the tenant has, counting no further than `cap`. */
  async countActive(tenantId: string, cap: number): Promise<number> {
    return this.countIndex(TABLE.activeIndex.name, TABLE.activeIndex.partitionKey, `ACTIVE#${tenantId}`, cap);
  }

  /**
   * The QUEUED jobs of a queue ahead of `job` (queued earlier), at most `cap`, with the pages
   * they still have to do: the job's position and the work before it.
   */
  async waitingAhead(job: Job, cap: number): Promise<{ jobs: number; pages: number }> {
    const index = TABLE.waitingIndex;
    let jobs = 0;
    let pages = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: index.name,
          KeyConditionExpression: '#pk = :pk AND #sk < :sk',
          ProjectionExpression: '#pages',
          ExpressionAttributeNames: { '#pk': index.partitionKey, '#sk': index.sortKey, '#pages': 'pages' },
          ExpressionAttributeValues: {
            ':pk': `QUEUED#${job.priority}`,
            ':sk': `${job.queuedAt ?? job.createdAt}#${job.jobId}`,
          },
          Limit: Math.min(cap - jobs, 1000),
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        const p = item.pages as Job['pages'] | undefined;
        jobs += 1;
        pages += Math.max(1, (p?.total ?? 1) - (p?.done ?? 0));
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey && jobs < cap);
    return { jobs, pages };
  }

  /** When the longest-waiting QUEUED job of a queue was queued; undefined when none waits. */
  async oldestQueuedAt(priority: Job['priority']): Promise<string | undefined> {
    const index = TABLE.waitingIndex;
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: index.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': index.partitionKey },
        ExpressionAttributeValues: { ':pk': `QUEUED#${priority}` },
        ScanIndexForward: true,
        Limit: 1,
      }),
    );
    const first = out.Items?.[0];
    return typeof first?.queuedAt === 'string' ? first.queuedAt : undefined;
  }

  private async countIndex(indexName: string, keyName: string, key: string, cap: number): Promise<number> {
    let count = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: indexName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': keyName },
          ExpressionAttributeValues: { ':pk': key },
          Select: 'COUNT',
          Limit: Math.min(cap - count + 1, 1000),
          ExclusiveStartKey: startKey,
        }),
      );
      count += out.Count ?? 0;
      startKey = out.LastEvaluatedKey;
    } while (startKey && count <= cap);
    return count;
  }
}

function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string): Record<string, unknown> {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (key && typeof key === 'object' && !Array.isArray(key)) return key as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new ValidationError('cursor is not valid');
}
