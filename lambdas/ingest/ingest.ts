import type { S3Event } from 'aws-lambda';
import { type Config, type Limits, multipartSettings } from '../shared/config.ts';
import { isMultiPage, SNIFF_BYTES, sniffContentType } from '../shared/documents/file-types.ts';
import {
  IMAGE_HEADER_BYTES,
  imageDimensions,
  pageTooLargeFor,
} from '../shared/documents/image-dimensions.ts';
import { documentTooLargeFor } from '../shared/documents/limits.ts';
import { countPages, countTiffPagesRanged } from '../shared/documents/page-count.ts';
import { isPermanent, jobErrorOf } from '../shared/errors.ts';
import type { Job, JobError, Priority } from '../shared/job.ts';
import { movedOn } from '../shared/lifecycle.ts';
import { objectKeys } from '../shared/resources.ts';
import type { Runtime } from '../shared/runtime.ts';

/**
 * Multi-page documents up to this size are read whole to count their pages; a larger TIFF (a
 * scan uploaded in parts) is walked with ranged reads of its page directories instead.
 */
export const WHOLE_READ_BYTES = 64 * 1024 * 1024;

const TYPE_NAMES: Record<string, string> = {
  'image/png': 'a PNG image',
  'image/jpeg': 'a JPEG image',
  'image/tiff': 'a TIFF image',
  'image/webp': 'a WebP image',
  'application/pdf': 'a PDF document',
};

export type IngestOutcome = 'queued' | 'failed' | 'duplicate' | 'ignored';

/** Why the uploaded object cannot be processed, or undefined when it is what the job declared. */
export function checkUpload(
  job: Job,
  sizeBytes: number,
  head: Uint8Array,
  maxBytes: number,
): JobError | undefined {
  if (sizeBytes === 0) return { code: 'INVALID_INPUT', message: 'the uploaded file is empty' };
  // S3 enforces the signed Content-Length; an emulator or another upload path may not.
  if (sizeBytes !== job.sizeBytes) {
    return {
      code: 'INVALID_INPUT',
      message: `the upload has ${sizeBytes} bytes but the job declared ${job.sizeBytes}; create the job with the file's real size`,
    };
  }
  if (sizeBytes > maxBytes) {
    return {
      code: 'INVALID_INPUT',
      message: `the uploaded file has ${sizeBytes} bytes, more than the maximum of ${maxBytes}`,
    };
  }
  const actual = sniffContentType(head);
  if (actual !== job.contentType) {
    const declared = TYPE_NAMES[job.contentType] ?? job.contentType;
    const found = actual ? `it is ${TYPE_NAMES[actual]}` : 'its first bytes match no supported format';
    return {
      code: 'INVALID_INPUT',
      message: `the upload was declared as ${job.contentType} but is not ${declared}: ${found}`,
    };
  }
  return undefined;
}

/** The queue a job goes to: the client's choice, else express for small documents. */
export function choosePriority(job: Job, pages: number, limits: Limits): Priority {
  if (job.priorityRequested) return job.priority;
  return pages <= limits.expressMaxPages && job.sizeBytes <= limits.expressMaxBytes ? 'express' : 'bulk';
}

/**
 * Takes one uploaded object into the pipeline: checks that its bytes are what the job
 * declared and counts its pages, then QUEUED plus one work message per chunk of pages, or
 * FAILED with a code. Safe to repeat for the same object (S3 delivers events at least once,
 * sometimes two at the same moment): only the delivery whose QUEUED transition wrote sends the
 * messages; any other finds the job past AWAITING_UPLOAD and changes nothing. Should that one
 * die between the transition and the send, the job is QUEUED without `enqueuedAt`, which the
 * reconciler finds and completes.
 */
