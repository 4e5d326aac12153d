import { NotFoundError } from '../shared/errors.ts';
import { type ApiHandler, apiHandler, baseUrl, json, pathParameter } from '../shared/http.ts';
import type { Job } from '../shared/job.ts';
import type { Runtime } from '../shared/runtime.ts';

function msBetween(from?: string, to?: string): number | undefined {
  if (!from || !to) return undefined;
  return Math.max(0, Date.parse(to) - Date.parse(from));
}

/** How long the job waited in the queue, ran, and took in all (ms); absent parts are omitted. */
export function jobTimings(job: Job, now = new Date().toISOString()) {
  const end = job.finishedAt ?? now;
  return {
    queueWaitMs: msBetween(job.queuedAt, job.startedAt ?? (job.status === 'QUEUED' ? now : undefined)),
    processingMs: msBetween(job.startedAt, job.startedAt ? end : undefined),
    totalMs: msBetween(job.uploadedAt ?? job.createdAt, job.uploadedAt ? end : undefined),
  };
}

/** The job as listings show it: status, pages, timings, no storage keys and no result links. */
export function summarizeJob(job: Job, base: string): Record<string, unknown> {
  return {
    jobId: job.jobId,
    status: job.status,
    fileName: job.fileName,
    contentType: job.contentType,
    sizeBytes: job.sizeBytes,
    priority: job.priority,
    pages: job.pages,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    ...(job.queuedAt ? { queuedAt: job.queuedAt } : {}),
    ...(job.startedAt ? { startedAt: job.startedAt } : {}),
    ...(job.finishedAt ? { finishedAt: job.finishedAt } : {}),
    timings: jobTimings(job),
    ...(job.error ? { error: job.error } : {}),
    links: { self: `${base}/v1/jobs/${job.jobId}` },
  };
}

/** A presigned download of a finished job's result, named after the uploaded file. */
export function resultDownloadUrl(
  runtime: Runtime,
  job: Job & { result: NonNullable<Job['result']> },
  format: 'json' | 'text',
): Promise<string> {
  const stem = job.fileName.replace(/\.[^.]*$/, '') || 'result';
  const ttl = runtime.config.resultUrlTtlSeconds;
  return format === 'json'
    ? runtime.blobs.presignDownload(job.result.jsonKey, ttl, {
        contentType: 'application/json',
        fileName: `${stem}.json`,
      })
    : runtime.blobs.presignDownload(job.result.textKey, ttl, {
        contentType: 'text/plain; charset=utf-8',
        fileName: `${stem}.txt`,
      });
}

/** The job as the API shows it: the summary plus presigned result links once it succeeded. */
export async function presentJob(runtime: Runtime, job: Job, base: string) {
  const view = summarizeJob(job, base);
  const { result } = job;
  if (job.status === 'SUCCEEDED' && result) {
    view.result = {
      json: await resultDownloadUrl(runtime, { ...job, result }, 'json'),
      text: await resultDownloadUrl(runtime, { ...job, result }, 'text'),
      expiresAt: new Date(Date.now() + runtime.config.resultUrlTtlSeconds * 1000).toISOString(),
    };
  }
  return view;
}

/** Jobs counted ahead of a queued one, at most: beyond this the position reads "over". */
const POSITION_CAP = 10_000;

/**
 * Where a waiting job stands: its place in its queue, the pages before it, and an ETA from
 * the pages per minute the workers finished recently (null while there is no throughput yet).
 */
export async function queueEstimate(runtime: Runtime, job: Job) {
  const remaining = Math.max(1, job.pages.total - job.pages.done);
  const [ahead, pagesPerMinute] = await Promise.all([
    job.status === 'QUEUED' ? runtime.jobQueries.waitingAhead(job, POSITION_CAP) : { jobs: 0, pages: 0 },
    runtime.stats.pagesPerMinute(),
  ]);
  return {
    queue: job.priority,
    ...(job.status === 'QUEUED' ? { position: ahead.jobs + 1, pagesAhead: ahead.pages } : {}),
    etaSeconds: pagesPerMinute > 0 ? Math.round(((ahead.pages + remaining) / pagesPerMinute) * 60) : null,
  };
}

/** GET /v1/jobs/{id}: another tenant's job is indistinguishable from a missing one (404). */
export async function getJob(runtime: Runtime, tenantId: string, jobId: string, base: string) {
  const job = await runtime.jobs.get(tenantId, jobId);
  if (!job) throw new NotFoundError(`job ${jobId} not found`);
  const view = await presentJob(runtime, job, base);
  if (job.status === 'QUEUED' || job.status === 'PROCESSING')
    view.estimate = await queueEstimate(runtime, job);
  return view;
}

export function makeGetJobHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event, caller) =>
    json(200, await getJob(runtime, caller.tenantId, pathParameter(event, 'jobId'), baseUrl(event))),
  );
}
