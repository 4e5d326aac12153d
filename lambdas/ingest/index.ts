import { lambdaEntry } from '../shared/lambda-entry.ts';
import { makeIngestHandler } from './ingest.ts';

export const handler = lambdaEntry('ingest', makeIngestHandler);
