import { type ApiKeyStore, newApiKey } from '../../lambdas/shared/adapters/api-keys.ts';
import type { UsagePlanKeys } from '../../lambdas/shared/adapters/usage-plan-keys.ts';

/** Tenant ids end up in storage keys (`inputs/{tenant}/…`) and key names: keep them plain. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface NewTenant {
  tenantId: string;
  /** The secret clients send in `x-api-key`; shown once, stored only as a hash. */
  apiKey: string;
  /** The API Gateway key that meters the tenant. */
  usagePlanKeyId: string;
}

/**
 * Adds a tenant to a deployed stack: a new API key, registered in the job table as a hash
 * together with the value of a new API Gateway key in the usage plan, which the authorizer
 * returns for it. The gateway key comes first and is deleted again if the table write fails,
 * so a failed run leaves neither half behind.
 */
export async function addTenant(
  stores: { apiKeys: Pick<ApiKeyStore, 'register'>; usagePlanKeys: Pick<UsagePlanKeys, 'create' | 'delete'> },
  tenantId: string,
): Promise<NewTenant> {
  if (!TENANT_ID_PATTERN.test(tenantId))
    throw new Error(
      `tenant id "${tenantId}" must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  const apiKey = newApiKey();
  const usagePlanKey = await stores.usagePlanKeys.create(tenantId);
  try {
    await stores.apiKeys.register(tenantId, apiKey, { usagePlanKey: usagePlanKey.value });
  } catch (error) {
    await stores.usagePlanKeys.delete(usagePlanKey.id);
    throw error;
  }
  return { tenantId, apiKey, usagePlanKeyId: usagePlanKey.id };
}
