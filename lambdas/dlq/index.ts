import { lambdaEntry } from '../shared/lambda-entry.ts';
import { makeDlqHandler } from './dlq.ts';

export const handler = lambdaEntry('dlq', makeDlqHandler);
