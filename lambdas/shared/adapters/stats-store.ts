import { type DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TABLE } from '../resources.ts';

const STATS_TTL_SECONDS = 86_400;
/** Shortest span a rate is measured over, so one page done a second ago is not 60 pages/min. */
export const MIN_RATE_SPAN_MS = 30_000;

function minuteOf(at: Date): string {
  return at.toISOString().slice(0, 16);
}

/**
 * Throughput figures the queue-stats route and ETAs read: pages finished per minute
 * (one counter item per minute) and worker heartbeats. Both expire by TTL after a day.
 */
export class StatsStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async recordPages(pages: number, at = new Date()): Promise<void> {
    // The sort key is the minute; the first page's own time makes short spans measurable.
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { [TABLE.partitionKey]: 'STATS#pages', [TABLE.sortKey]: minuteOf(at) },
        UpdateExpression: 'ADD #pages :n SET #ttl = :ttl, #firstAt = if_not_exists(#firstAt, :at)',
        ExpressionAttributeNames: { '#pages': 'pages', '#ttl': TABLE.ttlAttribute, '#firstAt': 'firstAt' },
        ExpressionAttributeValues: {
          ':n': pages,
          ':at': at.toISOString(),
          ':ttl': Math.floor(at.getTime() / 1000) + STATS_TTL_SECONDS,
        },
      }),
    );
  }

  /**
   * Pages per minute over the last `minutes` whole minutes and the current one, divided by the
   * time that really passed since the first page counted in that window (at least
   * {@link MIN_RATE_SPAN_MS}): right after a burst on a young stack, dividing by the whole window
   * would make the rate, and every ETA built on it, several times too slow.
   */
  async pagesPerMinute(minutes = 5, now = new Date()): Promise<number> {
    const windowStart = new Date(now.getTime() - minutes * 60_000);
    const from = minuteOf(windowStart);
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk AND #sk >= :from',
        ExpressionAttributeNames: { '#pk': TABLE.partitionKey, '#sk': TABLE.sortKey },
        ExpressionAttributeValues: { ':pk': 'STATS#pages', ':from': from },
      }),
    );
    const items = out.Items ?? [];
    const total = items.reduce((sum, item) => sum + Number(item.pages ?? 0), 0);
    if (total === 0) return 0;
    const bucketStart = Date.parse(`${from}:00.000Z`);
    const firsts = items
      .map((item) =>
        Date.parse(typeof item.firstAt === 'string' ? item.firstAt : `${String(item.sk)}:00.000Z`),
      )
      .filter((at) => Number.isFinite(at));
    const since = Math.max(bucketStart, firsts.length > 0 ? Math.min(...firsts) : bucketStart);
    const spanMs = Math.max(MIN_RATE_SPAN_MS, now.getTime() - since);
    return (total * 60_000) / spanMs;
  }

  async heartbeat(workerId: string, at = new Date()): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          [TABLE.partitionKey]: 'WORKERS',
          [TABLE.sortKey]: workerId,
          lastSeenAt: at.toISOString(),
          [TABLE.ttlAttribute]: Math.floor(at.getTime() / 1000) + STATS_TTL_SECONDS,
        },
      }),
    );
  }

  /** Workers that sent a heartbeat within the last `withinSeconds`. */
  async activeWorkers(withinSeconds = 60, now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - withinSeconds * 1000).toISOString();
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk',
        FilterExpression: '#seen >= :cutoff',
        ExpressionAttributeNames: { '#pk': TABLE.partitionKey, '#seen': 'lastSeenAt' },
        ExpressionAttributeValues: { ':pk': 'WORKERS', ':cutoff': cutoff },
      }),
    );
    return out.Count ?? 0;
  }
}
