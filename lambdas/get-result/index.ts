import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeGetResultHandler } from './get-result.ts';

export const handler = makeGetResultHandler(createRuntime(loadConfig(), { serviceName: 'get-result' }));
