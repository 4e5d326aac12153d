import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeRedriveHandler } from './redrive.ts';

export const handler = makeRedriveHandler(createRuntime(loadConfig(), { serviceName: 'redrive' }));
