import { z } from 'zod';
import { type CompletedPart, type UploadedPart, UploadNotFoundError } from '../shared/adapters/blob-store.ts';
import { ApiError, ConflictError, NotFoundError, ValidationError } from '../shared/errors.ts';
import {
  type ApiEvent,
  type ApiHandler,
  apiHandler,
  json,
  parseJsonBody,
  pathParameter,
} from '../shared/http.ts';
import type { Job, MultipartUpload } from '../shared/job.ts';
import { partLength } from '../shared/multipart.ts';
import { UPLOAD_URL_TTL_SECONDS } from '../shared/resources.ts';
import type { Runtime } from '../shared/runtime.ts';

/** Part URLs one request may ask for: enough to keep a client busy, small enough to answer at once. */
export const MAX_PARTS_PER_REQUEST = 100;

const PartNumber = z.number().int().positive();

export const UploadPartsBodySchema = z.object({
  partNumbers: z
    .array(PartNumber)
    .min(1)
    .max(MAX_PARTS_PER_REQUEST)
    .refine((numbers) => new Set(numbers).size === numbers.length, 'part numbers must be distinct'),
});

export const CompleteUploadBodySchema = z.object({
  /** The parts and the ETags their PUTs answered; without them the server lists what S3 holds. */
  parts: z
    .array(z.object({ partNumber: PartNumber, etag: z.string().min(1) }))
    .min(1)
    .optional(),
});

type MultipartJob = Job & { upload: MultipartUpload };

/** A 400 that names what is missing before a multipart upload can be completed. */
export class UploadIncompleteError extends ApiError {
  constructor(message: string) {
    super(400, 'UPLOAD_INCOMPLETE', message);
  }
}

/**
 * The tenant's multipart job, or the reason its upload cannot be worked on: 404 for a job it
 * does not have, 409 `UPLOAD_NOT_MULTIPART` for a single-PUT job.
 */
async function multipartJob(runtime: Runtime, tenantId: string, jobId: string): Promise<MultipartJob> {
  const job = await runtime.jobs.get(tenantId, jobId);
  if (!job) throw new NotFoundError(`job ${jobId} not found`);
  if (!job.upload) {
    throw new ConflictError(
      'UPLOAD_NOT_MULTIPART',
      `job ${jobId} uploads with one PUT to the URL its create answered, not in parts`,
    );
  }
  return job as MultipartJob;
}

function uploadCompleted(job: Job): ConflictError {
  return new ConflictError(
    'UPLOAD_COMPLETED',
    `job ${job.jobId} is ${job.status}: its upload is over and no part can be added`,
  );
}

/** The upload of a job still AWAITING_UPLOAD, else 409 `UPLOAD_COMPLETED`. */
async function openUpload(runtime: Runtime, tenantId: string, jobId: string): Promise<MultipartJob> {
  const job = await multipartJob(runtime, tenantId, jobId);
  if (job.status !== 'AWAITING_UPLOAD') throw uploadCompleted(job);
  return job;
}

/**
 * What to say when S3 no longer knows the upload of a job still AWAITING_UPLOAD: it was
 * completed (the object is there, ingest has not moved the job yet), or the bucket's lifecycle
 * rule aborted it.
 */
async function uploadGone(runtime: Runtime, job: MultipartJob): Promise<ApiError> {
  if (await runtime.blobs.head(job.inputKey)) return uploadCompleted(job);
  return new ConflictError(
    'UPLOAD_EXPIRED',
    `the multipart upload of job ${job.jobId} no longer exists (aborted or expired); create a new job`,
  );
}

/**
 * GET /v1/jobs/{jobId}/upload: the part plan and the parts S3 already holds, so a client
 * that stopped half way uploads only the rest.
 */
export async function getUpload(runtime: Runtime, tenantId: string, jobId: string) {
  const job = await openUpload(runtime, tenantId, jobId);
  let parts: UploadedPart[];
  try {
    parts = await runtime.blobs.listParts(job.inputKey, job.upload.uploadId);
  } catch (error) {
    if (error instanceof UploadNotFoundError) throw await uploadGone(runtime, job);
    throw error;
  }
  return {
    uploadId: job.upload.uploadId,
    partSizeBytes: job.upload.partSizeBytes,
    partCount: job.upload.partCount,
    sizeBytes: job.sizeBytes,
    parts,
  };
}

/**
 * POST /v1/jobs/{jobId}/upload/parts: presigned UploadPart URLs (15 min), each signed with its
 * part's exact length, so S3 refuses a part cut at another place than the plan.
 */
export async function presignParts(runtime: Runtime, tenantId: string, jobId: string, partNumbers: number[]) {
  const job = await openUpload(runtime, tenantId, jobId);
  const outside = partNumbers.filter((n) => n > job.upload.partCount);
  if (outside.length > 0) {
    throw new ValidationError(
      `part numbers ${outside.join(', ')} are outside 1..${job.upload.partCount}, the parts of this upload`,
    );
  }
  const parts = await Promise.all(
    partNumbers.map((partNumber) =>
      runtime.blobs.presignUploadPart(
        job.inputKey,
        job.upload.uploadId,
        partNumber,
        partLength(job.upload, job.sizeBytes, partNumber),
        UPLOAD_URL_TTL_SECONDS,
      ),
    ),
  );
  return { parts };
}

