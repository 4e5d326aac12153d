import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeAuthorizerHandler } from './authorizer.ts';

export const handler = makeAuthorizerHandler(createRuntime(loadConfig(), { serviceName: 'authorizer' }));
