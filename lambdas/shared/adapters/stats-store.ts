import { type DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TABLE } from '../resources.ts';

const STATS_TTL_SECONDS = 86_400;
/** Shortest span a rate is measured over, so one page done a second ago is not 60 pages/min. */
export const MIN_RATE_SPAN_MS = 30_000;

function minuteOf(at: Date): string {
  return at.toISOString().slice(0, 16);
}

/** What one engine did in one chunk: pages, engine time (ms, summed) and pages escalated to it. */
export interface EngineTally {
  engine: string;
  pages: number;
  ms: number;
  escalations: number;
}

/** One engine's figures over the throughput window (`GET /v1/queues/stats`). */
export interface EngineStats {
  pages: number;
  pagesPerMinute: number;
  /** Mean engine time per page (ms); null without pages. */
  meanMsPerPage: number | null;
  /** Pages `auto` sent to this engine after PP-OCR found them hard. */
  escalations: number;
}

type StatsItem = Record<string, unknown>;

/**
 * Per minute over the time that really passed since the first page counted in the window (at
 * least {@link MIN_RATE_SPAN_MS}): right after a burst on a young stack, dividing by the whole
 * window would make the rate, and every ETA built on it, several times too slow.
 */
function ratePerMinute(items: readonly StatsItem[], total: number, from: string, now: Date): number {
  if (total === 0) return 0;
  const bucketStart = Date.parse(`${from}:00.000Z`);
  const firsts = items
    .map((item) => Date.parse(typeof item.firstAt === 'string' ? item.firstAt : `${String(item.sk)}:00.000Z`))
    .filter((at) => Number.isFinite(at));
  const since = Math.max(bucketStart, firsts.length > 0 ? Math.min(...firsts) : bucketStart);
  const spanMs = Math.max(MIN_RATE_SPAN_MS, now.getTime() - since);
  return (total * 60_000) / spanMs;
}

const sum = (items: readonly StatsItem[], name: string) =>
  items.reduce((total, item) => total + Number(item[name] ?? 0), 0);

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
   * time that really passed since the first page counted in that window (see {@link ratePerMinute}).
   */
  async pagesPerMinute(minutes = 5, now = new Date()): Promise<number> {
    const from = minuteOf(new Date(now.getTime() - minutes * 60_000));
    const items = await this.minutes('STATS#pages', from);
    return ratePerMinute(items, sum(items, 'pages'), from, now);
  }

  /** Adds a chunk's pages, engine time and escalations to each engine's counter of the minute. */
  async recordEngines(tallies: readonly EngineTally[], at = new Date()): Promise<void> {
    await Promise.all(
      tallies.map((tally) =>
        this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { [TABLE.partitionKey]: `STATS#engine#${tally.engine}`, [TABLE.sortKey]: minuteOf(at) },
            UpdateExpression:
              'ADD #pages :pageCount, #ms :ms, #escalations :escalations SET #ttl = :ttl, #firstAt = if_not_exists(#firstAt, :at)',
            ExpressionAttributeNames: {
              '#pages': 'pages',
              '#ms': 'ms',
              '#escalations': 'escalations',
              '#ttl': TABLE.ttlAttribute,
              '#firstAt': 'firstAt',
            },
            ExpressionAttributeValues: {
              ':pageCount': tally.pages,
              ':ms': Math.round(tally.ms),
              ':escalations': tally.escalations,
              ':at': at.toISOString(),
              ':ttl': Math.floor(at.getTime() / 1000) + STATS_TTL_SECONDS,
            },
          }),
        ),
      ),
    );
  }

  /** Each engine's pages, rate, mean time per page and escalations over the last `minutes`. */
  async engineStats(
    engines: readonly string[],
    minutes = 5,
    now = new Date(),
  ): Promise<Record<string, EngineStats>> {
    const from = minuteOf(new Date(now.getTime() - minutes * 60_000));
    const entries = await Promise.all(
      engines.map(async (engine) => {
        const items = await this.minutes(`STATS#engine#${engine}`, from);
        const pages = sum(items, 'pages');
        const stats: EngineStats = {
          pages,
          pagesPerMinute: Math.round(ratePerMinute(items, pages, from, now) * 10) / 10,
          meanMsPerPage: pages > 0 ? Math.round(sum(items, 'ms') / pages) : null,
          escalations: sum(items, 'escalations'),
        };
        return [engine, stats] as const;
      }),
    );
    return Object.fromEntries(entries);
  }

  /** The per-minute counter items of one partition from minute `from` on. */
  private async minutes(partition: string, from: string): Promise<StatsItem[]> {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk AND #sk >= :from',
        ExpressionAttributeNames: { '#pk': TABLE.partitionKey, '#sk': TABLE.sortKey },
        ExpressionAttributeValues: { ':pk': partition, ':from': from },
      }),
    );
    return out.Items ?? [];
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
