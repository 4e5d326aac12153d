import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeGetJobHandler } from './get-job.ts';

export const handler = makeGetJobHandler(createRuntime(loadConfig(), { serviceName: 'get-job' }));
