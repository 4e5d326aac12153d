import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeReconcilerHandler } from './reconciler.ts';

export const handler = makeReconcilerHandler(createRuntime(loadConfig(), { serviceName: 'reconciler' }));
