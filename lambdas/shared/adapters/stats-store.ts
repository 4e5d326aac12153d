import { type DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TABLE } from '../resources.ts';

const STATS_TTL_SECONDS = 86_400;

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
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { [TABLE.partitionKey]: 'STATS#pages', [TABLE.sortKey]: minuteOf(at) },
        UpdateExpression: 'ADD #pages :n SET #ttl = :ttl',
        ExpressionAttributeNames: { '#pages': 'pages', '#ttl': TABLE.ttlAttribute },
        ExpressionAttributeValues: {
          ':n': pages,
          ':ttl': Math.floor(at.getTime() / 1000) + STATS_TTL_SECONDS,
        },
      }),
    );
  }

  /** Mean pages per minute over the last `minutes` whole minutes and the current one. */
  async pagesPerMinute(minutes = 5, now = new Date()): Promise<number> {
    const from = minuteOf(new Date(now.getTime() - minutes * 60_000));
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk AND #sk >= :from',
        ExpressionAttributeNames: { '#pk': TABLE.partitionKey, '#sk': TABLE.sortKey },
        ExpressionAttributeValues: { ':pk': 'STATS#pages', ':from': from },
      }),
    );
    const total = (out.Items ?? []).reduce((sum, item) => sum + Number(item.pages ?? 0), 0);
    return total / (minutes + 1);
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
