import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';
import { contentTypeOf } from './content-types.ts';
import { OcrApiError, OcrTimeoutError } from './errors.ts';
import { type MultipartOptions, uploadMultipart } from './multipart.ts';
import {
  DEFAULT_RETRY_POLICY,
  errorOf,
  fetchOrThrow,
  pause,
  type RetryPolicy,
  sendWithRetries,
} from './transport.ts';
import {
  type CreatedJob,
  type CreateJobRequest,
  FINISHED_STATUSES,
  type Job,
  type JobList,
  type JobStatus,
  type JobSummary,
  type OcrResult,
  type PartUpload,
  type Priority,
  type QueueStats,
  type ResultFormat,
  type UploadState,
} from './types.ts';

export interface OcrClientOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:8080` or `https://…/prod`. */
  endpoint: string;
  /** Sent as `x-api-key`. */
  apiKey: string;
  /** Retries of 429/502/503/504 and broken connections, for calls that are safe to repeat. */
  retry?: Partial<RetryPolicy>;
  /** A fetch to use instead of the global one (a proxy, a test double). */
  fetch?: typeof fetch;
}

/** A document to send: a file path, a Blob, or bytes with the name the job should carry. */
export type DocumentSource = string | { fileName: string; bytes: Uint8Array | Blob };

/** What `upload` sends: a file path (read part by part, never whole), a Blob or bytes. */
export type UploadBody = string | Blob | Uint8Array;

export interface SubmitOptions extends MultipartOptions {
  /** Default: from the file name's extension. */
  contentType?: string;
  priority?: Priority;
  engine?: CreateJobRequest['engine'];
  webhook?: CreateJobRequest['webhook'];
  progressEvents?: boolean;
  /** The same key and request give back the same job: a create repeated after a crash is harmless. */
  idempotencyKey?: string;
  /** Ask for a multipart upload whatever the size. */
  multipart?: boolean;
}

export interface WaitOptions {
  /** Stop waiting (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Reject with {@link OcrTimeoutError} if the job has not finished by then. Default: no limit. */
  timeoutMs?: number;
  /** First pause between polls (default 250 ms); it grows by half while nothing changes. */
  intervalMs?: number;
  /** Longest pause between polls (default 5000 ms). */
  maxIntervalMs?: number;
  /** Every view of the job the client fetched, the last one included. */
  onProgress?: (job: Job) => void;
}

export interface ListJobsOptions {
  status?: JobStatus;
  /** Jobs per request (1–100, default 25); the iterator fetches pages as it goes. */
  pageSize?: number;
  signal?: AbortSignal;
}

/** What `getResult` gives for each format. */
export interface ResultOf {
  json: OcrResult;
  text: string;
  hocr: string;
  pdf: Uint8Array;
}

/**
 * The pipeline's public API for programs: create a job, upload its document (one PUT, or parts
 * for large files), wait for it and read its result; list, cancel and retry jobs; read the
 * queue figures. It needs nothing but Node's own modules and `fetch`.
 *
 * @example
 * import { OcrClient } from 'ocr-pipeline/client';
 * const client = new OcrClient({ endpoint: 'http://127.0.0.1:8080', apiKey: process.env.OCRQ_API_KEY! });
 * const { jobId } = await client.submit('scans/invoice.pdf');
 * const job = await client.waitForJob(jobId, { timeoutMs: 600_000 });
 * if (job.status === 'SUCCEEDED') console.log(await client.getResult(jobId, 'text'));
 */
export class OcrClient {
  private readonly endpoint: string;
  private readonly fetchImpl: typeof fetch;
  private readonly retryPolicy: RetryPolicy;

  constructor(private readonly options: OcrClientOptions) {
    if (!options.endpoint) throw new TypeError('OcrClient needs an endpoint');
    if (!options.apiKey) throw new TypeError('OcrClient needs an apiKey');
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? fetch;
    this.retryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  }

  /** `POST /v1/jobs`: records the job and returns how to upload its document. */
  async createJob(
    request: CreateJobRequest,
    options: { idempotencyKey?: string; signal?: AbortSignal } = {},
  ): Promise<CreatedJob> {
    return this.call<CreatedJob>('POST', '/v1/jobs', {
      body: request,
      headers: options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {},
      // Without a key a repeated create could make a second job; with one it finds the first.
      retry: options.idempotencyKey !== undefined,
      signal: options.signal,
    });
  }

