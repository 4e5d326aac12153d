import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeWebhookSecretHandler } from './webhook-secret.ts';

export const handler = makeWebhookSecretHandler(
  createRuntime(loadConfig(), { serviceName: 'webhook-secret' }),
);
