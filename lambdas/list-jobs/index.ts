import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeListJobsHandler } from './list-jobs.ts';

export const handler = makeListJobsHandler(createRuntime(loadConfig(), { serviceName: 'list-jobs' }));
