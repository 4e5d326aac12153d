import { describe, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import type {
  CreatedJob,
  CreateJobRequest,
  Job,
  JobEvent,
  JobList,
  JobSummary,
  PartUpload,
  QueueStats,
  UploadState,
} from '../../client/index.ts';
import type { CreateJobBodySchema } from '../../lambdas/create-job/create-job.ts';
import type {
  CreatedJobSchema,
  JobEventSchema,
  JobListSchema,
  JobSummarySchema,
  JobViewSchema,
  QueueStatsSchema,
  UploadPartsSchema,
  UploadStateSchema,
} from '../../lambdas/openapi/schemas.ts';
import type { JobEvent as ServerJobEvent } from '../../lambdas/shared/events.ts';

/**
 * The client's types are written out (its package carries no zod and no server code); these
 * checks, run by `tsc --noEmit` over the tests, keep them true to the server's schemas: every
 * answer the schemas allow is a value of the client's type, and every request the client can
 * build is one the server's body schema takes.
 */
describe('client types against the API schemas', () => {
  it('accept every answer the server may give', () => {
    expectTypeOf<z.infer<typeof JobSummarySchema>>().toExtend<JobSummary>();
    expectTypeOf<z.infer<typeof JobViewSchema>>().toExtend<Job>();
    expectTypeOf<z.infer<typeof CreatedJobSchema>>().toExtend<CreatedJob>();
    expectTypeOf<z.infer<typeof JobListSchema>>().toExtend<JobList>();
    expectTypeOf<z.infer<typeof QueueStatsSchema>>().toExtend<QueueStats>();
    expectTypeOf<z.infer<typeof UploadStateSchema>>().toExtend<UploadState>();
    expectTypeOf<z.infer<typeof JobEventSchema>>().toExtend<JobEvent>();
    // What the dispatcher sends is what verifyWebhook types.
    expectTypeOf<ServerJobEvent>().toExtend<JobEvent>();
    expectTypeOf<z.infer<typeof UploadPartsSchema>['parts'][number]>().toExtend<PartUpload>();
  });

  it('build only requests the server takes', () => {
    expectTypeOf<CreateJobRequest>().toExtend<z.input<typeof CreateJobBodySchema>>();
  });
});
