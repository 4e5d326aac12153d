import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../errors.ts';
import type { Job, JobStatus, Priority } from '../job.ts';
import { TABLE } from '../resources.ts';
import { decodeCursor, encodeCursor, fromItem, UNANNOUNCED } from './job-items.ts';

export interface JobPage {
  jobs: Job[];
  /** Opaque cursor for the next page; absent on the last one. */
  cursor?: string;
}

/**
 * Reads across many jobs, through the table's indexes: a tenant's listing and its share of the
 * work (limits), a job's place in its queue, and the scans the reconciler makes. The writes of
 * one job's life are {@link JobStore}'s.
 */
export class JobQueries {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

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
        jobs += 1;
        pages += pagesLeft(item.pages as Job['pages'] | undefined);
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

  /**
   * Pages the tenant's unfinished jobs still have to do (pages not yet counted, at least one a
   * job: an upload not yet counted is one page), reading no further than `cap` pages: the
   * tenant's share of the queues, which create-job caps.
   */
  async pendingPages(tenantId: string, cap: number): Promise<number> {
    let pages = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: TABLE.activeIndex.name,
          KeyConditionExpression: '#pk = :pk',
          ProjectionExpression: '#pages',
          ExpressionAttributeNames: { '#pk': TABLE.activeIndex.partitionKey, '#pages': 'pages' },
          ExpressionAttributeValues: { ':pk': `ACTIVE#${tenantId}` },
          Limit: 1000,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) pages += pagesLeft(item.pages as Job['pages'] | undefined);
      startKey = out.LastEvaluatedKey;
    } while (startKey && pages <= cap);
    return pages;
  }

  /**
   * QUEUED jobs of a queue, queued before `before`, whose messages were never recorded as sent
   * (`enqueuedAt` missing): ingest or a requeue died between the status and the send.
   */
  async unsentQueued(priority: Priority, before: string, limit: number): Promise<Job[]> {
    return this.byQueueIndex(`QUEUED#${priority}`, before, limit, {
      expression: 'attribute_not_exists(#enqueuedAt)',
      names: { '#enqueuedAt': 'enqueuedAt' },
    });
  }

  /** Settled jobs, settled before `before`, whose event was not recorded as published. */
  async unannounced(before: string, limit: number): Promise<Job[]> {
    return this.byQueueIndex(UNANNOUNCED, before, limit);
  }

  /** PROCESSING jobs of a queue whose last progress was before `before`, oldest first. */
  async stalledProcessing(priority: Priority, before: string, limit: number): Promise<Job[]> {
    return this.byQueueIndex(`PROCESSING#${priority}`, before, limit);
  }

  private async byQueueIndex(
    partition: string,
    before: string,
    limit: number,
    filter?: { expression: string; names: Record<string, string> },
  ): Promise<Job[]> {
    const index = TABLE.waitingIndex;
    const jobs: Job[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: index.name,
          KeyConditionExpression: '#pk = :pk AND #sk < :before',
          ...(filter ? { FilterExpression: filter.expression } : {}),
          ExpressionAttributeNames: {
            '#pk': index.partitionKey,
            '#sk': index.sortKey,
            ...filter?.names,
          },
          ExpressionAttributeValues: { ':pk': partition, ':before': before },
          ScanIndexForward: true,
          Limit: Math.max(limit, 25),
          ExclusiveStartKey: startKey,
        }),
      );
      jobs.push(...(out.Items ?? []).map(fromItem));
      startKey = out.LastEvaluatedKey;
    } while (startKey && jobs.length < limit);
    return jobs.slice(0, limit);
  }
}

/** Pages a job still has to do; at least one (an upload not yet counted is one page). */
function pagesLeft(pages: Job['pages'] | undefined): number {
  return Math.max(1, (pages?.total ?? 0) - (pages?.done ?? 0));
}
