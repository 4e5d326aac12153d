import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeDlqHandler } from './dlq.ts';

export const handler = makeDlqHandler(createRuntime(loadConfig(), { serviceName: 'dlq' }));
