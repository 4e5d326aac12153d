import { randomBytes } from 'node:crypto';
import {
  type APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
} from '@aws-sdk/client-api-gateway';

/** An API Gateway API key that meters one tenant. */
export interface UsagePlanKey {
  id: string;
  /** What the authorizer returns as `usageIdentifierKey`. */
  value: string;
}

/**
 * The API Gateway keys of a usage plan, one per tenant. The plan's throttle and quota apply
 * to each key on its own, so every tenant gets its own budget. Clients never see these
 * keys: the API's authorizer picks the tenant's key (`apiKeySource: AUTHORIZER`).
 *
 * @example
 * const keys = new UsagePlanKeys(new APIGatewayClient({}), usagePlanId);
 * const key = await keys.create('tenant-a');
 */
export class UsagePlanKeys {
  constructor(
    private readonly client: APIGatewayClient,
    private readonly usagePlanId: string,
  ) {}

  /** A new enabled key for the tenant, added to the plan; the key is deleted again if that fails. */
  async create(tenantId: string): Promise<UsagePlanKey> {
    const value = randomBytes(32).toString('base64url');
    const created = await this.client.send(
      new CreateApiKeyCommand({
        name: `ocr-pipeline-${tenantId}-${Date.now()}`,
        description: `Usage-plan key of tenant ${tenantId} (chosen by the authorizer, never sent by clients)`,
        enabled: true,
        value,
        tags: { tenant: tenantId },
      }),
    );
    const id = created.id;
    if (!id) throw new Error('API Gateway created an API key without an id');
    try {
      await this.client.send(
        new CreateUsagePlanKeyCommand({ usagePlanId: this.usagePlanId, keyId: id, keyType: 'API_KEY' }),
      );
    } catch (error) {
      await this.delete(id);
      throw error;
    }
    return { id, value };
  }

  /** Deletes a key (and with it its place in the plan). */
  async delete(keyId: string): Promise<void> {
    await this.client.send(new DeleteApiKeyCommand({ apiKey: keyId }));
  }
}
