import { loadConfig } from '../shared/config.ts';
import { createRuntime } from '../shared/runtime.ts';
import { makeIngestHandler } from './ingest.ts';

export const handler = makeIngestHandler(createRuntime(loadConfig(), { serviceName: 'ingest' }));