  /**
   * Uploads a created job's document: one PUT with exactly the returned headers, or, for a
   * multipart upload, the parts not yet stored (so calling it again after an interruption
   * resumes). Given a job id instead of the created job, it resumes that job's multipart upload.
   */
  async upload(job: CreatedJob | string, body: UploadBody, options: MultipartOptions = {}): Promise<void> {
    const file = await asBlob(body);
    const jobId = typeof job === 'string' ? job : job.jobId;
    const upload = typeof job === 'string' ? undefined : job.upload;
    if (upload?.method === 'PUT') {
      options.onProgress?.(0, file.size);
      const response = await sendWithRetries(
        this.fetchImpl,
        upload.url,
        { method: 'PUT', headers: upload.headers, body: file },
        this.retryPolicy,
        // The same bytes to the same key: repeating the PUT is harmless.
        { retry: true, signal: options.signal },
      );
      if (!response.ok) throw await errorOf(response, 'UPLOAD_FAILED');
      await response.body?.cancel().catch(() => undefined);
      options.onProgress?.(file.size, file.size);
      return;
    }
    if (typeof job !== 'string' && !upload) {
      throw new OcrApiError(409, 'ALREADY_UPLOADED', `job ${jobId} is ${job.status}: its upload is done`);
    }
    await uploadMultipart(
      {
        state: () => this.getUploadState(jobId, options.signal),
        presign: (partNumbers) => this.presignParts(jobId, partNumbers, options.signal),
        put: (part, bytes) => this.putPart(part, bytes, options.signal),
        complete: (parts) => this.completeUpload(jobId, parts, options.signal),
      },
      file,
      options,
    );
  }

