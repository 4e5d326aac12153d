import { createHash, randomBytes } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { TABLE } from '../resources.ts';

const CACHE_TTL_MS = 60_000;

export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

/** A new secret API key: 32 random bytes, URL-safe. */
export function newApiKey(): string {
  return randomBytes(32).toString('base64url');
}

/** What an API key resolves to. */
export interface ApiKeyRecord {
  tenantId: string;
  /** The tenant's API Gateway usage-plan key value; absent on the local stack. */
  usagePlanKey?: string;
}

/**
 * API keys and the tenant each one belongs to, kept in the job table as SHA-256 hashes
 * (the key itself is never stored). Lookups are cached briefly: every request needs one.
 */
export class ApiKeyStore {
  private readonly cache = new Map<string, { record: ApiKeyRecord | undefined; at: number }>();

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Stores the key's hash with its tenant and, in the cloud, the value of the tenant's API
   * Gateway usage-plan key, which the authorizer hands back as `usageIdentifierKey`. That
   * value only meters: with `apiKeySource: AUTHORIZER` the gateway never accepts it from a
   * client, so it is kept in clear beside the hash.
   */
  async register(tenantId: string, apiKey: string, options: { usagePlanKey?: string } = {}): Promise<void> {
    const hash = hashApiKey(apiKey);
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          [TABLE.partitionKey]: `APIKEY#${hash}`,
          [TABLE.sortKey]: 'APIKEY',
          tenantId,
          ...(options.usagePlanKey ? { usagePlanKey: options.usagePlanKey } : {}),
          createdAt: new Date().toISOString(),
        },
      }),
    );
    this.cache.delete(hash);
  }

  /** The tenant the key belongs to; undefined for an unknown key. */
  async resolveTenant(apiKey: string): Promise<string | undefined> {
    return (await this.resolve(apiKey))?.tenantId;
  }

  /** The tenant and usage-plan key of an API key; undefined for an unknown key. */
  async resolve(apiKey: string): Promise<ApiKeyRecord | undefined> {
    const hash = hashApiKey(apiKey);
    const cached = this.cache.get(hash);
    if (cached && Date.now() - cached.at < CACHE_TTL_MS) return cached.record;
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [TABLE.partitionKey]: `APIKEY#${hash}`, [TABLE.sortKey]: 'APIKEY' },
      }),
    );
    const record: ApiKeyRecord | undefined =
      typeof Item?.tenantId === 'string'
        ? {
            tenantId: Item.tenantId,
            ...(typeof Item.usagePlanKey === 'string' ? { usagePlanKey: Item.usagePlanKey } : {}),
          }
        : undefined;
    this.cache.set(hash, { record, at: Date.now() });
    return record;
  }
}
