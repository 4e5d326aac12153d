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
    engine: job.engine ?? 'paddle',
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

/** The result formats, as `GET /v1/jobs/{id}/result?format=` names them. */
export const RESULT_FORMATS = ['json', 'text', 'hocr', 'pdf'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

/** Where each format lives on the job, and how it downloads. */
const FORMAT_FILES: Record<
  ResultFormat,
  { key: keyof NonNullable<Job['result']>; contentType: string; extension: string }
> = {
  json: { key: 'jsonKey', contentType: 'application/json', extension: 'json' },
  text: { key: 'textKey', contentType: 'text/plain; charset=utf-8', extension: 'txt' },
  hocr: { key: 'hocrKey', contentType: 'application/xhtml+xml; charset=utf-8', extension: 'hocr' },
  pdf: { key: 'pdfKey', contentType: 'application/pdf', extension: 'pdf' },
};

/** The formats a finished job has (hOCR and PDF are absent on jobs finished before they existed). */
export function resultFormats(job: Job & { result: NonNullable<Job['result']> }): ResultFormat[] {
  return RESULT_FORMATS.filter((format) => job.result[FORMAT_FILES[format].key] !== undefined);
}

/**
 * A presigned download of a finished job's result, named after the uploaded file; undefined for
 * a format the job does not have.
 */
export function resultDownloadUrl(
  runtime: Runtime,
  job: Job & { result: NonNullable<Job['result']> },
  format: 'json' | 'text',
): Promise<string>;
export function resultDownloadUrl(
  runtime: Runtime,
  job: Job & { result: NonNullable<Job['result']> },
  format: ResultFormat,
): Promise<string> | undefined;
export function resultDownloadUrl(
  runtime: Runtime,
  job: Job & { result: NonNullable<Job['result']> },
  format: ResultFormat,
): Promise<string> | undefined {
  const stem = job.fileName.replace(/\.[^.]*$/, '') || 'result';
  const file = FORMAT_FILES[format];
  const key = job.result[file.key];
  if (key === undefined) return undefined;
  return runtime.blobs.presignDownload(key, runtime.config.resultUrlTtlSeconds, {
    contentType: file.contentType,
    fileName: `${stem}.${file.extension}`,
  });
}

/**
 * The job as the API shows it: the summary, its webhook with the latest delivery attempts, and
 * presigned result links once it succeeded.
 */
export async function presentJob(runtime: Runtime, job: Job, base: string) {
  const view = summarizeJob(job, base);
  if (job.webhook) {
    view.webhook = { url: job.webhook.url, events: job.webhook.events, attempts: job.webhookAttempts ?? [] };
  }
  if (job.progressEvents) view.progressEvents = true;
  const { result } = job;
  if (job.status === 'SUCCEEDED' && result) {
    view.result = {
      json: await resultDownloadUrl(runtime, { ...job, result }, 'json'),
      text: await resultDownloadUrl(runtime, { ...job, result }, 'text'),
      ...(result.hocrKey ? { hocr: await resultDownloadUrl(runtime, { ...job, result }, 'hocr') } : {}),
      ...(result.pdfKey ? { pdf: await resultDownloadUrl(runtime, { ...job, result }, 'pdf') } : {}),
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
