import { createHash } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { TABLE } from '../resources.ts';

const CACHE_TTL_MS = 60_000;

export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

/**
 * API keys and the tenant each one belongs to, kept in the job table as SHA-256 hashes
 * (the key itself is never stored). Lookups are cached briefly: every request needs one.
 */
export class ApiKeyStore {
  private readonly cache = new Map<string, { tenantId: string | undefined; at: number }>();

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async register(tenantId: string, apiKey: string): Promise<void> {
    const hash = hashApiKey(apiKey);
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          [TABLE.partitionKey]: `APIKEY#${hash}`,
          [TABLE.sortKey]: 'APIKEY',
          tenantId,
          createdAt: new Date().toISOString(),
        },
      }),
    );
    this.cache.delete(hash);
  }

  /** The tenant the key belongs to; undefined for an unknown key. */
  async resolveTenant(apiKey: string): Promise<string | undefined> {
    const hash = hashApiKey(apiKey);
    const cached = this.cache.get(hash);
    if (cached && Date.now() - cached.at < CACHE_TTL_MS) return cached.tenantId;
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [TABLE.partitionKey]: `APIKEY#${hash}`, [TABLE.sortKey]: 'APIKEY' },
      }),
    );
    const tenantId = typeof Item?.tenantId === 'string' ? Item.tenantId : undefined;
    this.cache.set(hash, { tenantId, at: Date.now() });
    return tenantId;
  }
}
