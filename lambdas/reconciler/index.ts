import { lambdaEntry } from '../shared/lambda-entry.ts';
import { makeReconcilerHandler } from './reconciler.ts';

export const handler = lambdaEntry('reconciler', (runtime) => makeReconcilerHandler(runtime));