export async function ingestObject(runtime: Runtime, key: string): Promise<IngestOutcome> {
  const { jobs, blobs, lifecycle, logger, config } = runtime;
  const ids = objectKeys.parseInput(key);
  if (!ids) {
    logger.warn('ignoring object outside the inputs/ layout', { key });
    return 'ignored';
  }
  const job = await jobs.get(ids.tenantId, ids.jobId);
  if (!job) {
    logger.warn('ignoring upload for an unknown job', { key });
    return 'ignored';
  }
  if (job.status !== 'AWAITING_UPLOAD') return 'duplicate';
  const head = await blobs.head(key);
  if (!head) {
    logger.warn('the uploaded object is gone', { key });
    return 'ignored';
  }
  // An image's header (within its first IMAGE_HEADER_BYTES) gives its size: one over the pixel
  // limit fails here, not in a worker after its download and decode.
  const first = await blobs.readHead(key, isMultiPage(job.contentType) ? SNIFF_BYTES : IMAGE_HEADER_BYTES);
  const now = new Date().toISOString();
  // A job that uploaded in parts may be larger than a single PUT.
  const maxBytes = job.upload ? multipartSettings(config).maxUploadBytes : config.maxUploadBytes;
  let problem = checkUpload(job, head.sizeBytes, first, maxBytes);
  // Refused from its size before a byte more is read: a PDF beyond what PDFium can hold.
  const tooLarge = problem ? undefined : documentTooLargeFor(job.contentType, head.sizeBytes);
  if (tooLarge) problem = jobErrorOf(tooLarge);
  let pages = 0;
  if (!problem) {
    try {
      // Only multi-page formats need the whole object to be counted; a large TIFF not even that.
      const ranged = job.contentType === 'image/tiff' && head.sizeBytes > WHOLE_READ_BYTES;
      const bytes = ranged
        ? await blobs.readHead(key, IMAGE_HEADER_BYTES)
        : isMultiPage(job.contentType)
          ? await blobs.get(key)
          : first;
      pages = ranged
        ? await countTiffPagesRanged(head.sizeBytes, (offset, length) => blobs.readRange(key, offset, length))
        : await countPages(bytes, job.contentType);
      const size = imageDimensions(bytes, job.contentType);
      const tooLarge = size && pageTooLargeFor(size);
      if (tooLarge) problem = jobErrorOf(tooLarge);
      else if (pages > config.limits.maxPages) {
        problem = {
          code: 'TOO_MANY_PAGES',
          message: `the document has ${pages} pages, more than the maximum of ${config.limits.maxPages}`,
        };
      }
    } catch (error) {
      if (!isPermanent(error)) throw error;
      problem = jobErrorOf(error);
    }
  }
  if (problem) {
    try {
      const { changed } = await lifecycle.fail(job.tenantId, job.jobId, problem, { uploadedAt: now });
      logger.info('upload refused', { jobId: job.jobId, ...problem });
      return changed ? 'failed' : 'duplicate';
    } catch (error) {
      if (movedOn(error)) return 'duplicate';
      throw error;
    }
  }
  let moved: Awaited<ReturnType<typeof jobs.transition>>;
  try {
    moved = await jobs.transition(
      job.tenantId,
      job.jobId,
      'QUEUED',
      {
        uploadedAt: now,
        queuedAt: now,
        sizeBytes: head.sizeBytes,
        priority: choosePriority(job, pages, config.limits),
        pages: { done: 0, total: pages },
        chunks: chunking(job, pages, config),
      },
      ['expiresAt'],
    );
  } catch (error) {
    // Cancelled (or failed by a twin delivery) while this one counted pages.
    if (movedOn(error)) return 'duplicate';
    throw error;
  }
  if (!moved.changed) return 'duplicate';
  await lifecycle.enqueue(moved.job);
  return 'queued';
}

/**
 * How a document is split into work messages: chunks of `chunkPages`, except that a `textract`
 * job Textract reads as a whole (multi-page, with a completion channel) is one chunk: its one
 * asynchronous detection covers every page, and several chunks would each pay for all of them.
 */
export function chunking(job: Job, pages: number, config: Config): { total: number; pages: number } {
  const whole = job.engine === 'textract' && config.textract?.completion !== undefined && pages > 1;
  const size = whole ? pages : config.limits.chunkPages;
  return { total: Math.ceil(pages / size), pages: size };
}

/** S3 URL-encodes keys in event records, with '+' for spaces. */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

export function makeIngestHandler(runtime: Runtime) {
  return async (s3Event: S3Event): Promise<{ outcomes: IngestOutcome[] }> => {
    const outcomes: IngestOutcome[] = [];
    for (const record of s3Event.Records) {
      if (record.s3.bucket.name !== runtime.config.bucketName) {
        runtime.logger.warn('ignoring event for another bucket', { bucket: record.s3.bucket.name });
        outcomes.push('ignored');
        continue;
      }
      outcomes.push(await ingestObject(runtime, decodeS3Key(record.s3.object.key)));
    }
    return { outcomes };
  };
}