  /**
   * Creates a job for a document and uploads it; the pipeline takes it from there. A file path
   * gives the job its base name; the content type comes from the extension unless given.
   */
  async submit(source: DocumentSource, options: SubmitOptions = {}): Promise<CreatedJob> {
    const fileName = typeof source === 'string' ? basename(source) : source.fileName;
    const file = await asBlob(typeof source === 'string' ? source : source.bytes);
    const contentType = options.contentType ?? contentTypeOf(fileName);
    if (!contentType) {
      throw new OcrApiError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `cannot tell the content type of ${fileName} from its extension; pass contentType`,
      );
    }
    const created = await this.createJob(
      {
        fileName,
        contentType,
        sizeBytes: file.size,
        ...(options.priority ? { priority: options.priority } : {}),
        ...(options.engine ? { engine: options.engine } : {}),
        ...(options.webhook ? { webhook: options.webhook } : {}),
        ...(options.progressEvents ? { progressEvents: true } : {}),
        ...(options.multipart ? { multipart: true } : {}),
      },
      { idempotencyKey: options.idempotencyKey, signal: options.signal },
    );
    // A replayed create of a job whose upload finished has nothing left to send.
    if (created.status === 'AWAITING_UPLOAD') await this.upload(created, file, options);
    return created;
  }

  /** `GET /v1/jobs/{id}`: status, pages done, timings, queue estimate, result links once done. */
  getJob(jobId: string, options: { signal?: AbortSignal } = {}): Promise<Job> {
    return this.call('GET', jobPath(jobId), { retry: true, signal: options.signal });
  }

  /**
   * Polls the job until it finishes (SUCCEEDED, FAILED, CANCELLED or EXPIRED) and returns its
   * last view. The pause between polls starts at `intervalMs` and grows while nothing changes,
   * back to the start when the job moves. Rejects on `signal` or after `timeoutMs`.
   */
  async waitForJob(jobId: string, options: WaitOptions = {}): Promise<Job> {
    const first = options.intervalMs ?? 250;
    const longest = Math.max(first, options.maxIntervalMs ?? 5000);
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    const timeout = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
    const timer = Number.isFinite(deadline)
      ? setTimeout(() => timeout.abort(), options.timeoutMs)
      : undefined;
    let wait = first;
    let seen = '';
    let status = 'UNKNOWN';
    try {
      for (;;) {
        const job = await this.getJob(jobId, { signal });
        status = job.status;
        options.onProgress?.(job);
        if (FINISHED_STATUSES.has(job.status)) return job;
        const now = `${job.status}/${job.pages.done}/${job.pages.total}`;
        wait = now === seen ? Math.min(longest, wait * 1.5) : first;
        seen = now;
        await pause(Math.min(wait, Math.max(0, deadline - Date.now())), signal);
      }
    } catch (error) {
      if (timeout.signal.aborted && !options.signal?.aborted) {
        throw new OcrTimeoutError(jobId, status, options.timeoutMs ?? 0);
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A finished job's result, through the API's redirect to its presigned download: `json`
   * parsed, `text` and `hocr` as strings, `pdf` as bytes. The API key is not sent to storage.
   */
  async getResult<F extends ResultFormat = 'json'>(
    jobId: string,
    format?: F,
    options: { signal?: AbortSignal } = {},
  ): Promise<ResultOf[F]> {
    const wanted = format ?? 'json';
    const response = await sendWithRetries(
      this.fetchImpl,
      `${this.endpoint}${jobPath(jobId)}/result?format=${wanted}`,
      { headers: this.headers(), redirect: 'manual' },
      this.retryPolicy,
      { retry: true, signal: options.signal },
    );
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) {
      throw await errorOf(response, 'RESULT_NOT_AVAILABLE');
    }
    await response.body?.cancel().catch(() => undefined);
    const download = await sendWithRetries(this.fetchImpl, location, {}, this.retryPolicy, {
      retry: true,
      signal: options.signal,
    });
    if (!download.ok) throw await errorOf(download, 'RESULT_DOWNLOAD_FAILED');
    if (wanted === 'json') return (await download.json()) as ResultOf[F];
    if (wanted === 'pdf') return new Uint8Array(await download.arrayBuffer()) as ResultOf[F];
    return (await download.text()) as ResultOf[F];
  }

  /** `DELETE /v1/jobs/{id}`: cancels an unfinished job (cancelling it again answers the same). */
  cancel(jobId: string, options: { signal?: AbortSignal } = {}): Promise<Job> {
    return this.call('DELETE', jobPath(jobId), { retry: true, signal: options.signal });
  }

  /** `POST /v1/jobs/{id}/retry`: requeues a FAILED job's unfinished pages. */
  retry(jobId: string, options: { signal?: AbortSignal } = {}): Promise<Job> {
    return this.call('POST', `${jobPath(jobId)}/retry`, { retry: false, signal: options.signal });
  }

  /**
   * The tenant's jobs, newest first, fetched a page at a time as the loop goes.
   *
   * @example
   * for await (const job of client.listJobs({ status: 'FAILED' })) console.log(job.jobId);
   */
  async *listJobs(options: ListJobsOptions = {}): AsyncGenerator<JobSummary, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.listJobsPage({ ...options, cursor });
      yield* page.jobs;
      cursor = page.nextCursor;
    } while (cursor);
  }

  /** One page of `GET /v1/jobs` (what `listJobs` iterates over). */
  listJobsPage(options: ListJobsOptions & { cursor?: string } = {}): Promise<JobList> {
    const query = new URLSearchParams();
    if (options.status) query.set('status', options.status);
    if (options.pageSize) query.set('limit', String(options.pageSize));
    if (options.cursor) query.set('cursor', options.cursor);
    const search = query.toString() ? `?${query}` : '';
    return this.call('GET', `/v1/jobs${search}`, { retry: true, signal: options.signal });
  }

  /** `GET /v1/queues/stats`: waiting, in flight, dead letters, oldest age, workers, pages/min. */
  queueStats(options: { signal?: AbortSignal } = {}): Promise<QueueStats> {
    return this.call('GET', '/v1/queues/stats', { retry: true, signal: options.signal });
  }

  /** `GET /v1/jobs/{id}/upload`: a multipart upload's parts already stored. */
  getUploadState(jobId: string, signal?: AbortSignal): Promise<UploadState> {
    return this.call('GET', `${jobPath(jobId)}/upload`, { retry: true, signal });
  }

  /** `POST /v1/jobs/{id}/upload/parts`: presigned PUTs for up to 100 parts. */
  async presignParts(jobId: string, partNumbers: number[], signal?: AbortSignal): Promise<PartUpload[]> {
    const { parts } = await this.call<{ parts: PartUpload[] }>('POST', `${jobPath(jobId)}/upload/parts`, {
      body: { partNumbers },
      // Presigning stores nothing: asking again is harmless.
      retry: true,
      signal,
    });
    return parts;
  }

  /** `POST /v1/jobs/{id}/upload/complete`: joins the parts; the job is queued from there. */
  async completeUpload(
    jobId: string,
    parts: Array<{ partNumber: number; etag: string }>,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.call('POST', `${jobPath(jobId)}/upload/complete`, { body: { parts }, retry: false, signal });
  }

  private async putPart(part: PartUpload, body: Blob, signal?: AbortSignal): Promise<string> {
    const response = await fetchOrThrow(this.fetchImpl, part.url, {
      method: part.method,
      headers: part.headers,
      body,
      signal,
    });
    if (!response.ok) throw await errorOf(response, 'UPLOAD_FAILED');
    await response.body?.cancel().catch(() => undefined);
    const etag = response.headers.get('etag');
    if (!etag)
      throw new OcrApiError(502, 'UPLOAD_FAILED', `storage gave no ETag for part ${part.partNumber}`);
    return etag;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { 'x-api-key': this.options.apiKey, accept: 'application/json', ...extra };
  }

  private async call<T>(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; retry: boolean; signal?: AbortSignal },
  ): Promise<T> {
    const hasBody = options.body !== undefined;
    const response = await sendWithRetries(
      this.fetchImpl,
      `${this.endpoint}${path}`,
      {
        method,
        headers: this.headers({
          ...(hasBody ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        }),
        body: hasBody ? JSON.stringify(options.body) : undefined,
      },
      this.retryPolicy,
      { retry: options.retry, signal: options.signal },
    );
    if (!response.ok) throw await errorOf(response, `HTTP_${response.status}`);
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

function jobPath(jobId: string): string {
  return `/v1/jobs/${encodeURIComponent(jobId)}`;
}

async function asBlob(body: UploadBody | Blob): Promise<Blob> {
  if (typeof body === 'string') return openAsBlob(body);
  if (body instanceof Blob) return body;
  return new Blob([body]);
}
