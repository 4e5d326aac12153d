import type { WebhookSecret } from '../shared/adapters/webhook-secrets.ts';
import { webhookSettings } from '../shared/config.ts';
import { type ApiEvent, type ApiHandler, apiHandler, json } from '../shared/http.ts';
import type { Runtime } from '../shared/runtime.ts';

/** What the tenant sees of its secret: the secret, and until when the previous one still signs. */
function present(secret: WebhookSecret) {
  return {
    secret: secret.secret,
    createdAt: secret.createdAt,
    ...(secret.previous && new Date(secret.previous.expiresAt) > new Date()
      ? { previousExpiresAt: secret.previous.expiresAt }
      : {}),
  };
}

/** GET /v1/webhook-secret: the tenant's webhook signing secret (created on first use). */
export async function getWebhookSecret(runtime: Runtime, tenantId: string) {
  return present(await runtime.webhookSecrets.get(tenantId));
}

/**
 * POST /v1/webhook-secret/rotate: a new secret. Deliveries carry a signature under the old one
 * too for the grace period (`OCRQ_WEBHOOK_SECRET_GRACE_SECONDS`, 24 h by default), so a receiver
 * can switch to the new secret at any moment of it.
 */
export async function rotateWebhookSecret(runtime: Runtime, tenantId: string) {
  const grace = webhookSettings(runtime.config).secretGraceSeconds;
  return present(await runtime.webhookSecrets.rotate(tenantId, grace));
}

export function makeWebhookSecretHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event: ApiEvent, caller) =>
    event.httpMethod === 'POST' && event.resource.endsWith('/rotate')
      ? json(200, await rotateWebhookSecret(runtime, caller.tenantId))
      : json(200, await getWebhookSecret(runtime, caller.tenantId)),
  );
}
