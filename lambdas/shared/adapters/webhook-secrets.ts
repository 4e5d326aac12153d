import { randomBytes } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { TABLE } from '../resources.ts';

/** A tenant's webhook signing secret, and the one it replaced while that stays valid. */
export interface WebhookSecret {
  secret: string;
  createdAt: string;
  /** The secret before the last rotation: deliveries are signed with it too until `expiresAt`. */
  previous?: { secret: string; expiresAt: string };
}

/** A new secret: 32 random bytes, URL-safe, with a prefix that says what it is. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

const key = (tenantId: string) => ({
  [TABLE.partitionKey]: `TENANT#${tenantId}`,
  [TABLE.sortKey]: 'WEBHOOK_SECRET',
});

/**
 * Tenants' webhook secrets, one item per tenant in the job table. A secret is created on first
 * use (the first job with a webhook, or the first read): a conditional put, so two first uses at
 * once agree on one. Rotation keeps the old secret for a grace period, during which deliveries
 * carry a signature under each, so receivers can switch without missing a delivery.
 */
export class WebhookSecretStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private async read(tenantId: string): Promise<(WebhookSecret & { version: number }) | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: key(tenantId), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    return {
      secret: Item.secret as string,
      createdAt: Item.createdAt as string,
      version: Item.version as number,
      ...(Item.previous ? { previous: Item.previous as WebhookSecret['previous'] & object } : {}),
    };
  }

  /** Writes `next` if the item is still at `version` (absent for 0); false if someone else wrote first. */
  private async write(tenantId: string, next: WebhookSecret, version: number): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key(tenantId), tenantId, ...next, version: version + 1 },
          ...(version === 0
            ? {
                ConditionExpression: 'attribute_not_exists(#pk)',
                ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
              }
            : {
                ConditionExpression: '#version = :version',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':version': version },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** The tenant's secret, created now if it has none. */
  async get(tenantId: string): Promise<WebhookSecret> {
    for (;;) {
      const current = await this.read(tenantId);
      if (current) return withoutVersion(current);
      const created = { secret: newWebhookSecret(), createdAt: new Date().toISOString() };
      if (await this.write(tenantId, created, 0)) return created;
    }
  }

  /**
   * Replaces the secret with a new one; the old one stays valid for `graceSeconds` (deliveries
   * are signed with both meanwhile). A rotation during another one's grace drops the older secret.
   */
  async rotate(tenantId: string, graceSeconds: number): Promise<WebhookSecret> {
    for (;;) {
      const current = await this.read(tenantId);
      const now = new Date();
      const next: WebhookSecret = {
        secret: newWebhookSecret(),
        createdAt: now.toISOString(),
        ...(current
          ? {
              previous: {
                secret: current.secret,
                expiresAt: new Date(now.getTime() + graceSeconds * 1000).toISOString(),
              },
            }
          : {}),
      };
      if (await this.write(tenantId, next, current?.version ?? 0)) return next;
    }
  }

  /** The secrets a delivery is signed with now: the current one, and the previous one in its grace. */
  async signingSecrets(tenantId: string, now = new Date()): Promise<string[]> {
    const { secret, previous } = await this.get(tenantId);
    return previous && new Date(previous.expiresAt) > now ? [secret, previous.secret] : [secret];
  }
}

function withoutVersion({
  version: _version,
  ...secret
}: WebhookSecret & { version: number }): WebhookSecret {
  return secret;
}
