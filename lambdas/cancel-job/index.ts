import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeCancelJobHandler } from './cancel-job.ts';

export const handler = makeCancelJobHandler(createRuntime(loadConfig(), { serviceName: 'cancel-job' }));
