import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeUploadHandler } from './upload.ts';

export const handler = makeUploadHandler(createRuntime(loadConfig(), { serviceName: 'upload' }));
