import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeRetryJobHandler } from './retry-job.ts';

export const handler = makeRetryJobHandler(createRuntime(loadConfig(), { serviceName: 'retry-job' }));
