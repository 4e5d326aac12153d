import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeQueueStatsHandler } from './queue-stats.ts';

export const handler = makeQueueStatsHandler(createRuntime(loadConfig(), { serviceName: 'queue-stats' }));
