import { lambdaEntry } from '../shared/lambda-entry.ts';
import { makeCancelJobHandler } from './cancel-job.ts';

export const handler = lambdaEntry('cancel-job', makeCancelJobHandler);
