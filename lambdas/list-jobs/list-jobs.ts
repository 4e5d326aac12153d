import { z } from 'zod';
import { summarizeJob } from '../get-job/get-job.ts';
import { ValidationError } from '../shared/errors.ts';
import { type ApiEvent, type ApiHandler, apiHandler, baseUrl, json } from '../shared/http.ts';
import { JOB_STATUSES } from '../shared/job.ts';
import type { Runtime } from '../shared/runtime.ts';

export const ListJobsQuerySchema = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(25),
  cursor: z.string().min(1).max(2048).optional(),
});

/** GET /v1/jobs: the caller's jobs, newest first, a page at a time. */
export async function listJobs(
  runtime: Runtime,
  tenantId: string,
  query: z.infer<typeof ListJobsQuerySchema>,
  base: string,
) {
  const page = await runtime.jobQueries.list(tenantId, query);
  const next = page.cursor
    ? `${base}/v1/jobs?${new URLSearchParams({
        limit: String(query.limit),
        cursor: page.cursor,
        ...(query.status ? { status: query.status } : {}),
      })}`
    : undefined;
  return {
    jobs: page.jobs.map((job) => summarizeJob(job, base)),
    ...(page.cursor ? { nextCursor: page.cursor, links: { next } } : {}),
  };
}

export function parseListQuery(event: ApiEvent) {
  const parsed = ListJobsQuerySchema.safeParse(event.queryStringParameters ?? {});
  if (!parsed.success) {
    throw new ValidationError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

export function makeListJobsHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event, caller) =>
    json(200, await listJobs(runtime, caller.tenantId, parseListQuery(event), baseUrl(event))),
  );
}