const unquote = (etag: string) => etag.replace(/"/g, '');

/** "3" or "3-7": part numbers in runs, so a message about a thousand missing parts stays short. */
export function describeParts(numbers: readonly number[]): string {
  const runs: string[] = [];
  const sorted = [...numbers].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    runs.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return runs.join(', ');
}

/**
 * The parts to complete with, checked against what S3 holds: every part 1..partCount uploaded
 * with its planned length, and the client's ETags (when it gives them) those of the parts S3 has.
 */
export function partsToComplete(
  job: MultipartJob,
  uploaded: readonly UploadedPart[],
  given?: readonly CompletedPart[],
): CompletedPart[] {
  const { partCount } = job.upload;
  const held = new Map(uploaded.map((part) => [part.partNumber, part]));
  const missing: number[] = [];
  const wrongSize: string[] = [];
  for (let n = 1; n <= partCount; n++) {
    const part = held.get(n);
    const expected = partLength(job.upload, job.sizeBytes, n);
    if (!part) missing.push(n);
    else if (part.sizeBytes !== expected) {
      wrongSize.push(`part ${n} has ${part.sizeBytes} bytes, not ${expected}`);
    }
  }
  const problems: string[] = [];
  if (missing.length > 0) {
    problems.push(
      `part${missing.length > 1 ? 's' : ''} ${describeParts(missing)} of ${partCount} not uploaded`,
    );
  }
  problems.push(...wrongSize);
  if (given) {
    const outside = given.filter((part) => part.partNumber > partCount).map((part) => part.partNumber);
    if (outside.length > 0)
      problems.push(`part numbers ${describeParts(outside)} are outside 1..${partCount}`);
    const named = new Map(given.map((part) => [part.partNumber, part.etag]));
    const unnamed = Array.from({ length: partCount }, (_, i) => i + 1).filter((n) => !named.has(n));
    if (unnamed.length > 0)
      problems.push(
        `the request does not name part${unnamed.length > 1 ? 's' : ''} ${describeParts(unnamed)}`,
      );
    const stale = [...named]
      .filter(([n, etag]) => held.has(n) && unquote(held.get(n)!.etag) !== unquote(etag))
      .map(([n]) => n);
    if (stale.length > 0) {
      problems.push(
        `the ETags of parts ${describeParts(stale)} are not those of the parts S3 holds (uploaded again?)`,
      );
    }
  }
  if (problems.length > 0) {
    throw new UploadIncompleteError(`the upload cannot be completed: ${problems.join('; ')}`);
  }
  return Array.from({ length: partCount }, (_, i) => ({ partNumber: i + 1, etag: held.get(i + 1)!.etag }));
}

/**
 * POST /v1/jobs/{jobId}/upload/complete: joins the parts into the document once every part
 * is there with its planned length (400 `UPLOAD_INCOMPLETE` names what is missing). The object
 * then reaches ingest like a single PUT (S3's ObjectCreated:CompleteMultipartUpload). Completing
 * again answers the job's current status.
 */
export async function completeUpload(
  runtime: Runtime,
  tenantId: string,
  jobId: string,
  given?: readonly CompletedPart[],
) {
  const job = await multipartJob(runtime, tenantId, jobId);
  if (job.status !== 'AWAITING_UPLOAD') return { jobId, status: job.status };
  try {
    const uploaded = await runtime.blobs.listParts(job.inputKey, job.upload.uploadId);
    await runtime.blobs.completeMultipart(
      job.inputKey,
      job.upload.uploadId,
      partsToComplete(job, uploaded, given),
    );
  } catch (error) {
    if (!(error instanceof UploadNotFoundError)) throw error;
    // Completed by an earlier call (or aborted): the object says which.
    const gone = await uploadGone(runtime, job);
    if (gone.code !== 'UPLOAD_COMPLETED') throw gone;
  }
  const now = await runtime.jobs.get(tenantId, jobId);
  return { jobId, status: now?.status ?? job.status };
}

/** The three upload routes, told apart by API Gateway's resource path. */
export function makeUploadHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async (event: ApiEvent, caller) => {
    const jobId = pathParameter(event, 'jobId');
    const route = `${event.httpMethod} ${event.resource}`;
    switch (route) {
      case 'GET /v1/jobs/{jobId}/upload':
        return json(200, await getUpload(runtime, caller.tenantId, jobId));
      case 'POST /v1/jobs/{jobId}/upload/parts': {
        const { partNumbers } = parseJsonBody(event, UploadPartsBodySchema);
        return json(200, await presignParts(runtime, caller.tenantId, jobId, partNumbers));
      }
      case 'POST /v1/jobs/{jobId}/upload/complete': {
        const body = event.body ? parseJsonBody(event, CompleteUploadBodySchema) : {};
        return json(202, await completeUpload(runtime, caller.tenantId, jobId, body.parts));
      }
      default:
        throw new NotFoundError(`no upload route ${route}`);
    }
  });
}
