import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeCreateJobHandler } from './create-job.ts';

export const handler = makeCreateJobHandler(createRuntime(loadConfig(), { serviceName: 'create-job' }));
