import { lambdaEntry } from '../shared/lambda-entry.ts';
import { makeWebhookDispatcherHandler } from './webhook-dispatcher.ts';

export const handler = lambdaEntry('webhook-dispatcher', (runtime, metrics) =>
  makeWebhookDispatcherHandler(runtime, { metrics }),
);
